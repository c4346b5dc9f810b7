//! Codec tests of the AutoDNS client: every sample from the reference (copied into
//! `tests/fixtures/autodns/`) decodes into the expected model values, every request and response
//! survives an encode → decode round trip in both codecs, and bad bodies become typed errors.
//!
//! Split by area: `samples`, `malformed`, `push`, `round_trip`, `job_list`; the builders of
//! full model values (shared by the round trips, the job lists and the spec tests) live here.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::json;
use smime_provisioner::autodns::json::{self, Method};
use smime_provisioner::autodns::model::*;
use smime_provisioner::autodns::xml::{self, XmlAuth};
use smime_provisioner::autodns::{parse_push, ApiError, Error, ErrorKind};
use smime_provisioner::secret::Secret;
use time::macros::datetime;

fn fixture(name: &str) -> Result<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/autodns")
        .join(name);
    std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
}

/// The reference's XML request samples are templates with `<context>CONTEXT</context>`.
fn template_with_context(name: &str) -> Result<Vec<u8>> {
    let text = String::from_utf8(fixture(name)?)?;
    Ok(text
        .replace("<context>CONTEXT</context>", "<context>9</context>")
        .into_bytes())
}

fn zoned(s: &str) -> Option<Timestamp> {
    Timestamp::parse(s)
}

mod job_list;
mod malformed;
mod push;
mod round_trip;
mod samples;

