//! Config loading and validation: the shipped example, defaults, and every-problem-at-once
//! reporting (through the library and through the real binary's `check-config`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use smime_provisioner::config::{
    BundleProfile, Config, ContactConfig, DeliveryTransport, Endpoint, KeyAlgorithm,
    PasswordChannelConfig, RemovalPolicy, SmtpSecurity, Wire,
};

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn parse(text: &str, base: &Path) -> Result<Config, smime_provisioner::config::ConfigError> {
    Config::from_toml(text, Path::new("test.toml"), base, &no_env())
}

const MINIMAL: &str = r#"
[autodns]
endpoint = "simulator"
[autodns.contact]
id = 100
[delivery]
transport = "file"
from = "PKI <pki@example.com>"
"#;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
}

#[test]
fn the_shipped_example_is_valid_and_runs_safely() {
    let base = Path::new("/srv/cfg");
    let c = Config::from_toml(
        smime_provisioner::config::EXAMPLE,
        Path::new("config.example.toml"),
        base,
        &no_env(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.autodns.endpoint,
        Endpoint::Simulator,
        "the example must never spend money"
    );
    assert_eq!(c.state_dir, base.join("var/state"));
    match &c.delivery.transport {
        DeliveryTransport::File { dir } => assert_eq!(dir, &base.join("var/outbox")),
        other => panic!("example must deliver to a file outbox, not {other:?}"),
    }
    let maildir = c.sources.maildir.as_ref().expect("maildir source enabled");
    assert_eq!(maildir.root, base.join("var/mail"));
    assert_eq!(maildir.layout, "{domain}/{local}");
    assert!(matches!(c.autodns.contact, ContactConfig::Create(_)));
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = parse(MINIMAL, Path::new("/x")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.state_dir, Path::new("/var/lib/smime-provisioner"));
    assert_eq!(c.autodns.wire, Wire::Json);
    assert_eq!(c.autodns.product, "GLOBALSIGN_PERSONALSIGN_1");
    assert_eq!(c.autodns.lifetime_months, 12);
    assert_eq!(c.autodns.daily_order_budget, 50);
    assert_eq!(c.autodns.requests_per_second, 3.0);
    assert_eq!(c.keys.key_type, KeyAlgorithm::Rsa3072);
    assert_eq!(c.keys.pkcs12_profile, BundleProfile::Modern);
    assert!(c.keys.archive);
    assert_eq!(c.renewal.margin.as_secs(), 30 * 86_400);
    assert_eq!(c.removal.policy, RemovalPolicy::Keep);
    assert_eq!(c.sources.max_removal_share, 0.10);
    assert_eq!(
        c.sources.spool_dir,
        Path::new("/var/spool/smime-provisioner")
    );
    assert!(
        matches!(c.delivery.password, PasswordChannelConfig::SeparateMail { delay } if delay.as_secs() == 300)
    );
    assert!(c.http.listen.is_none());
}

#[test]
fn removal_policy_and_grace_validate_into_one_policy() {
    let text = format!("{MINIMAL}\n[removal]\npolicy = \"revoke\"\ngrace_days = 3\n");
    let c = parse(&text, Path::new("/x")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.removal.policy,
        RemovalPolicy::Revoke {
            grace: time::Duration::days(3)
        }
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    let text = r#"
[autodns]
endpoint = "htps//api.autodns.com"
user = "u"
password_file = "/nonexistent/autodns.password"
lifetme_months = 12
[autodns.contact]
id = 100
[keys]
type = "dsa-1024"
[delivery]
transport = "pigeon"
from = "not a mailbox"
"#;
    let err = parse(text, Path::new("/x")).unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    for expected in [
        "autodns.lifetme_months",
        "autodns.endpoint",
        "autodns.password_file",
        "keys.type",
        "delivery.transport",
        "delivery.from",
    ] {
        assert!(
            keys.contains(&expected),
            "{expected} missing from {keys:?}\n{err}"
        );
    }
}

#[test]
fn a_real_endpoint_needs_user_password_and_https() {
    let text = MINIMAL.replace(
        "endpoint = \"simulator\"",
        "endpoint = \"http://api.autodns.com/v1\"",
    );
    let err = parse(&text, Path::new("/x")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("autodns.endpoint: \"http://api.autodns.com/v1\": plain http"),
        "{text}"
    );
    assert!(text.contains("autodns.user: is required"), "{text}");
    assert!(
        text.contains("autodns.password_file: a secret is required"),
        "{text}"
    );
}

#[test]
fn secrets_come_from_env_or_private_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "s3cret-value\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = MINIMAL.replace(
        "endpoint = \"simulator\"",
        "endpoint = \"https://api.autodns.com/v1\"\nuser = \"u\"\npassword_file = \"pw\"",
    );
    let err = parse(&text, dir.path()).unwrap_err().to_string();
    assert!(err.contains("readable by every user"), "{err}");
    assert!(
        !err.contains("s3cret"),
        "a secret leaked into an error: {err}"
    );

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = parse(&text, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.autodns.password.as_ref().unwrap().expose(),
        "s3cret-value"
    );
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "Debug of the config shows a secret"
    );

    let text = MINIMAL.replace(
        "endpoint = \"simulator\"",
        "endpoint = \"https://gateway.autodns.com\"\nwire = \"xml\"\nuser = \"u\"\npassword_env = \"ADNS_PW\"",
    );
    let err = parse(&text, dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("autodns.password_env: environment variable ADNS_PW is not set"),
        "{err}"
    );
    let env: BTreeMap<String, String> = [("ADNS_PW".to_string(), "from-env".to_string())].into();
    let c = Config::from_toml(&text, Path::new("t"), dir.path(), &env)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.autodns.wire, Wire::Xml);
    assert_eq!(c.autodns.password.unwrap().expose(), "from-env");
}

