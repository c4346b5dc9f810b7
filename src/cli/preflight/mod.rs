//! The `preflight` verb: proves a setup against the configured AutoDNS endpoint (live, the demo
//! system, or the bundled simulator) before the first purchase. It never orders: no
//! CertificateCreate, no SSLContactCreate, no PollConfirm. One line per check, `ok`, `warn` or
//! `FAIL` with the fix; `--json` prints the same as an array of `{check, status, detail, fix}`.
//!
//! Exit codes: 0 when nothing failed (warnings alone are fine), 1 when a check failed, 2 when
//! the config itself is unusable (the checks `check-config` runs, [`checked_config`]).
//!
//! Files: this one runs the checks and prints them; [`local`] checks what lies on this machine
//! (budget, sources, mail transport), [`secrets`] the secret files, [`push`] whether the public
//! push URL reaches `http.listen`, [`api`] what the AutoDNS account says.

mod api;
mod local;
mod push;
mod secrets;

use serde::Serialize;

use super::startup::{checked_config, Start};
use super::{CliError, Context};

/// Arguments of `preflight`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Print the checks as one JSON array of `{check, status, detail, fix}` for automation.
    #[arg(long)]
    pub json: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ready.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Will not work until fixed.
    #[serde(rename = "FAIL")]
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked (stable, short: `autodns.login`, `delivery.smtp`, …).
    pub check: String,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it (`None` when ok).
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(check: &str, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn warn(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// The human line: `ok   check: detail` and, when there is one, `       fix: …`.
    fn line(&self) -> String {
        let mut s = format!("{:<4} {}: {}", self.status.label(), self.check, self.detail);
        if let Some(f) = &self.fix {
            s.push_str(&format!("\n     fix: {f}"));
        }
        s
    }
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let checked = match checked_config(&ctx.config_path, Start::Daemon) {
        Ok(c) => c,
        Err(e) => {
            let fix = "correct every key named above, then run `preflight` again";
            emit(
                &args,
                &[Check::fail(
                    "config",
                    e.to_string().replace(":\n", ": ").replace('\n', "; "),
                    fix,
                )],
            );
            return Err(e);
        }
    };
    let config = &checked.config;
    let mut checks = vec![Check::ok(
        "config",
        format!(
            "{} is valid; {}",
            ctx.config_path.display(),
            super::check_config::summary(config)
        ),
    )];
    checks.extend(local::checks(config).await);
    checks.extend(secrets::checks(&ctx.config_path));
    checks.extend(push::check(config).await);
    checks.extend(api::checks(config).await);
    emit(&args, &checks);
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "preflight: {failed} check(s) failed; nothing was ordered"
        )));
    }
    Ok(())
}

fn emit(args: &Args, checks: &[Check]) {
    if args.json {
        match serde_json::to_string_pretty(checks) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot write the checks as JSON: {e}"),
        }
    } else {
        for c in checks {
            println!("{}", c.line());
        }
    }
}
