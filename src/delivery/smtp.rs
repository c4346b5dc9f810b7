//! Owns [`SmtpMailer`]: delivery to an SMTP relay through lettre's async transport, with the
//! security mode checked when the mailer is built rather than discovered on the wire.
//!
//! - [`Security::ImplicitTls`]: TLS from the first byte (RFC 8314 §3, port 465).
//! - [`Security::StartTls`]: plain connect, then STARTTLS (RFC 3207), *required*: lettre's
//!   `Tls::Required`, so a server (or an attacker) that drops STARTTLS from EHLO gets no mail.
//! - [`Security::PlainLoopback`]: no TLS, only to a loopback host (a local Postfix).
//! - [`Security::DangerousPlain`]: no TLS to any host. Bundles are encrypted, but passwords (in
//!   the password mail) and SMTP credentials would cross the network in clear; the name says so,
//!   as lettre's `builder_dangerous` does.
//!
//! Certificates are verified against the system store plus an optional extra CA file (a private
//! relay's CA, or a test CA); there is no switch to turn verification off.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::error::DeliveryError;
use super::mailer::{message_id_of, Mailer, SendFuture, Sent};
use crate::secret::Secret;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// TLS from the first byte (SMTPS, port 465).
    ImplicitTls,
    /// STARTTLS, required (submission port 587, or 25).
    StartTls,
    /// No TLS; allowed only when the host is a loopback address or `localhost`.
    PlainLoopback,
    /// No TLS to any host. Passwords and credentials cross the network readable by anyone on
    /// the path.
    DangerousPlain,
}

impl Security {
    /// The config spelling: `implicit-tls`, `starttls`, `plain-loopback`, `dangerous-plain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Security::ImplicitTls => "implicit-tls",
            Security::StartTls => "starttls",
            Security::PlainLoopback => "plain-loopback",
            Security::DangerousPlain => "dangerous-plain",
        }
    }

    fn uses_tls(self) -> bool {
        matches!(self, Security::ImplicitTls | Security::StartTls)
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Security {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "implicit-tls" | "tls" => Ok(Security::ImplicitTls),
            "starttls" => Ok(Security::StartTls),
            "plain-loopback" => Ok(Security::PlainLoopback),
            "dangerous-plain" => Ok(Security::DangerousPlain),
            other => Err(format!(
                "{other:?} is not a security mode; use implicit-tls, starttls, plain-loopback or \
                 dangerous-plain"
            )),
        }
    }
}

/// SMTP login (RFC 4954). The password is a [`Secret`].
#[derive(Debug, Clone)]
pub struct SmtpAuth {
    pub user: String,
    pub password: Secret<String>,
}

/// Everything [`SmtpMailer::new`] needs (config section `[delivery.smtp]`).
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Relay host name or IP address; also the name its certificate must carry.
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub auth: Option<SmtpAuth>,
    /// PEM file with extra CA certificates to trust besides the system store.
    pub extra_ca_file: Option<PathBuf>,
    /// Bound on one whole delivery: connect, dialogue and data. (lettre's async transport
    /// applies its own timeout only to the TCP connect, so a relay that accepts the connection
    /// and then stalls would otherwise hold the delivery forever.)
    pub timeout: Duration,
    /// Name we give in EHLO; the machine's host name when `None`.
    pub hello_name: Option<String>,
}

impl SmtpSettings {
    /// Settings without auth or extra CA, with a 60-second timeout.
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> Self {
        SmtpSettings {
            host: host.into(),
            port,
            security,
            auth: None,
            extra_ca_file: None,
            timeout: Duration::from_secs(60),
            hello_name: None,
        }
    }
}

/// Whether `host` names this machine's loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    h.eq_ignore_ascii_case("localhost")
}

/// Splits a PEM bundle into its certificates (native-tls takes one per call).
fn pem_certificates(pem: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        out.push(format!("{}\n", &rest[start..end]));
        rest = &rest[end..];
    }
    out
}