fn kind_of<T>(r: Result<T, Error>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

// ---------------------------------------------------------------------------------------------
// Builders of full model values
// ---------------------------------------------------------------------------------------------

// Values in normal form: the XML codec trims surrounding whitespace of every value (a PEM's
// final newline is not significant), so builders carry none.
const CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBczCCARkCAQAwHDEaMBgGA1UEAwwRYW5uYUBleGFtcGxlLm9yZzBZ\n-----END CERTIFICATE REQUEST-----";
const LEAF: &str = "-----BEGIN CERTIFICATE-----\nMIIBleaf\n-----END CERTIFICATE-----";
const INTERMEDIATE: &str = "-----BEGIN CERTIFICATE-----\nMIIBinter\n-----END CERTIFICATE-----";
const ROOT: &str = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----";

fn naive(s: &str) -> Option<Timestamp> {
    Timestamp::parse(s)
}

fn user() -> Option<BasicUser> {
    Some(BasicUser {
        context: Some(9),
        user: Some("reseller".into()),
    })
}

fn full_contact() -> SslContact {
    SslContact {
        id: Some(37791),
        created: naive("2022-02-17 10:03:07"),
        updated: zoned("2022-03-30T10:05:03.000+0200"),
        owner: user(),
        updater: user(),
        fname: Some("Anna".into()),
        lname: Some("Admin & <Sons>".into()),
        phone: Some("+49-941-1234560".into()),
        fax: Some("+49-941-1234561".into()),
        email: Some("hostmaster@example.org".into()),
        title: Some("Ms".into()),
        organization: Some("Example GmbH".into()),
        address: vec!["Main Street 1".into(), "Building B".into()],
        pcode: Some("93047".into()),
        city: Some("Regensburg".into()),
        country: Some("DE".into()),
        state: Some("Bayern".into()),
    }
}

fn full_certificate() -> Certificate {
    Certificate {
        id: Some(1658050),
        created: naive("2026-11-28 10:00:00"),
        updated: zoned("2026-11-28T10:05:00.000+0100"),
        owner: user(),
        updater: user(),
        partner_order_id: Some("IX-CC-4299720353".into()),
        order_id: Some("PC201607129800".into()),
        admin_contact: Some(full_contact()),
        technical_contact: Some(SslContact {
            id: Some(100),
            ..Default::default()
        }),
        name: Some("anna@example.org".into()),
        lifetime: Some(TimePeriod::months(24)),
        software: Some("NOT_SET".into()),
        comment: Some("issued by smime-provisioner".into()),
        csr: Some(CSR.into()),
        server: Some(LEAF.into()),
        serial_number: Some("0A1B2C".into()),
        product: Some("GLOBALSIGN_PERSONALSIGN_1".into()),
        certificate_type: Some(CertificateType::Mail),
        signature_hash_algorithm: Some("SHA2".into()),
        expire: naive("2028-11-28 23:59:59"),
        payable: zoned("2028-11-28T00:00:00.000+0100"),
        subject_alternative_names: vec![SubjectAlternativeName {
            name: Some("anna@example.org".into()),
            approver_email: Some("anna@example.org".into()),
        }],
        certification_authority: vec![
            CaCertificate {
                ca_type: Some(CaType::Intermediate),
                ca_certificate: Some(INTERMEDIATE.into()),
                ..Default::default()
            },
            CaCertificate {
                ca_type: Some(CaType::Unknown("CROSS".into())),
                ca_certificate: Some(ROOT.into()),
                created: naive("2020-01-01 00:00:00"),
                updated: None,
            },
        ],
        password: Some(Secret::new("Abc123def456".into())),
        firstname: Some("Anna".into()),
        lastname: Some("Example".into()),
        organization_unit_name: Some("Sales".into()),
        authentication: Some(CertAuthentication {
            method: Some(AuthMethod::Email),
            approver_emails: vec!["anna@example.org".into()],
            ..Default::default()
        }),
        has_csr: Some(true),
        approver_email: Some("anna@example.org".into()),
    }
}

fn full_certificate_data() -> CertificateData {
    CertificateData {
        plain: Some(CSR.into()),
        name: Some("anna@example.org".into()),
        key_size: Some(3072),
        country_code: Some("DE".into()),
        state: Some("Bayern".into()),
        city: Some("Regensburg".into()),
        organization: Some("Example GmbH".into()),
        organization_unit: Some("Sales".into()),
        email: Some("anna@example.org".into()),
        product: Some("GLOBALSIGN_PERSONALSIGN_1".into()),
        algorithm: Some("RSA".into()),
        signature_hash_algorithm: Some("SHA256".into()),
        authentication: vec![
            CertAuthentication {
                name: Some("example.org".into()),
                method: Some(AuthMethod::Dns),
                dns: Some("_dnsauth.example.org\t300\tIN\tTXT\t\"token\"".into()),
                provisioning: Some(true),
                ..Default::default()
            },
            CertAuthentication {
                name: Some("anna@example.org".into()),
                method: Some(AuthMethod::Email),
                approver_emails: vec!["anna@example.org".into(), "admin@example.org".into()],
                file_name: Some("x/.well-known/pki-validation/fileauth.txt".into()),
                file_content: Some("abc".into()),
                provisioning: Some(false),
                ..Default::default()
            },
        ],
    }
}

fn full_job(status: JobStatus) -> Job {
    Job {
        id: Some(4309872209),
        created: naive("2026-11-28 10:00:00"),
        updated: zoned("2026-11-28T10:05:00.000+0100"),
        owner: user(),
        updater: user(),
        status: Some(status),
        sub_status: Some("WF_EMAIL_AUTH".into()),
        execution: naive("2026-11-28 10:04:59"),
        sub_type: Some("GLOBALSIGN_PERSONALSIGN_1".into()),
        action: Some("create".into()),
        ctid: Some("smime-anna-gen1".into()),
        events: Vec::new(),
    }
}

fn certificate_object() -> ResponseObject {
    ResponseObject {
        kind: Some("Certificate".into()),
        value: Some("anna@example.org".into()),
        summary: None,
        data: Some(json!({"id": 1658050, "name": "anna@example.org", "orderId": "PC2016"})),
    }
}

fn full_poll_message() -> PollMessage {
    PollMessage {
        id: Some(1005360985),
        owner: user(),
        job: Some(full_job(JobStatus::Failed)),
        notify: None,
        stid: Some("20261128-app2-1".into()),
        ctid: Some("smime-anna-gen1".into()),
        messages: vec![Message {
            text: Some("Validation failed".into()),
            notice: None,
            messages: vec![Message {
                code: Some("EF400139".into()),
                text: Some("nested".into()),
                ..Default::default()
            }],
            objects: vec![GenericObject {
                kind: Some("Certificate".into()),
                value: Some("anna@example.org".into()),
            }],
            code: Some("EF01000".into()),
            status: Some(StatusType::Error),
        }],
        flags: Some("none".into()),
        notice: Some("note".into()),
        created: naive("2026-11-28 10:05:00"),
        object: Some(certificate_object()),
    }
}

fn notify_message() -> PollMessage {
    PollMessage {
        id: Some(77),
        notify: Some(NotifyMessage {
            kind: Some("domain_away".into()),
            object: Some(ResponseObject {
                kind: Some("Domain".into()),
                value: Some("example.com".into()),
                summary: None,
                data: None,
            }),
        }),
        ..Default::default()
    }
}

fn full_object_job() -> ObjectJob {
    ObjectJob {
        job: Some(full_job(JobStatus::Deferred)),
        object: Some(certificate_object()),
        authentication: vec![AuthenticationStatus {
            status: Some("IN_PROGRESS".into()),
            step: Some("CONSUMER_AUTHENTICATION".into()),
            updated: naive("2026-11-28 10:01:00"),
        }],
        notices: vec!["waiting for the approval mail".into()],
    }
}

fn status(code: &str, kind: StatusType) -> Option<ResponseStatus> {
    Some(ResponseStatus {
        code: Some(code.into()),
        text: Some(format!("text of {code}")),
        kind: Some(kind),
    })
}

fn envelope<T>(
    code: &str,
    kind: StatusType,
    object: Option<ResponseObject>,
    data: Vec<T>,
) -> Envelope<T> {
    Envelope {
        stid: Some("20261128-app1-7".into()),
        ctid: Some("ctid-7".into()),
        status: status(code, kind),
        object,
        data,
        messages: Vec::new(),
    }
}

pub(crate) fn all_tasks() -> Vec<Task> {
    let with_id = |id| {
        let mut c = full_certificate();
        c.id = Some(id);
        Box::new(c)
    };
    vec![
        Task::SslContactCreate(full_contact()),
        Task::SslContactInfo { id: 37791 },
        Task::SslContactList(Query::default()),
        Task::SslContactList(Query {
            filters: vec![
                QueryFilter {
                    key: Some("email".into()),
                    value: Some("hostmaster@%".into()),
                    operator: Some("LIKE".into()),
                },
                QueryFilter {
                    key: Some("country".into()),
                    value: Some("DE".into()),
                    operator: Some("EQUAL".into()),
                },
            ],
            view: Some(QueryView {
                limit: Some(50),
                offset: Some(100),
            }),
        }),
        Task::CertificatePrepareOrder(full_certificate_data()),
        Task::CertificateCreate(Box::new(Certificate {
            id: None,
            ..full_certificate()
        })),
        Task::CertificateInfo { id: 1658050 },
        Task::CertificateList(Query::equal("name", "anna@example.org")),
        Task::JobInfo { id: 4309872209 },
        Task::JobList(Query::equal("object", "anna@example.org").page(100, 200)),
        Task::JobHistoryList(
            Query::equal("object", "anna@example.org")
                .and("created", "GREATER_EQUAL", "2026-11-28 09:50:00")
                .page(100, 0),
        ),
        Task::CertificateRenew(with_id(1658050)),
        Task::CertificateReissue(with_id(1658051)),
        Task::CertificateDelete { id: 1658052 },
        Task::CertificateRevoke(Box::new(Certificate {
            id: Some(1658053),
            serial_number: Some("0A1B2C".into()),
            ..Default::default()
        })),
        Task::PollInfo,
        Task::PollConfirm { id: 1005360985 },
    ]
}
