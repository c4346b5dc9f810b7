//! Secrets given as systemd credentials (`*_credential = "NAME"`): read from
//! `$CREDENTIALS_DIRECTORY/NAME` when systemd set it, else from `credentials/NAME` beside the
//! config file; a missing one is reported with its key and every path tried. A secret whose
//! feature is off is never read, so its file may be missing or unusable. Through the library's
//! validation with a controlled environment, and through the real binary's `check-config`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use smime_provisioner::config::{Config, ConfigError, DeliveryTransport};

const BIN: &str = env!("CARGO_BIN_EXE_smime-provisioner");
const AUTODNS_PASSWORD: &str = "autodns-secret-4711";

/// A config for a real AutoDNS endpoint whose password is the credential `autodns.password`,
/// followed by `extra`.
fn remote_config(extra: &str) -> String {
    format!(
        "[state]\ndir = \"state\"\n\
         [autodns]\nendpoint = \"https://api.autodns.com/v1\"\nuser = \"u\"\n\
         password_credential = \"autodns.password\"\n\
         [autodns.contact]\nid = 100\n\
         [delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n{extra}"
    )
}

/// Writes a secret file with `mode`, creating its directory.
fn secret(path: &Path, value: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn env(pairs: &[(&str, &Path)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.display().to_string()))
        .collect()
}

fn load(text: &str, base: &Path, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    Config::from_toml(text, &base.join("config.toml"), base, env)
}

fn autodns_password(c: &Config) -> String {
    c.autodns
        .password
        .as_ref()
        .expect("password")
        .expose()
        .clone()
}

/// The AutoDNS password `remote_config("")` in `base` loads, with systemd's credentials
/// directory `creds` (`None`: not set).
fn password_loaded(base: &Path, creds: Option<&Path>) -> String {
    let env = creds
        .map(|c| env(&[("CREDENTIALS_DIRECTORY", c)]))
        .unwrap_or_default();
    let c = load(&remote_config(""), base, &env).unwrap_or_else(|e| panic!("{e}"));
    autodns_password(&c)
}

#[test]
fn a_credential_is_read_from_the_directory_systemd_hands_in() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("run-credentials");
    secret(&creds.join("autodns.password"), AUTODNS_PASSWORD, 0o400);
    // A different file beside the config: systemd's copy wins.
    secret(
        &dir.path().join("credentials/autodns.password"),
        "stale",
        0o600,
    );
    assert_eq!(password_loaded(dir.path(), Some(&creds)), AUTODNS_PASSWORD);
}

#[test]
fn without_systemd_a_credential_is_read_from_beside_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    secret(
        &dir.path().join("credentials/autodns.password"),
        AUTODNS_PASSWORD,
        0o600,
    );
    assert_eq!(password_loaded(dir.path(), None), AUTODNS_PASSWORD);
    // systemd handed in none (or an empty default): the file beside the config is used.
    let creds = dir.path().join("run-credentials");
    secret(&creds.join("autodns.password"), "", 0o400);
    assert_eq!(password_loaded(dir.path(), Some(&creds)), AUTODNS_PASSWORD);
}

#[test]
fn a_missing_credential_names_its_key_and_every_path_tried() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("run-credentials");
    std::fs::create_dir(&creds).unwrap();
    let err = load(
        &remote_config(""),
        dir.path(),
        &env(&[("CREDENTIALS_DIRECTORY", &creds)]),
    )
    .unwrap_err();
    let p = err
        .problems
        .iter()
        .find(|p| p.key == "autodns.password_credential")
        .unwrap_or_else(|| panic!("no problem for the key:\n{err}"));
    let systemd_copy = creds.join("autodns.password").display().to_string();
    let beside = dir.path().join("credentials/autodns.password");
    assert!(p.message.contains(&systemd_copy), "{p}");
    assert!(p.message.contains(&beside.display().to_string()), "{p}");
    assert!(p.message.contains("not found"), "{p}");
    // Without systemd only the file beside the config is tried, and the message says why.
    let err = load(&remote_config(""), dir.path(), &BTreeMap::new()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("CREDENTIALS_DIRECTORY is not set"), "{text}");
    assert!(!text.contains(&systemd_copy), "{text}");
}