/// Delivers through an SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    timeout: Duration,
    server: String,
    security: Security,
    user: Option<String>,
}

impl fmt::Debug for SmtpMailer {
    // lettre's transport holds the credentials; show only what identifies the relay.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("user", &self.user)
            .finish()
    }
}

impl SmtpMailer {
    /// Builds the mailer. Refuses plain SMTP to a host that is not loopback unless the mode is
    /// [`Security::DangerousPlain`], and refuses an extra CA file that holds no certificate.
    pub fn new(settings: SmtpSettings) -> Result<SmtpMailer, DeliveryError> {
        let SmtpSettings {
            host,
            port,
            security,
            auth,
            extra_ca_file,
            timeout,
            hello_name,
        } = settings;
        if host.trim().is_empty() {
            return Err(DeliveryError::Config("delivery.smtp.host is empty".into()));
        }
        // lettre's connection pool spawns its cleanup task on the current tokio runtime, and
        // tokio::spawn panics outside one: turn that into an error instead.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(DeliveryError::Config(
                "the SMTP mailer must be created inside the tokio runtime".into(),
            ));
        }
        if security == Security::PlainLoopback && !is_loopback_host(&host) {
            return Err(DeliveryError::Config(format!(
                "delivery.smtp.security = \"plain-loopback\" sends without TLS, which is only \
                 allowed to a loopback host, and {host:?} is not one; use \"starttls\" or \
                 \"implicit-tls\" (or \"dangerous-plain\" if you accept that passwords cross \
                 the network readable by anyone on the path)"
            )));
        }
        if extra_ca_file.is_some() && !security.uses_tls() {
            return Err(DeliveryError::Config(format!(
                "delivery.smtp.ca_file is set but delivery.smtp.security = {:?} does not use TLS",
                security.as_str()
            )));
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(timeout));
        if security.uses_tls() {
            let params = tls_parameters(&host, port, extra_ca_file.as_deref())?;
            builder = builder.tls(match security {
                Security::ImplicitTls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        } else {
            builder = builder.tls(Tls::None);
        }
        let user = auth.as_ref().map(|a| a.user.clone());
        if let Some(a) = auth {
            builder = builder.credentials(Credentials::new(a.user, a.password.into_inner()));
        }
        if let Some(name) = hello_name {
            builder = builder.hello_name(ClientId::Domain(name));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            timeout,
            server: format!("{host}:{port}"),
            security,
            user,
        })
    }
}

