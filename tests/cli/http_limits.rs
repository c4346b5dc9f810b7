//! The HTTP endpoint's connection limit and read timeouts in the config: documented defaults,
//! and values outside their bounds refused by `check-config` with their keys.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use smime_provisioner::config::Config;

const BASE: &str = r#"
[autodns]
endpoint = "simulator"
[autodns.contact]
id = 100
[delivery]
transport = "file"
from = "PKI <pki@example.com>"
[http]
listen = "127.0.0.1:8089"
push_token_env = "PUSH_TOKEN"
"#;

fn parse(extra: &str) -> Result<Config, smime_provisioner::config::ConfigError> {
    let env: BTreeMap<String, String> = [(
        "PUSH_TOKEN".to_string(),
        "push-token-0123456789".to_string(),
    )]
    .into();
    Config::from_toml(
        &format!("{BASE}{extra}"),
        Path::new("test.toml"),
        Path::new("/x"),
        &env,
    )
}

#[test]
fn the_http_limits_default_to_the_documented_values() {
    let c = parse("").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.http.max_connections, 128);
    assert_eq!(c.http.header_timeout, Duration::from_secs(10));
    assert_eq!(c.http.body_timeout, Duration::from_secs(30));
    assert_eq!(c.http.ready_autodns_within, Duration::from_secs(900));
    let example = smime_provisioner::config::EXAMPLE;
    for line in [
        "# max_connections = 128",
        "# header_timeout_secs = 10",
        "# body_timeout_secs = 30",
        "# ready_autodns_within_secs = 900",
    ] {
        assert!(example.contains(line), "config.example.toml lacks {line:?}");
    }
}

#[test]
fn http_limits_outside_their_bounds_are_refused_with_their_keys() {
    for (extra, key) in [
        ("max_connections = 0\n", "http.max_connections"),
        ("max_connections = 4097\n", "http.max_connections"),
        ("header_timeout_secs = 0\n", "http.header_timeout_secs"),
        (
            "header_timeout_secs = 9223372036854775807\n",
            "http.header_timeout_secs",
        ),
        ("body_timeout_secs = 301\n", "http.body_timeout_secs"),
        (
            "ready_autodns_within_secs = 0\n",
            "http.ready_autodns_within_secs",
        ),
        (
            "ready_autodns_within_secs = 86401\n",
            "http.ready_autodns_within_secs",
        ),
    ] {
        let err = parse(extra).expect_err(extra);
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, [key], "{extra}: {err}");
    }
    let c = parse("max_connections = 4096\nheader_timeout_secs = 300\nbody_timeout_secs = 1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.http.max_connections, 4096);
    assert_eq!(c.http.header_timeout, Duration::from_secs(300));
    assert_eq!(c.http.body_timeout, Duration::from_secs(1));
}