#[test]
fn a_credential_readable_by_every_user_is_refused_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    secret(
        &dir.path().join("credentials/autodns.password"),
        AUTODNS_PASSWORD,
        0o644,
    );
    let err = load(&remote_config(""), dir.path(), &BTreeMap::new()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("autodns.password_credential"), "{text}");
    assert!(text.contains("readable by every user"), "{text}");
    assert!(!text.contains(AUTODNS_PASSWORD), "{text}");
}

#[test]
fn the_secret_forms_are_checked_even_when_unused() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[autodns]\nendpoint = \"simulator\"\npassword_credential = \"../etc/shadow\"\n\
                [autodns.contact]\nid = 100\n\
                [delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n\
                [http]\npush_token_env = \"T\"\npush_token_file = \"t\"\n";
    let err = load(text, dir.path(), &BTreeMap::new()).unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"autodns.password_credential"), "{err}");
    assert!(keys.contains(&"http.push_token_file"), "{err}");
    assert!(err.to_string().contains("give only one of"), "{err}");
}

/// Secret files that would be refused if they were read: missing, and readable by everyone.
fn unusable_secrets(dir: &Path) -> (PathBuf, PathBuf) {
    let open = dir.join("world-readable.secret");
    secret(&open, "0123456789abcdef-token", 0o644);
    (dir.join("missing.secret"), open)
}

#[test]
fn secrets_of_features_that_are_off_are_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let (missing, open) = unusable_secrets(dir.path());
    // The bundled simulator (no AutoDNS password), the file transport (no SMTP login), no HTTP
    // endpoint (no push token): every secret given, none usable, none read.
    let text = format!(
        "[autodns]\nendpoint = \"simulator\"\npassword_file = \"{}\"\n\
         [autodns.contact]\nid = 100\n\
         [delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n\
         [delivery.smtp]\nhost = \"mail.example.com\"\nuser = \"pki\"\npassword_file = \"{}\"\n\
         [http]\npush_token_credential = \"push.token\"\n",
        open.display(),
        missing.display()
    );
    let c = load(&text, dir.path(), &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.autodns.password.is_none());
    assert!(c.http.push_token.is_none());
    assert!(matches!(
        c.delivery.transport,
        DeliveryTransport::File { .. }
    ));
}

#[test]
fn an_smtp_password_is_read_only_for_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let (missing, _) = unusable_secrets(dir.path());
    let smtp = |login: &str| {
        format!(
            "[autodns]\nendpoint = \"simulator\"\n[autodns.contact]\nid = 100\n\
             [delivery]\ntransport = \"smtp\"\nfrom = \"PKI <pki@example.com>\"\n\
             [delivery.smtp]\nhost = \"mail.example.com\"\n{login}"
        )
    };
    // A password without a user is a mistake, reported as one, and the file is not opened.
    let err = load(
        &smtp(&format!("password_file = \"{}\"\n", missing.display())),
        dir.path(),
        &BTreeMap::new(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("delivery.smtp.user: user and password go together"),
        "{text}"
    );
    assert!(!text.contains("cannot read secret file"), "{text}");
    // With a user, the credential is read.
    secret(
        &dir.path().join("credentials/smtp.password"),
        "smtp-pw",
        0o600,
    );
    let c = load(
        &smtp("user = \"pki\"\npassword_credential = \"smtp.password\"\n"),
        dir.path(),
        &BTreeMap::new(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    match &c.delivery.transport {
        DeliveryTransport::Smtp(s) => {
            assert_eq!(s.password.as_ref().unwrap().expose(), "smtp-pw")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn check_config_resolves_credentials_through_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, remote_config("")).unwrap();
    let check = |creds: Option<&Path>| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(&config).arg("check-config");
        match creds {
            Some(d) => cmd.env("CREDENTIALS_DIRECTORY", d),
            None => cmd.env_remove("CREDENTIALS_DIRECTORY"),
        };
        cmd.output().unwrap()
    };
    let out = check(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("autodns.password_credential"), "{stderr}");
    assert!(
        stderr.contains(
            &dir.path()
                .join("credentials/autodns.password")
                .display()
                .to_string()
        ),
        "{stderr}"
    );
    let creds = dir.path().join("run-credentials");
    secret(&creds.join("autodns.password"), AUTODNS_PASSWORD, 0o400);
    let out = check(Some(&creds));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(AUTODNS_PASSWORD), "{all}");
}