/// TLS parameters for `host`: the system roots plus, when given, every certificate in the PEM
/// file `extra_ca_file` (refused if it holds none or one that does not parse).
fn tls_parameters(
    host: &str,
    port: u16,
    extra_ca_file: Option<&Path>,
) -> Result<TlsParameters, DeliveryError> {
    let mut tls = TlsParameters::builder(host.to_owned());
    if let Some(path) = extra_ca_file {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            DeliveryError::Config(format!(
                "delivery.smtp.ca_file: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let certs = pem_certificates(&pem);
        if certs.is_empty() {
            return Err(DeliveryError::Config(format!(
                "delivery.smtp.ca_file: {} holds no PEM certificate",
                path.display()
            )));
        }
        for c in certs {
            let cert = Certificate::from_pem(c.as_bytes()).map_err(|e| {
                DeliveryError::Config(format!(
                    "delivery.smtp.ca_file: {} has a certificate that does not parse: {e}",
                    path.display()
                ))
            })?;
            tls = tls.add_root_certificate(cert);
        }
    }
    tls.build()
        .map_err(|e| DeliveryError::Config(format!("TLS settings for {host}:{port}: {e}")))
}

impl SmtpMailer {
    /// Opens a connection the way a delivery does (connect, EHLO, STARTTLS or implicit TLS per
    /// the security mode, AUTH when credentials are set), checks it with NOOP and says QUIT: no
    /// mail is sent. `preflight` uses it. Returns the relay's `host:port` on success.
    pub async fn test_connection(&self) -> Result<String, DeliveryError> {
        let attempt = self.transport.test_connection();
        let Ok(result) = tokio::time::timeout(self.timeout, attempt).await else {
            return Err(DeliveryError::Unreachable {
                server: self.server.clone(),
                reason: format!(
                    "no complete answer within {} seconds (delivery.smtp.timeout_secs)",
                    self.timeout.as_secs()
                ),
            });
        };
        match result {
            Ok(true) => Ok(self.server.clone()),
            Ok(false) => Err(DeliveryError::Unreachable {
                server: self.server.clone(),
                reason: "the relay closed the connection after the greeting".into(),
            }),
            Err(e) => Err(DeliveryError::from_smtp(
                &self.server,
                self.security.uses_tls(),
                &e,
            )),
        }
    }

    /// The relay, `host:port`.
    pub fn server(&self) -> &str {
        &self.server
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let raw = message.formatted();
            let attempt = self.transport.send_raw(message.envelope(), &raw);
            let Ok(result) = tokio::time::timeout(self.timeout, attempt).await else {
                // Dropping the attempt closes its connection. If the relay had already taken
                // the data, a retry duplicates the mail (RFC 5321 §6.1 accepts that risk).
                return Err(DeliveryError::Unreachable {
                    server: self.server.clone(),
                    reason: format!(
                        "no complete answer within {} seconds (delivery.smtp.timeout_secs)",
                        self.timeout.as_secs()
                    ),
                });
            };
            match result {
                Ok(resp) => Ok(Sent {
                    message_id: message_id_of(message),
                    detail: format!(
                        "{} {}",
                        u16::from(resp.code()),
                        resp.message().collect::<Vec<_>>().join(" ")
                    ),
                }),
                Err(e) => Err(DeliveryError::from_smtp(
                    &self.server,
                    self.security.uses_tls(),
                    &e,
                )),
            }
        })
    }

    fn describe(&self) -> String {
        format!("smtp://{} ({})", self.server, self.security)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST.",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "mail.example.com",
            "localhost.example.com",
            "::2",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[tokio::test]
    async fn plain_smtp_to_a_remote_host_needs_the_dangerous_setting() {
        let err = SmtpMailer::new(SmtpSettings::new(
            "mail.example.com",
            25,
            Security::PlainLoopback,
        ))
        .unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("dangerous-plain"), "{err}");
        assert!(
            SmtpMailer::new(SmtpSettings::new("127.0.0.1", 25, Security::PlainLoopback)).is_ok()
        );
        assert!(SmtpMailer::new(SmtpSettings::new(
            "mail.example.com",
            25,
            Security::DangerousPlain
        ))
        .is_ok());
    }

    #[tokio::test]
    async fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let mut s = SmtpSettings::new("mail.example.com", 587, Security::StartTls);
        s.extra_ca_file = Some(p);
        let err = SmtpMailer::new(s).unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn debug_output_never_shows_the_smtp_password() {
        let mut s = SmtpSettings::new("mail.example.com", 587, Security::StartTls);
        s.auth = Some(SmtpAuth {
            user: "pki".into(),
            password: Secret::new("s3cr3t-relay-pw".into()),
        });
        assert!(!format!("{s:?}").contains("s3cr3t"));
        let m = SmtpMailer::new(s).unwrap();
        assert!(!format!("{m:?}").contains("s3cr3t"));
    }

    #[test]
    fn security_modes_parse_from_their_config_names() {
        for s in [
            Security::ImplicitTls,
            Security::StartTls,
            Security::PlainLoopback,
            Security::DangerousPlain,
        ] {
            assert_eq!(s.as_str().parse::<Security>().unwrap(), s);
        }
        assert!("plain"
            .parse::<Security>()
            .unwrap_err()
            .contains("dangerous-plain"));
    }
}
