//! `[hooks]`, `[webhook]` and `[digest]` validated with the rest of the config: every problem
//! reported with its key at once, defaults as documented in `config.example.toml`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use smime_provisioner::config::Config;
use smime_provisioner::lifecycle::HookEvent;

const BASE: &str = "[autodns]\nendpoint = \"simulator\"\n[autodns.contact]\nid = 100\n\
                    [delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n";

fn parse(extra: &str, dir: &Path) -> Result<Config, String> {
    let env: BTreeMap<String, String> = BTreeMap::new();
    Config::from_toml(&format!("{BASE}{extra}"), Path::new("t.toml"), dir, &env)
        .map_err(|e| e.to_string())
}

#[test]
fn notifications_are_off_by_default_with_the_documented_timeouts() {
    let c = parse("", Path::new("/x")).unwrap();
    assert!(c.notify.hooks.is_empty());
    assert!(c.notify.webhook.is_none() && c.notify.digest.is_none());
    assert_eq!(c.notify.hook_timeout.as_secs(), 60);
}

#[test]
fn hooks_and_webhook_are_read_with_the_program_resolved_and_the_secret_loaded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("publish"), "#!/bin/sh\n").unwrap();
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "s3cret-value\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = parse(
        "[hooks]\nissued = [\"publish\", \"--ldap\"]\ntimeout_secs = 5\n\
         [webhook]\nurl = \"https://hooks.example.com/x\"\nsecret_file = \"hook.secret\"\n\
         events = [\"failed\"]\n",
        dir.path(),
    )
    .unwrap();
    let argv = &c.notify.hooks[&HookEvent::Issued];
    assert_eq!(argv[0], dir.path().join("publish").display().to_string());
    assert_eq!(argv[1], "--ldap");
    let w = c.notify.webhook.unwrap();
    assert_eq!(w.secret.expose(), "s3cret-value");
    assert_eq!(w.events, vec![HookEvent::Failed]);
    assert!(
        !format!("{w:?}").contains("s3cret"),
        "the secret never prints"
    );
}

#[test]
fn every_notification_problem_is_reported_at_once_with_its_key() {
    let e = parse(
        "[hooks]\nrenewed = [\"/nonexistent/publish\"]\nfailed = []\ntimeout_secs = 0\n\
         [webhook]\nurl = \"http://hooks.example.com/x\"\nevents = [\"exploded\"]\n\
         [digest]\nenabled = true\nhour_utc = 24\n",
        Path::new("/x"),
    )
    .unwrap_err();
    for want in [
        "hooks.renewed: program /nonexistent/publish does not exist",
        "hooks.failed: needs a program",
        "hooks.timeout_secs",
        "webhook.url: \"http://hooks.example.com/x\": must be https (http only to a loopback \
         address)",
        "webhook.secret_file: a secret is required",
        "webhook.events: \"exploded\" is not one of: issued, delivered, renewed, failed, \
         revoked, removed",
        "digest.enabled: the digest goes to delivery.admin_address, which is not set",
        "digest.hour_utc: 24 is out of range 0..=23",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}
