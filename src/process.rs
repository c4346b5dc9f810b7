//! Owns the identity of "this process" for record claims (the pipeline's leases, the notification
//! outbox's claims, the embedded simulator's lock), and the check whether the process named in a
//! claim is still running.
//!
//! A claim owner is `pid:start-time` (field 22 of `/proc/PID/stat`, proc(5)): the pid alone could
//! be reused after a crash, the pair cannot. Used so a restarted daemon takes over the records a
//! killed one was working on at once, while a verb run next to a live daemon waits for it.
//!
//! Where `/proc` hides other users' processes (`hidepid=`, proc(5); systemd's
//! `ProtectProc=invisible`, which the shipped unit sets), a missing entry proves nothing: a verb
//! run as another user is invisible to the daemon but alive. Then an unseen owner counts as
//! alive and its claim ends when its lease does.

use std::fs;

/// The claim-owner token of the current process.
pub fn current_owner() -> String {
    let pid = std::process::id();
    match start_time(pid) {
        Some(t) => format!("{pid}:{t}"),
        None => format!("{pid}:0"),
    }
}

/// Whether the process named by `owner` (a token from [`current_owner`]) still runs.
/// An unparsable token counts as dead: nobody can be waiting on it.
pub fn owner_alive(owner: &str) -> bool {
    let Some((pid, start)) = owner.split_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    alive_by(start_time(pid), start, proc_restricted)
}

/// Whether `/proc` hides processes from us: PID 1 always runs, so not seeing it means an
/// absent entry is no evidence of death.
fn proc_restricted() -> bool {
    start_time(1).is_none()
}

/// The liveness verdict from what `/proc` shows: the owner's start time if visible, its
/// recorded start time, and (asked only when the entry is missing) whether `/proc` hides
/// processes.
fn alive_by(seen: Option<u64>, start: &str, restricted: impl FnOnce() -> bool) -> bool {
    match seen {
        Some(t) => t.to_string() == start || start == "0",
        None => restricted(),
    }
}

/// The start time (clock ticks since boot) of `pid`, if it runs.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state); starttime is field 22.
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        let me = current_owner();
        assert!(owner_alive(&me), "{me}");
        let (pid, _) = me.split_once(':').unwrap();
        assert!(
            !owner_alive(&format!("{pid}:1")),
            "same pid, other start time"
        );
        assert!(!owner_alive("4194304999:5"));
        assert!(!owner_alive("garbage"));
    }

    #[test]
    fn an_owner_hidden_by_a_restricted_proc_is_alive_until_its_lease_ends() {
        assert!(alive_by(None, "77", || true), "hidden is not dead");
        assert!(
            !alive_by(None, "77", || false),
            "missing from a full /proc is dead"
        );
        assert!(alive_by(Some(77), "77", || false));
        assert!(
            !alive_by(Some(78), "77", || true),
            "a reused pid is not the owner"
        );
    }
}
