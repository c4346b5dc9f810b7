//! Validates `[hooks]`, `[webhook]` and `[digest]`: the commands run per event (argv arrays,
//! never a shell), the webhook's URL, secret and events, and the digest's hour.

use std::collections::BTreeMap;
use std::time::Duration;

use super::delivery::program_argv;
use super::secret::SecretKeys;
use super::{is_loopback_host, Checker};
use crate::config::raw::{RawConfig, RawHooks, RawWebhook};
use crate::config::types::{DigestConfig, NotifyConfig, WebhookConfig};
use crate::lifecycle::HookEvent;

/// The notification settings; `admin` says whether `delivery.admin_address` is set (the digest
/// needs it).
pub(super) fn notify(c: &mut Checker<'_>, raw: &RawConfig, admin: bool) -> NotifyConfig {
    let hook_timeout = c.secs("hooks.timeout_secs", raw.hooks.timeout_secs, 60, 1, 3600);
    let digest = if raw.digest.enabled.unwrap_or(false) {
        if !admin {
            c.problem(
                "digest.enabled",
                "the digest goes to delivery.admin_address, which is not set",
            );
        }
        let hour = c.range_i64("digest.hour_utc", raw.digest.hour_utc, 6, 0, 23);
        Some(DigestConfig {
            hour_utc: u8::try_from(hour).unwrap_or(6),
        })
    } else {
        None
    };
    NotifyConfig {
        hooks: hooks(c, &raw.hooks),
        hook_timeout,
        webhook: webhook(c, &raw.webhook),
        digest,
    }
}

fn hooks(c: &mut Checker<'_>, r: &RawHooks) -> BTreeMap<HookEvent, Vec<String>> {
    let given = [
        (HookEvent::Issued, &r.issued),
        (HookEvent::Delivered, &r.delivered),
        (HookEvent::Renewed, &r.renewed),
        (HookEvent::Failed, &r.failed),
        (HookEvent::Revoked, &r.revoked),
        (HookEvent::Removed, &r.removed),
    ];
    let mut out = BTreeMap::new();
    for (event, argv) in given {
        if argv.is_none() {
            continue;
        }
        let key = format!("hooks.{event}");
        let argv = program_argv(c, &key, argv.clone(), "[\"/usr/local/bin/publish-cert\"]");
        out.insert(event, argv);
    }
    out
}

fn webhook(c: &mut Checker<'_>, r: &RawWebhook) -> Option<WebhookConfig> {
    let Some(raw_url) = &r.url else {
        let given = r.secret_file.is_some() || r.secret_env.is_some() || r.events.is_some();
        if given {
            c.problem("webhook.url", "is required when [webhook] has other keys");
        }
        return None;
    };
    let url = match url::Url::parse(raw_url) {
        Ok(u) if u.scheme() == "https" => Some(u),
        Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host) => Some(u),
        Ok(_) => {
            c.problem(
                "webhook.url",
                format!("{raw_url:?}: must be https (http only to a loopback address)"),
            );
            None
        }
        Err(e) => {
            c.problem("webhook.url", format!("{raw_url:?}: {e}"));
            None
        }
    };
    let secret = c.secret(
        SecretKeys {
            prefix: "webhook.secret",
            file: &r.secret_file,
            env: &r.secret_env,
            credential: &r.secret_credential,
        },
        true,
    );
    let events = match &r.events {
        None => HookEvent::ALL.to_vec(),
        Some(names) => names
            .iter()
            .filter_map(|n| match n.parse::<HookEvent>() {
                Ok(e) => Some(e),
                Err(_) => {
                    let all: Vec<&str> = HookEvent::ALL.iter().map(|e| e.as_str()).collect();
                    c.problem(
                        "webhook.events",
                        format!("{n:?} is not one of: {}", all.join(", ")),
                    );
                    None
                }
            })
            .collect(),
    };
    let timeout: Duration = c.secs("webhook.timeout_secs", r.timeout_secs, 10, 1, 300);
    Some(WebhookConfig {
        url: url?,
        secret: secret?,
        events,
        timeout,
    })
}