#[test]
fn plain_smtp_is_refused_to_a_remote_host_unless_dangerous_is_spelt_out() {
    let smtp = |host: &str, security: &str| {
        MINIMAL.replace("transport = \"file\"", "transport = \"smtp\"")
            + &format!("[delivery.smtp]\nhost = \"{host}\"\nsecurity = \"{security}\"\n")
    };
    let err = parse(&smtp("mail.example.com", "plain"), Path::new("/x")).unwrap_err();
    assert_eq!(err.problems[0].key, "delivery.smtp.security");
    let c = parse(&smtp("127.0.0.1", "plain"), Path::new("/x")).unwrap();
    let DeliveryTransport::Smtp(s) = c.delivery.transport else {
        panic!()
    };
    assert_eq!((s.security, s.port), (SmtpSecurity::PlainLoopback, 25));
    let c = parse(
        &smtp("mail.example.com", "dangerous-plain"),
        Path::new("/x"),
    )
    .unwrap();
    let DeliveryTransport::Smtp(s) = c.delivery.transport else {
        panic!()
    };
    assert_eq!(s.security, SmtpSecurity::DangerousPlain);
}

#[test]
fn domains_are_normalised_and_lifetimes_checked() {
    let text = format!(
        "{MINIMAL}[domains]\nallow = [\"Bücher.Example\", \"bad domain\"]\n\
         [domains.override.\"bücher.example\"]\nlifetime_months = 13\n"
    );
    let err = parse(&text, Path::new("/x")).unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"domains.allow[1]"), "{err}");
    assert!(
        keys.contains(&"domains.override.\"bücher.example\".lifetime_months"),
        "{err}"
    );
    let ok = format!("{MINIMAL}[domains]\nallow = [\"Bücher.Example\"]\n");
    let c = parse(&ok, Path::new("/x")).unwrap();
    assert_eq!(c.domains.allow, vec!["xn--bcher-kva.example".to_string()]);
}

#[test]
fn check_config_exits_0_on_the_example_and_2_naming_all_three_mistakes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = bin()
        .arg("check-config")
        .arg(root.join("config.example.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("bundled simulator"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = smime_provisioner::config::EXAMPLE
        .replacen(
            "\nendpoint = \"simulator\"",
            "\nendpoint = \"https//no-scheme\"\nuser = \"u\"\npassword_file = \"missing.password\"",
            1,
        )
        .replace("[keys]", "[keys]\nsize = 4096");
    std::fs::write(&bad, text).unwrap();
    let out = bin().arg("check-config").arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("keys.size: unknown key"), "{stderr}");
    assert!(
        stderr.contains("autodns.endpoint: \"https//no-scheme\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("autodns.password_file: cannot read secret file"),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems"), "{stderr}");
}

#[test]
fn help_lists_every_verb_of_the_product_brief() {
    let out = bin().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for verb in [
        "run",
        "enqueue",
        "provision",
        "reprovision",
        "redeliver",
        "renew",
        "revoke",
        "status",
        "check-config",
        "simulator",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{verb} "))),
            "{verb} missing:\n{help}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = bin().arg("no-such-verb").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["check-config", "/nonexistent/config.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/config.toml"));
}

#[test]
fn check_config_parses_templates_and_names_a_misspelt_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bundle.txt"),
        "Hello {adress}, here is {filename}.\n",
    )
    .unwrap();
    let cfg = dir.path().join("c.toml");
    // MINIMAL ends inside [delivery], so the key lands in that section.
    std::fs::write(
        &cfg,
        format!("{MINIMAL}template_text_file = \"bundle.txt\"\n"),
    )
    .unwrap();
    let out = bin().arg("check-config").arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("adress"), "{stderr}");
}

#[test]
fn ldif_display_name_attributes_default_to_display_name_and_cn_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ldif = dir.path().join("d.ldif");
    std::fs::write(&ldif, "").unwrap();
    let section = |extra: &str| {
        format!(
            "{MINIMAL}[sources.ldif]\nenabled = true\npath = \"{}\"\n{extra}",
            ldif.display()
        )
    };
    let c = parse(&section(""), dir.path()).unwrap();
    let l = c.sources.ldif.unwrap();
    assert_eq!(l.display_name_attributes, ["displayName", "cn"]);
    let c = parse(
        &section("display_name_attributes = [\"gecos\"]\n"),
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.sources.ldif.unwrap().display_name_attributes, ["gecos"]);
    let err = parse(
        &section("display_name_attributes = [\"cn\", \"display name\"]\n"),
        dir.path(),
    )
    .unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["sources.ldif.display_name_attributes[1]"]);
}
