//! The `enqueue` verb as the PostfixAdmin hook calls it: through the real wrapper script in
//! `contrib/postfixadmin/` and the real binary, with a config file that names the spool.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_smime-provisioner");

fn spool_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let config = dir.path().join("config.toml");
    // A secret file the hook user could not read: enqueue must not need it.
    std::fs::write(
        &config,
        "[state]\ndir = \"state\"\n[sources.spool]\ndir = \"spool\"\n\
         [domains]\nallow = [\"example.com\"]\n\
         [autodns]\nendpoint = \"https://api.autodns.com/v1\"\nuser = \"u\"\n\
         password_file = \"/root/unreadable/autodns.password\"\n",
    )
    .unwrap();
    (dir, spool, config)
}

#[test]
fn the_postfixadmin_wrapper_enqueues_through_the_real_binary() {
    let (_dir, spool, config) = setup();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/postfixadmin/mailbox-postcreation.sh");
    let out = Command::new("sh")
        .arg(&script)
        .args([
            "Alice@Example.COM",
            "example.com",
            "example.com/alice/",
            "0",
        ])
        .env("SMIME_PROVISIONER", BIN)
        .env("SMIME_PROVISIONER_CONFIG", &config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = spool_files(&spool);
    assert_eq!(files.len(), 1, "{files:?}");
    let request = std::fs::read_to_string(spool.join(&files[0])).unwrap();
    assert!(
        request.contains("Alice@example.com"),
        "request holds the normalised address: {request}"
    );
}

#[test]
fn one_invalid_address_enqueues_nothing_and_exits_2() {
    let (_dir, spool, config) = setup();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["enqueue", "bob@example.com", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nothing enqueued") && stderr.contains("not-an-address"),
        "{stderr}"
    );
    assert!(spool_files(&spool).is_empty());
}

#[test]
fn a_missing_spool_is_a_setup_error_that_says_how_to_create_it() {
    let (_dir, spool, config) = setup();
    std::fs::remove_dir(&spool).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["enqueue", "bob@example.com"])
        .output()
        .unwrap();
    // Exit 2, like a config error: retrying will not help until an admin creates it.
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("install -d -m 2770"));
}

#[test]
fn an_address_outside_the_allowed_domains_enqueues_nothing_and_exits_2() {
    let (_dir, spool, config) = setup();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["enqueue", "bob@example.com", "eve@elsewhere.example"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("eve@elsewhere.example is not in a domain listed in domains.allow"),
        "{stderr}"
    );
    assert!(spool_files(&spool).is_empty());
}

#[test]
fn a_name_is_written_with_its_one_address_and_a_name_for_several_enqueues_nothing() {
    let (_dir, spool, config) = setup();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("enqueue")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--name", "  Anna \t Lima ", "anna@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = spool_files(&spool);
    let request = std::fs::read_to_string(spool.join(&files[0])).unwrap();
    assert!(
        request.ends_with("address: anna@example.com\nname: Anna Lima\n"),
        "{request}"
    );

    let out = run(&["--name", "Anna Lima", "a@example.com", "b@example.com"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one address"), "{err}");
    let out = run(&["--name", &"x".repeat(200), "c@example.com"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("200 characters"), "{err}");
    assert_eq!(spool_files(&spool).len(), 1, "nothing more was enqueued");
}
