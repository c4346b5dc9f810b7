//! Integration tests of the pipeline: the reconciler over port fakes (crash points, operator
//! requests, lost orders), the daemon in-process, and the whole product against the bundled
//! simulator over HTTP, in-process and through the real binary (verbs, `status`, SIGKILL).

mod admin_notice;
mod approval;
mod budget;
mod crash_points;
mod daemon;
mod daemon_panic;
mod delivery_retry;
mod digest;
mod display_names;
mod end_to_end;
mod failed_orders_live;
mod faults_live;
mod hooks;
mod http_hardening;
mod key_pool;
mod lifecycle;
mod lost_order;
mod metrics;
mod operator_requests;
mod presence;
mod reconcile;
mod run_once_and_redeliver;
mod show_verb;
mod sigkill;
mod spool_unreadable;
mod status_verb;
mod store_secrets;
mod verb_pickup;
mod verbs;
mod webhook;

use std::path::Path;

/// Runs the real binary with `--config CONFIG ARGS…` and the simulator password in its
/// environment; returns exit code, stdout and stderr.
pub fn run_verb(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("SIM_PASSWORD", support::live::SIM_PASSWORD)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
