//! The installed pieces agree on one set of names and paths: the conffile the Debian package
//! installs (`packaging/config.toml`), the systemd unit, the maintainer script that creates the
//! user, the group and the directories, and the PostfixAdmin hook's README. `packaging/ci.sh`
//! then proves the same on a real `dpkg -i`.

use std::collections::BTreeMap;
use std::path::Path;

use smime_provisioner::config::{Config, DeliveryTransport, Endpoint};

const STATE: &str = "/var/lib/smime-provisioner";
const SPOOL: &str = "/var/spool/smime-provisioner";
const MAILDIR: &str = "/var/vmail";
const HOOK_GROUP: &str = "smime-hook";

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every value of `key=` in a unit file, in order (`-` prefixes kept).
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .flat_map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect()
}

#[test]
fn the_packaged_config_runs_on_the_simulator_with_the_units_paths() {
    let text = repo_file("packaging/config.toml");
    let path = Path::new("/etc/smime-provisioner/config.toml");
    let c = Config::from_toml(
        &text,
        path,
        Path::new("/etc/smime-provisioner"),
        &BTreeMap::new(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.autodns.endpoint,
        Endpoint::Simulator,
        "the conffile must never spend money"
    );
    match &c.delivery.transport {
        DeliveryTransport::File { dir } => assert_eq!(dir, &Path::new(STATE).join("outbox")),
        other => panic!("the conffile must write mail to files, not {other:?}"),
    }
    assert_eq!(c.state_dir, Path::new(STATE));
    assert_eq!(c.sources.spool_dir, Path::new(SPOOL));
    let maildir = c.sources.maildir.as_ref().expect("maildir source enabled");
    assert_eq!(maildir.root, Path::new(MAILDIR));

    let unit = repo_file("contrib/systemd/smime-provisioner.service");
    assert_eq!(unit_values(&unit, "StateDirectory"), ["smime-provisioner"]);
    assert_eq!(unit_values(&unit, "StateDirectoryMode"), ["0700"]);
    assert!(unit_values(&unit, "ReadWritePaths").contains(&SPOOL.to_string()));
    assert!(unit_values(&unit, "ReadOnlyPaths").contains(&format!("-{MAILDIR}")));
}

#[test]
fn the_unit_runs_the_packaged_binary_as_the_service_user_in_the_hook_group() {
    let unit = repo_file("contrib/systemd/smime-provisioner.service");
    assert_eq!(unit_values(&unit, "User"), ["smime-provisioner"]);
    assert_eq!(unit_values(&unit, "SupplementaryGroups"), [HOOK_GROUP]);
    for key in ["ExecStartPre", "ExecStart"] {
        let exec = unit_values(&unit, key);
        assert_eq!(
            exec[..3],
            [
                "/usr/bin/smime-provisioner",
                "--config",
                "/etc/smime-provisioner/config.toml"
            ]
        );
    }
    // systemd.exec(5): many of the unit's settings imply no-new-privileges, so advice to turn
    // it off for sendmail could never work; the drop-in adds the group instead.
    assert_eq!(unit_values(&unit, "NoNewPrivileges"), ["yes"]);
    let dropin = repo_file("contrib/systemd/smime-provisioner.service.d/sendmail.conf");
    assert_eq!(unit_values(&dropin, "SupplementaryGroups"), ["postdrop"]);
    assert!(unit_values(&dropin, "NoNewPrivileges").is_empty());
}

#[test]
fn the_maintainer_script_creates_what_the_unit_and_the_hook_expect() {
    let postinst = repo_file("packaging/debian/postinst");
    for line in [
        "SERVICE_USER=smime-provisioner".to_string(),
        format!("HOOK_GROUP={HOOK_GROUP}"),
        format!("STATE_DIR={STATE}"),
        format!("SPOOL_DIR={SPOOL}"),
        "set_perms \"$SERVICE_USER\" \"$SERVICE_USER\" 0700 \"$STATE_DIR\"".to_string(),
        "set_perms \"$SERVICE_USER\" \"$HOOK_GROUP\" 2770 \"$SPOOL_DIR\"".to_string(),
    ] {
        assert!(
            postinst.lines().any(|l| l.trim() == line),
            "postinst lacks `{line}`"
        );
    }
    // Never started or enabled by the package: no `enable --now`, no `start`.
    assert!(!postinst.contains("deb-systemd-invoke start"));
    assert!(!postinst.contains("enable --now"));
}

#[test]
fn the_hook_readme_names_the_same_spool_and_group() {
    let readme = repo_file("contrib/postfixadmin/README.md");
    assert!(readme.contains(&format!(
        "install -d -o smime-provisioner -g {HOOK_GROUP} -m 2770 {SPOOL}"
    )));
    for stale in [
        "smime-enqueue",
        "/var/lib/smime-provisioner/spool",
        "daemon creates its spool",
    ] {
        assert!(
            !readme.contains(stale),
            "the hook README still says {stale}"
        );
    }
}

#[test]
fn the_readme_lists_every_verb() {
    let readme = repo_file("README.md");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let verbs: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A verb's line; wrapped help text is indented further.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .collect();
    assert!(verbs.len() >= 12, "{help}");
    for verb in verbs {
        assert!(
            readme.contains(&format!("| `{verb}")),
            "README's verb table lacks {verb}"
        );
    }
}
