//! The XML gateway codec: pure functions between the typed model and gateway bodies (no IO).
//!
//! Request shape (reference §1.2): `<request><auth>…</auth><task><code>…</code><ctid>…</ctid>
//! payload</task></request>`. Response shape (§1.7): `<response><result><data>…</data><msg>…</msg>
//! <status>…</status></result><stid>…</stid></response>`. Element names per task follow §2.3–§2.14
//! and the seed page; names the sources never show are marked **[INFER]** where they are used.
//!
//! Safety: the parser refuses any `DOCTYPE` (and with it every entity declaration) and never
//! expands entities: only the five predefined ones and character references are resolved; any
//! other `&name;` is an error. Nesting depth is bounded so hostile input cannot exhaust the stack.
//!
//! Leading and trailing whitespace of a value is not significant (the gateway's samples indent
//! freely), so values are trimmed; a PEM comes back without its final newline.
//!
//! Parsing goes through a small element tree ([`Element`]) rather than serde, because the gateway
//! mixes shapes serde handles poorly (a job `status` that is text in one answer and a
//! `{code,text,type}` block in another, repeated elements, PEM in CDATA).

use serde_json::Value;

use super::error::Error;
use super::model::*;
use crate::secret::Secret;
use crate::xmltree::{self, Limits};

// ---------------------------------------------------------------------------------------------
// Element tree
// ---------------------------------------------------------------------------------------------

pub use crate::xmltree::Element;

/// Deepest nesting accepted. The deepest real shape (a certificate's contact owner inside a job
/// inside a poll message) is under 10 levels.
const MAX_DEPTH: usize = 48;

/// The gateway's bounds: depth as above; the element count is bounded by the transport's body
/// cap (`client::MAX_BODY`) rather than here.
const LIMITS: Limits = Limits {
    max_depth: MAX_DEPTH,
    max_elements: usize::MAX,
};

/// Parses a document into its root element with the shared reader ([`crate::xmltree`]): refuses
/// DOCTYPE, undeclared entities, truncated and multi-root documents, and nesting deeper than
/// [`MAX_DEPTH`]. A leading byte order mark is dropped.
pub fn parse_document(body: &[u8]) -> Result<Element, String> {
    xmltree::parse_bytes(body, LIMITS).map_err(String::from)
}

// ---------------------------------------------------------------------------------------------
// Field helpers
// ---------------------------------------------------------------------------------------------

type R<T> = Result<T, String>;

fn opt_i64(el: &Element, name: &str) -> R<Option<i64>> {
    match el.text_of(name) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("<{}>/<{name}> is not an integer: {:?}", el.name, clip(&t))),
    }
}

fn opt_u64(el: &Element, name: &str) -> R<Option<u64>> {
    match el.text_of(name) {
        None => Ok(None),
        Some(t) => t
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("<{}>/<{name}> is not a count: {:?}", el.name, clip(&t))),
    }
}

fn opt_date(el: &Element, name: &str) -> R<Option<Timestamp>> {
    match el.text_of(name) {
        None => Ok(None),
        Some(t) => Timestamp::parse(&t)
            .map(Some)
            .ok_or_else(|| format!("<{}>/<{name}> is not a date: {:?}", el.name, clip(&t))),
    }
}

fn opt_bool(el: &Element, name: &str) -> R<Option<bool>> {
    match el.text_of(name) {
        None => Ok(None),
        Some(t) => parse_bool(&t)
            .map(Some)
            .ok_or_else(|| format!("<{}>/<{name}> is not a boolean: {:?}", el.name, clip(&t))),
    }
}

fn clip(t: &str) -> String {
    t.chars().take(40).collect()
}

fn date_text(t: &Option<Timestamp>) -> Option<String> {
    t.as_ref().map(Timestamp::to_api_string)
}

// ---------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------

fn read_user(el: Option<&Element>) -> R<Option<BasicUser>> {
    let Some(el) = el else { return Ok(None) };
    // The seed page writes the literal placeholder `CONTEXT`; a context we cannot read is kept
    // out rather than failing the whole answer, since nothing depends on it.
    let context = el.text_of("context").and_then(|t| t.parse::<i64>().ok());
    Ok(Some(BasicUser {
        context,
        user: el.text_of("user"),
    }))
}

fn write_user(name: &str, u: &Option<BasicUser>) -> Option<Element> {
    let u = u.as_ref()?;
    let mut e = Element::new(name);
    e.push_text("user", u.user.as_deref())
        .push_display("context", u.context);
    Some(e)
}

/// `SslContact` ↔ `<contact>` (§2.11: `first`, `last`, `postal_code`; address repeatable [INFER]).
pub fn read_contact(el: &Element) -> R<SslContact> {
    Ok(SslContact {
        id: opt_i64(el, "id")?,
        created: opt_date(el, "created")?,
        updated: opt_date(el, "updated")?,
        owner: read_user(el.child("owner"))?,
        updater: read_user(el.child("updater"))?,
        fname: el.text_of("first"),
        lname: el.text_of("last"),
        phone: el.text_of("phone"),
        fax: el.text_of("fax"),
        email: el.text_of("email"),
        title: el.text_of("title"),
        organization: el.text_of("organization"),
        address: el
            .children_named("address")
            .filter_map(Element::trimmed)
            .collect(),
        pcode: el.text_of("postal_code"),
        city: el.text_of("city"),
        country: el.text_of("country"),
        state: el.text_of("state"),
    })
}

/// Writes a contact under `name` (`contact`, `admin`, `technical`).
pub fn write_contact(name: &str, c: &SslContact) -> Element {
    let mut e = Element::new(name);
    e.push_text("first", c.fname.as_deref())
        .push_text("last", c.lname.as_deref())
        .push_text("phone", c.phone.as_deref())
        .push_text("fax", c.fax.as_deref())
        .push_text("email", c.email.as_deref())
        .push_text("title", c.title.as_deref())
        .push_text("organization", c.organization.as_deref());
    for a in &c.address {
        e.push_text("address", Some(a));
    }
    e.push_text("postal_code", c.pcode.as_deref())
        .push_text("city", c.city.as_deref())
        .push_text("country", c.country.as_deref())
        .push_text("state", c.state.as_deref());
    if let Some(o) = write_user("owner", &c.owner) {
        e.push(o);
    }
    if let Some(o) = write_user("updater", &c.updater) {
        e.push(o);
    }
    e.push_display("id", c.id)
        .push_text("created", date_text(&c.created).as_deref())
        .push_text("updated", date_text(&c.updated).as_deref());
    e
}

fn read_auth(el: &Element) -> R<CertAuthentication> {
    // [INFER] snake_case names beyond `method`, `dns`, `provisioning` (§2.14 CertAuthentication).
    let mut approver_emails: Vec<String> = el
        .children_named("approver_email")
        .filter_map(Element::trimmed)
        .collect();
    if let Some(list) = el.child("approver_emails") {
        approver_emails.extend(list.children.iter().filter_map(Element::trimmed));
        approver_emails.extend(list.trimmed());
    }
    Ok(CertAuthentication {
        name: el.text_of("name"),
        method: el.text_of("method").map(|m| AuthMethod::parse(&m)),
        dns: el.text_of("dns"),
        file_name: el.text_of("file_name"),
        file_content: el.text_of("file_content"),
        approver_emails,
        provisioning: opt_bool(el, "provisioning")?,
    })
}

fn write_auth(a: &CertAuthentication) -> Element {
    let mut e = Element::new("authentication");
    e.push_text("name", a.name.as_deref())
        .push_text("method", a.method.as_ref().map(|m| m.as_str()))
        .push_text("dns", a.dns.as_deref())
        .push_text("file_name", a.file_name.as_deref())
        .push_text("file_content", a.file_content.as_deref());
    for m in &a.approver_emails {
        e.push_text("approver_email", Some(m));
    }
    // The gateway writes booleans as 0/1 here (§2.3 XML request).
    e.push_text(
        "provisioning",
        a.provisioning.map(|b| if b { "1" } else { "0" }),
    );
    e
}

/// True when `auth` says nothing beyond "approve by mail at `approver`": the XML gateway carries
/// that as `<approver_email>` alone (seed page), so the block is not written.
fn auth_is_just_approver(auth: &CertAuthentication, approver: Option<&str>) -> bool {
    approver.is_some()
        && auth.method == Some(AuthMethod::Email)
        && auth.approver_emails.len() == 1
        && auth.approver_emails.first().map(String::as_str) == approver
        && auth.name.is_none()
        && auth.dns.is_none()
        && auth.file_name.is_none()
        && auth.file_content.is_none()
        && auth.provisioning.is_none()
}

/// True when `text` holds a PEM certificate.
fn has_pem_cert(text: &str) -> bool {
    text.contains("-----BEGIN CERTIFICATE-----")
}

/// `Certificate` ↔ `<certificate>` (§2.14 XML column, seed page).
pub fn read_certificate(el: &Element) -> R<Certificate> {
    let lifetime = opt_i64(el, "lifetime")?.map(|months| TimePeriod {
        unit: Some(TimeUnit::Month),
        period: Some(months),
    });
    let approver_email = el.text_of("approver_email");
    let mut authentication = match el.child("authentication") {
        Some(a) => Some(read_auth(a)?),
        None => None,
    };
    if authentication.is_none() {
        if let Some(a) = &approver_email {
            authentication = Some(CertAuthentication {
                method: Some(AuthMethod::Email),
                approver_emails: vec![a.clone()],
                ..Default::default()
            });
        }
    }
    // The chain's XML element is not documented (§4.5). [INFER] we write and read
    // `<certification_authority><ca_type/><ca_certificate/></certification_authority>`, and as a
    // fallback take any other PEM certificate found under the certificate as a chain member, in
    // document order, with its type unknown.
    let mut chain = Vec::new();
    for ca in el.children_named("certification_authority") {
        chain.push(CaCertificate {
            created: opt_date(ca, "created")?,
            updated: opt_date(ca, "updated")?,
            ca_type: ca.text_of("ca_type").map(|t| CaType::parse(&t)),
            ca_certificate: ca.text_of("ca_certificate").or_else(|| ca.trimmed()),
        });
    }
    if chain.is_empty() {
        const KNOWN: &[&str] = &["server", "csr", "certification_authority", "histories"];
        for c in el
            .children
            .iter()
            .filter(|c| !KNOWN.contains(&c.name.as_str()))
        {
            collect_pems(c, &mut chain);
        }
    }
    let mut sans = Vec::new();
    for s in el.children_named("subject_alternative_name") {
        sans.push(SubjectAlternativeName {
            name: s.text_of("name").or_else(|| {
                if s.children.is_empty() {
                    s.trimmed()
                } else {
                    None
                }
            }),
            approver_email: s.text_of("approver_email"),
        });
    }
    Ok(Certificate {
        id: opt_i64(el, "id")?,
        created: opt_date(el, "created")?,
        updated: opt_date(el, "updated")?,
        owner: read_user(el.child("owner"))?,
        updater: read_user(el.child("updater"))?,
        partner_order_id: el.text_of("partner_order_id"),
        order_id: el.text_of("order_id"),
        admin_contact: el.child("admin").map(read_contact).transpose()?,
        technical_contact: el.child("technical").map(read_contact).transpose()?,
        name: el.text_of("name"),
        lifetime,
        software: el.text_of("software"),
        comment: el.text_of("comment"),
        csr: el.text_of("csr"),
        server: el.text_of("server"),
        serial_number: el.text_of("serial_number"),
        product: el.text_of("product"),
        certificate_type: el
            .text_of("certificate_type")
            .map(|t| CertificateType::parse(&t)),
        signature_hash_algorithm: el.text_of("sha"),
        expire: opt_date(el, "expire")?,
        payable: opt_date(el, "payable")?,
        subject_alternative_names: sans,
        certification_authority: chain,
        password: el.text_of("password").map(Secret::new),
        firstname: el.text_of("firstname"),
        lastname: el.text_of("lastname"),
        organization_unit_name: el.text_of("organization_unit_name"),
        authentication,
        has_csr: opt_bool(el, "has_csr")?,
        approver_email,
    })
}

fn collect_pems(el: &Element, out: &mut Vec<CaCertificate>) {
    if has_pem_cert(&el.text) {
        out.push(CaCertificate {
            ca_certificate: el.trimmed(),
            ..Default::default()
        });
    }
    for c in &el.children {
        collect_pems(c, out);
    }
}

/// Writes a certificate as `<certificate>`. Contacts referenced by id only are written as
/// `<admin><id>…</id></admin>` (seed page).
pub fn write_certificate(c: &Certificate) -> Element {
    let mut e = Element::new("certificate");
    e.push_display("id", c.id)
        .push_text(
            "certificate_type",
            c.certificate_type.as_ref().map(|t| t.as_str()),
        )
        .push_text("product", c.product.as_deref())
        .push_display(
            "lifetime",
            c.lifetime.as_ref().and_then(TimePeriod::as_months),
        )
        .push_cdata("name", c.name.as_deref())
        .push_cdata("approver_email", c.approver_email.as_deref())
        .push_text("password", c.password.as_ref().map(|p| p.expose().as_str()))
        .push_text("firstname", c.firstname.as_deref())
        .push_text("lastname", c.lastname.as_deref())
        .push_text(
            "organization_unit_name",
            c.organization_unit_name.as_deref(),
        )
        .push_text(
            "has_csr",
            c.has_csr.map(|b| if b { "true" } else { "false" }),
        )
        .push_text("software", c.software.as_deref())
        .push_cdata("csr", c.csr.as_deref())
        .push_cdata("server", c.server.as_deref());
    for ca in &c.certification_authority {
        let mut x = Element::new("certification_authority");
        x.push_text("ca_type", ca.ca_type.as_ref().map(|t| t.as_str()))
            .push_cdata("ca_certificate", ca.ca_certificate.as_deref())
            .push_text("created", date_text(&ca.created).as_deref())
            .push_text("updated", date_text(&ca.updated).as_deref());
        e.push(x);
    }
    if let Some(a) = &c.admin_contact {
        e.push(write_contact("admin", a));
    }
    if let Some(t) = &c.technical_contact {
        e.push(write_contact("technical", t));
    }
    for s in &c.subject_alternative_names {
        let mut x = Element::new("subject_alternative_name");
        x.push_text("name", s.name.as_deref())
            .push_text("approver_email", s.approver_email.as_deref());
        e.push(x);
    }
    if let Some(a) = &c.authentication {
        if !auth_is_just_approver(a, c.approver_email.as_deref()) {
            e.push(write_auth(a));
        }
    }
    e.push_text("serial_number", c.serial_number.as_deref())
        .push_text("order_id", c.order_id.as_deref())
        .push_text("partner_order_id", c.partner_order_id.as_deref())
        .push_text("sha", c.signature_hash_algorithm.as_deref())
        .push_text("comment", c.comment.as_deref())
        .push_text("expire", date_text(&c.expire).as_deref())
        .push_text("payable", date_text(&c.payable).as_deref());
    if let Some(o) = write_user("owner", &c.owner) {
        e.push(o);
    }
    if let Some(o) = write_user("updater", &c.updater) {
        e.push(o);
    }
    e.push_text("created", date_text(&c.created).as_deref())
        .push_text("updated", date_text(&c.updated).as_deref());
    e
}

/// `CertificateData` ↔ `<certificate_request>` (§2.3; names beyond `product`, `plain`,
/// `authentication` are [INFER] snake_case).
pub fn read_certificate_data(el: &Element) -> R<CertificateData> {
    let mut authentication = Vec::new();
    for a in el.children_named("authentication") {
        authentication.push(read_auth(a)?);
    }
    Ok(CertificateData {
        plain: el.text_of("plain"),
        name: el.text_of("name"),
        key_size: opt_i64(el, "key_size")?,
        country_code: el.text_of("country_code"),
        state: el.text_of("state"),
        city: el.text_of("city"),
        organization: el.text_of("organization"),
        organization_unit: el.text_of("organization_unit"),
        email: el.text_of("email"),
        product: el.text_of("product"),
        algorithm: el.text_of("algorithm"),
        signature_hash_algorithm: el.text_of("signature_hash_algorithm"),
        authentication,
    })
}

/// Writes `<certificate_request>`.
pub fn write_certificate_data(d: &CertificateData) -> Element {
    let mut e = Element::new("certificate_request");
    e.push_text("product", d.product.as_deref())
        .push_cdata("plain", d.plain.as_deref())
        .push_text("name", d.name.as_deref())
        .push_display("key_size", d.key_size)
        .push_text("country_code", d.country_code.as_deref())
        .push_text("state", d.state.as_deref())
        .push_text("city", d.city.as_deref())
        .push_text("organization", d.organization.as_deref())
        .push_text("organization_unit", d.organization_unit.as_deref())
        .push_text("email", d.email.as_deref())
        .push_text("algorithm", d.algorithm.as_deref())
        .push_text(
            "signature_hash_algorithm",
            d.signature_hash_algorithm.as_deref(),
        );
    for a in &d.authentication {
        e.push(write_auth(a));
    }
    e
}

/// A job's `<status>` is plain text in job answers (`RUNNING`, §2.4) and a
/// `<status><code/><text/><type>success|error</type></status>` block in poll messages (§3.3).
fn read_job_status(el: &Element) -> Option<JobStatus> {
    let st = el.child("status")?;
    if st.children.is_empty() {
        return st.trimmed().map(|t| JobStatus::parse(&t));
    }
    let t = st.text_of("type")?;
    Some(match t.to_ascii_lowercase().as_str() {
        "success" => JobStatus::Success,
        "error" => JobStatus::Failed,
        _ => JobStatus::parse(&t),
    })
}

/// `Job` ↔ `<job>` (§2.12 XML job list).
pub fn read_job(el: &Element) -> R<Job> {
    Ok(Job {
        id: opt_i64(el, "id")?,
        created: opt_date(el, "created")?,
        updated: opt_date(el, "updated")?,
        owner: read_user(el.child("owner"))?,
        updater: read_user(el.child("updater"))?,
        status: read_job_status(el),
        sub_status: el.text_of("sub_status"),
        execution: opt_date(el, "execution")?,
        sub_type: el.text_of("sub_type"),
        action: el.text_of("action"),
        // [INFER] §3.3: the job of a poll message carries the original task's `<ctid>`; a job
        // list entry is taken to do the same.
        ctid: el.text_of("ctid"),
        events: Vec::new(),
    })
}

/// Writes `<job>`.
pub fn write_job(j: &Job) -> Element {
    let mut e = Element::new("job");
    e.push_display("id", j.id);
    if let Some(o) = write_user("owner", &j.owner) {
        e.push(o);
    }
    if let Some(o) = write_user("updater", &j.updater) {
        e.push(o);
    }
    e.push_text("status", j.status.as_ref().map(|s| s.as_str()))
        .push_text("sub_status", j.sub_status.as_deref())
        .push_text("created", date_text(&j.created).as_deref())
        .push_text("updated", date_text(&j.updated).as_deref())
        .push_text("sub_type", j.sub_type.as_deref())
        .push_text("action", j.action.as_deref())
        .push_text("execution", date_text(&j.execution).as_deref())
        .push_text("ctid", j.ctid().map(str::to_string).as_deref());
    e
}

/// Converts an element subtree into JSON: children become object members (repeated names become
/// arrays), leaves become strings, or numbers when they are canonical integers.
pub fn element_to_json(el: &Element) -> Value {
    if el.children.is_empty() {
        let t = el.text.trim();
        if let Ok(i) = t.parse::<i64>() {
            if i.to_string() == t {
                return Value::from(i);
            }
        }
        return Value::String(t.to_string());
    }
    let mut map = serde_json::Map::new();
    for c in &el.children {
        let v = element_to_json(c);
        match map.get_mut(&c.name) {
            Some(Value::Array(a)) => a.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                map.insert(c.name.clone(), v);
            }
        }
    }
    Value::Object(map)
}

/// The inverse of [`element_to_json`] for objects, arrays and scalars.
pub fn json_to_element(name: &str, v: &Value, out: &mut Element) {
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for i in items {
                json_to_element(name, i, out);
            }
        }
        Value::Object(map) => {
            let mut e = Element::new(name);
            for (k, v) in map {
                json_to_element(k, v, &mut e);
            }
            out.push(e);
        }
        Value::String(s) => {
            out.push(Element::leaf(name, s.as_str()));
        }
        Value::Bool(b) => {
            out.push(Element::leaf(name, b.to_string()));
        }
        Value::Number(n) => {
            out.push(Element::leaf(name, n.to_string()));
        }
    }
}

fn read_object(el: &Element) -> R<ResponseObject> {
    Ok(ResponseObject {
        kind: el.text_of("type"),
        value: el.text_of("value"),
        summary: opt_u64(el, "summary")?,
        data: el.child("data").map(element_to_json),
    })
}

fn write_object(name: &str, o: &ResponseObject, with_summary: bool) -> Element {
    let mut e = Element::new(name);
    e.push_text("type", o.kind.as_deref())
        .push_text("value", o.value.as_deref());
    if with_summary {
        e.push_display("summary", o.summary);
    }
    if let Some(d) = &o.data {
        json_to_element("data", d, &mut e);
    }
    e
}

/// `ObjectJob` ↔ `<certificate_job>` (§2.12): the job, the validation progress and the
/// certificate it works on (kept as the object's free `data`, type `certificate`).
pub fn read_object_job(el: &Element) -> R<ObjectJob> {
    let mut authentication = Vec::new();
    for a in el.children_named("authentication") {
        authentication.push(AuthenticationStatus {
            status: a.text_of("status"),
            step: a.text_of("step"),
            updated: opt_date(a, "updated")?,
        });
    }
    let object = match (el.child("object"), el.child("certificate")) {
        (Some(o), _) => Some(read_object(o)?),
        (None, Some(c)) => Some(ResponseObject {
            kind: Some("certificate".into()),
            value: c.text_of("name"),
            summary: None,
            data: Some(element_to_json(c)),
        }),
        // The job list (400115/400135) names the object as text inside the job:
        // `<job><object>domain.de</object><type>ssl</type>…` (§2.12).
        (None, None) => el
            .child("job")
            .and_then(|j| j.child("object"))
            .filter(|o| o.children.is_empty())
            .and_then(Element::trimmed)
            .map(|name| ResponseObject {
                kind: Some("certificate".into()),
                value: Some(name),
                summary: None,
                data: None,
            }),
    };
    Ok(ObjectJob {
        job: el.child("job").map(read_job).transpose()?,
        object,
        authentication,
        notices: el
            .children_named("notice")
            .filter_map(Element::trimmed)
            .collect(),
    })
}

/// Writes `<certificate_job>`.
pub fn write_object_job(o: &ObjectJob) -> Element {
    let mut e = Element::new("certificate_job");
    if let Some(j) = &o.job {
        e.push(write_job(j));
    }
    for a in &o.authentication {
        let mut x = Element::new("authentication");
        x.push_text("status", a.status.as_deref())
            .push_text("step", a.step.as_deref())
            .push_text("updated", date_text(&a.updated).as_deref());
        e.push(x);
    }
    if let Some(obj) = &o.object {
        e.push(write_object("object", obj, false));
    }
    for n in &o.notices {
        e.push_text("notice", Some(n));
    }
    e
}

fn read_msg(el: &Element) -> R<Message> {
    let mut objects = Vec::new();
    for o in el.children_named("object") {
        objects.push(GenericObject {
            kind: o.text_of("type"),
            value: o.text_of("value"),
        });
    }
    let mut nested = Vec::new();
    for m in el.children_named("msg") {
        nested.push(read_msg(m)?);
    }
    Ok(Message {
        text: el.text_of("text"),
        notice: el.text_of("notice"),
        messages: nested,
        objects,
        code: el.text_of("code"),
        status: el.text_of("type").map(|t| StatusType::parse(&t)),
    })
}

fn write_msg(name: &str, m: &Message) -> Element {
    let mut e = Element::new(name);
    e.push_text("code", m.code.as_deref())
        .push_text("text", m.text.as_deref())
        .push_text("notice", m.notice.as_deref())
        .push_text("type", m.status.as_ref().map(xml_status_type).as_deref());
    for o in &m.objects {
        let mut x = Element::new("object");
        x.push_text("type", o.kind.as_deref())
            .push_text("value", o.value.as_deref());
        e.push(x);
    }
    for n in &m.messages {
        e.push(write_msg("msg", n));
    }
    e
}

/// The XML gateway writes status types in lower case (§1.7); a value we do not know is written
/// back as the server sent it.
fn xml_status_type(t: &StatusType) -> String {
    match t {
        StatusType::Unknown(s) => s.clone(),
        known => known.as_str().to_ascii_lowercase(),
    }
}

/// `PollMessage` ↔ `<message>` (§3.3). Failure details come as `<msg>` or `<nic_response>`
/// children of the message or its job; the ctid may sit in the message or in its job.
pub fn read_poll_message(el: &Element) -> R<PollMessage> {
    let job_el = el.child("job");
    let mut messages = Vec::new();
    for m in el.children_named("msg") {
        messages.push(read_msg(m)?);
    }
    if let Some(j) = job_el {
        for m in j.children_named("msg") {
            messages.push(read_msg(m)?);
        }
        for n in j.children_named("nic_response") {
            messages.push(Message {
                text: n.trimmed().or_else(|| n.text_of("text")),
                code: n.text_of("code"),
                ..Default::default()
            });
        }
    }
    let notify = match el.child("notify") {
        Some(n) => Some(NotifyMessage {
            kind: n.text_of("type"),
            object: n.child("object").map(read_object).transpose()?,
        }),
        None => None,
    };
    Ok(PollMessage {
        id: opt_i64(el, "id")?,
        owner: read_user(el.child("owner"))?,
        job: job_el.map(read_job).transpose()?,
        notify,
        stid: el.text_of("stid"),
        ctid: el
            .text_of("ctid")
            .or_else(|| job_el.and_then(|j| j.text_of("ctid"))),
        messages,
        flags: el.text_of("flags"),
        notice: el.text_of("notice"),
        created: opt_date(el, "created")?,
        object: el.child("object").map(read_object).transpose()?,
    })
}

/// Writes `<message>`.
pub fn write_poll_message(m: &PollMessage) -> Element {
    let mut e = Element::new("message");
    e.push_display("id", m.id);
    if let Some(o) = write_user("owner", &m.owner) {
        e.push(o);
    }
    if let Some(j) = &m.job {
        e.push(write_job(j));
    }
    if let Some(n) = &m.notify {
        let mut x = Element::new("notify");
        x.push_text("type", n.kind.as_deref());
        if let Some(o) = &n.object {
            x.push(write_object("object", o, true));
        }
        e.push(x);
    }
    e.push_text("stid", m.stid.as_deref())
        .push_text("ctid", m.ctid.as_deref())
        .push_text("flags", m.flags.as_deref())
        .push_text("notice", m.notice.as_deref())
        .push_text("created", date_text(&m.created).as_deref());
    if let Some(o) = &m.object {
        e.push(write_object("object", o, true));
    }
    for msg in &m.messages {
        e.push(write_msg("msg", msg));
    }
    e
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

/// A type that can be the payload of `result/data`.
pub trait XmlPayload: Sized {
    /// Reads every item of this type from `<data>`.
    fn read_data(data: &Element) -> R<Vec<Self>>;
    /// Writes the items into `<data>`.
    fn write_data(items: &[Self], data: &mut Element);
}

impl XmlPayload for Void {
    fn read_data(_: &Element) -> R<Vec<Self>> {
        Ok(Vec::new())
    }
    fn write_data(_: &[Self], _: &mut Element) {}
}

impl XmlPayload for SslContact {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("contact").map(read_contact).collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for c in items {
            data.push(write_contact("contact", c));
        }
    }
}

impl XmlPayload for Certificate {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("certificate")
            .map(read_certificate)
            .collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for c in items {
            data.push(write_certificate(c));
        }
    }
}

impl XmlPayload for CertificateData {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("certificate_request")
            .map(read_certificate_data)
            .collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for c in items {
            data.push(write_certificate_data(c));
        }
    }
}

impl XmlPayload for Job {
    /// `result/data/certificate_job/job` (§2.4), or a bare `<job>`.
    fn read_data(data: &Element) -> R<Vec<Self>> {
        let mut out = Vec::new();
        for cj in data.children_named("certificate_job") {
            for j in cj.children_named("job") {
                out.push(read_job(j)?);
            }
        }
        for j in data.children_named("job") {
            out.push(read_job(j)?);
        }
        Ok(out)
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for j in items {
            let mut cj = Element::new("certificate_job");
            cj.push(write_job(j));
            data.push(cj);
        }
    }
}

impl XmlPayload for ObjectJob {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("certificate_job")
            .map(read_object_job)
            .collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for o in items {
            data.push(write_object_job(o));
        }
    }
}

impl XmlPayload for PollMessage {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("message")
            .map(read_poll_message)
            .collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for m in items {
            data.push(write_poll_message(m));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// Decodes a gateway answer into the envelope, without judging success (see
/// `error::check`). Any body that is not a `<response>` document is `Malformed`.
pub fn decode_response<T: XmlPayload>(
    task: &'static str,
    http_status: u16,
    body: &[u8],
) -> Result<Envelope<T>, Error> {
    let root = parse_document(body).map_err(|r| Error::malformed(task, http_status, r))?;
    decode_response_element(&root).map_err(|r| Error::malformed(task, http_status, r))
}

/// Decodes an already-parsed `<response>`.
pub fn decode_response_element<T: XmlPayload>(root: &Element) -> R<Envelope<T>> {
    if root.name != "response" {
        return Err(format!(
            "not an AutoDNS gateway answer (root element <{}>)",
            clip(&root.name)
        ));
    }
    let result = root.child("result").ok_or("no <result> in the answer")?;
    let status_el = result.child("status");
    let status = status_el.map(|s| ResponseStatus {
        code: s.text_of("code"),
        text: s.text_of("text"),
        kind: s.text_of("type").map(|t| StatusType::parse(&t)),
    });
    if status.is_none() && result.child("data").is_none() {
        return Err("<result> has neither <status> nor <data>".into());
    }
    // An empty `<object/>` says nothing; it is the same as none (and is not written back).
    let mut object = match status_el.and_then(|s| s.child("object")) {
        Some(o) => Some(read_object(o)?).filter(|o| *o != ResponseObject::default()),
        None => None,
    };
    let mut data = Vec::new();
    if let Some(d) = result.child("data") {
        if let Some(summary) = opt_u64(d, "summary")? {
            object.get_or_insert_with(ResponseObject::default).summary = Some(summary);
        }
        data = T::read_data(d)?;
    }
    let mut messages = Vec::new();
    for m in result.children_named("msg") {
        messages.push(read_msg(m)?);
    }
    Ok(Envelope {
        stid: root.text_of("stid").or_else(|| result.text_of("stid")),
        ctid: root.text_of("ctid").or_else(|| result.text_of("ctid")),
        status,
        object,
        data,
        messages,
    })
}

/// Encodes an envelope as a gateway answer. `object.summary` goes into `<data><summary>` (§1.7).
pub fn encode_response<T: XmlPayload>(env: &Envelope<T>) -> Vec<u8> {
    let mut result = Element::new("result");
    let mut data = Element::new("data");
    if let Some(s) = env.object.as_ref().and_then(|o| o.summary) {
        data.push_display("summary", Some(s));
    }
    T::write_data(&env.data, &mut data);
    result.push(data);
    for m in &env.messages {
        result.push(write_msg("msg", m));
    }
    if let Some(st) = &env.status {
        let mut s = Element::new("status");
        s.push_text("code", st.code.as_deref())
            .push_text("text", st.text.as_deref())
            .push_text("type", st.kind.as_ref().map(xml_status_type).as_deref());
        if let Some(o) = &env.object {
            if o.kind.is_some() || o.value.is_some() || o.data.is_some() {
                s.push(write_object("object", o, false));
            }
        }
        result.push(s);
    }
    let mut root = Element::new("response");
    root.push(result);
    root.push_text("stid", env.stid.as_deref())
        .push_text("ctid", env.ctid.as_deref());
    root.to_document()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// The gateway's auth block (§1.2). The password is a [`Secret`]; it appears only in the encoded
/// body.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlAuth {
    /// AutoDNS user.
    pub user: String,
    /// Password.
    pub password: Secret<String>,
    /// Context number.
    pub context: u32,
}

fn write_query(task: &mut Element, q: &Query) {
    // [INFER] §2.6: `<view><limit/><offset/></view>` and one `<where>` holding the first filter's
    // `<key/><operator/><value/>`, each further filter in an `<and>` child; operators in the
    // gateway's lower-case spelling (`eq`, `like`).
    if let Some(v) = &q.view {
        let mut e = Element::new("view");
        e.push_display("limit", v.limit)
            .push_display("offset", v.offset);
        task.push(e);
    }
    let condition = |name: &str, f: &QueryFilter| {
        let mut e = Element::new(name);
        e.push_text("key", f.key.as_deref())
            .push_text(
                "operator",
                f.operator.as_deref().map(xml_operator).as_deref(),
            )
            .push_text("value", f.value.as_deref());
        e
    };
    let mut filters = q.filters.iter();
    if let Some(first) = filters.next() {
        let mut w = condition("where", first);
        for f in filters {
            w.push(condition("and", f));
        }
        task.push(w);
    }
}

fn xml_operator(json: &str) -> String {
    match json.to_ascii_uppercase().as_str() {
        "EQUAL" => "eq".into(),
        "NOT_EQUAL" => "ne".into(),
        other => other.to_ascii_lowercase(),
    }
}

fn json_operator(xml: &str) -> String {
    match xml.to_ascii_lowercase().as_str() {
        "eq" => "EQUAL".into(),
        "ne" => "NOT_EQUAL".into(),
        other => other.to_ascii_uppercase(),
    }
}

fn read_query(task: &Element) -> R<Query> {
    let view = match task.child("view") {
        Some(v) => Some(QueryView {
            limit: opt_i64(v, "limit")?,
            offset: opt_i64(v, "offset")?,
        }),
        None => None,
    };
    let condition = |c: &Element| QueryFilter {
        key: c.text_of("key"),
        value: c.text_of("value"),
        operator: c.text_of("operator").map(|o| json_operator(&o)),
    };
    let mut filters = Vec::new();
    if let Some(w) = task.child("where") {
        filters.push(condition(w));
        filters.extend(w.children_named("and").map(condition));
    }
    Ok(Query { filters, view })
}

fn id_only(name: &str, id: i64) -> Element {
    let mut e = Element::new(name);
    e.push_display("id", Some(id));
    e
}

/// Encodes a request for the gateway. Fails only for `Hello`, which the gateway does not have.
pub fn encode_request(auth: &XmlAuth, req: &Request) -> Result<Vec<u8>, Error> {
    let task = &req.task;
    let code = task.xml_code().ok_or_else(|| Error::InvalidRequest {
        task: task.name(),
        reason: "the XML gateway has no such task".into(),
    })?;
    let mut t = Element::new("task");
    t.push_text("code", Some(code));
    match task {
        // Refused above (no gateway code); listed so the match stays exhaustive.
        Task::Hello | Task::JobHistory { .. } | Task::PollInfo => {}
        Task::SslContactCreate(c) => {
            t.push(write_contact("contact", c));
        }
        Task::SslContactInfo { id } => {
            t.push(id_only("contact", *id));
        }
        Task::SslContactList(q)
        | Task::CertificateList(q)
        | Task::JobList(q)
        | Task::JobHistoryList(q) => write_query(&mut t, q),
        Task::CertificatePrepareOrder(d) => {
            t.push(write_certificate_data(d));
        }
        Task::CertificateCreate(c)
        | Task::CertificateRenew(c)
        | Task::CertificateReissue(c)
        | Task::CertificateRevoke(c) => {
            t.push(write_certificate(c));
        }
        Task::CertificateInfo { id } | Task::CertificateDelete { id } => {
            t.push(id_only("certificate", *id));
        }
        Task::JobInfo { id } => {
            let mut cj = Element::new("certificate_job");
            cj.push(id_only("job", *id));
            t.push(cj);
        }
        Task::PollConfirm { id } => {
            t.push(id_only("message", *id));
        }
    }
    t.push_text("ctid", req.ctid.as_deref());

    let mut a = Element::new("auth");
    a.push_text("user", Some(&auth.user))
        .push_text("password", Some(auth.password.expose()))
        .push_display("context", Some(auth.context));
    let mut root = Element::new("request");
    root.push(a).push(t);
    Ok(root.to_document())
}

fn need_id(el: Option<&Element>, what: &str) -> R<i64> {
    let el = el.ok_or_else(|| format!("no <{what}> in the task"))?;
    opt_i64(el, "id")?.ok_or_else(|| format!("<{what}> has no <id>"))
}

/// Decodes a gateway request (the inverse of [`encode_request`]; for round-trip tests and for
/// anything that must read requests, such as a stand-in server).
pub fn decode_request(body: &[u8]) -> Result<(XmlAuth, Request), String> {
    let root = parse_document(body)?;
    if root.name != "request" {
        return Err(format!(
            "root element is <{}>, not <request>",
            clip(&root.name)
        ));
    }
    let a = root.child("auth").ok_or("no <auth> block")?;
    let auth = XmlAuth {
        user: a.text_of("user").unwrap_or_default(),
        password: Secret::new(a.text_of("password").unwrap_or_default()),
        context: a
            .text_of("context")
            .and_then(|c| c.parse().ok())
            .ok_or("<auth>/<context> is not a number")?,
    };
    let t = root.child("task").ok_or("no <task>")?;
    let code = t.text_of("code").ok_or("no <task>/<code>")?;
    let cert = || -> R<Box<Certificate>> {
        Ok(Box::new(read_certificate(
            t.child("certificate").ok_or("no <certificate>")?,
        )?))
    };
    let task = match code.as_str() {
        "400201" => {
            Task::SslContactCreate(read_contact(t.child("contact").ok_or("no <contact>")?)?)
        }
        "400204" => Task::SslContactInfo {
            id: need_id(t.child("contact"), "contact")?,
        },
        "400205" => Task::SslContactList(read_query(t)?),
        "400110" => Task::CertificatePrepareOrder(read_certificate_data(
            t.child("certificate_request")
                .ok_or("no <certificate_request>")?,
        )?),
        "400101" => Task::CertificateCreate(cert()?),
        "400104" => Task::CertificateInfo {
            id: need_id(t.child("certificate"), "certificate")?,
        },
        "400105" => Task::CertificateList(read_query(t)?),
        "400115" => Task::JobList(read_query(t)?),
        "400135" => Task::JobHistoryList(read_query(t)?),
        "400114" => Task::JobInfo {
            id: need_id(
                t.child("certificate_job").and_then(|c| c.child("job")),
                "certificate_job/job",
            )?,
        },
        "400106" => Task::CertificateRenew(cert()?),
        "400102" => Task::CertificateReissue(cert()?),
        "400103" => Task::CertificateDelete {
            id: need_id(t.child("certificate"), "certificate")?,
        },
        "4001031" => Task::CertificateRevoke(cert()?),
        "0905" => Task::PollInfo,
        "0906" => Task::PollConfirm {
            id: need_id(t.child("message"), "message")?,
        },
        other => return Err(format!("unknown task code {}", clip(other))),
    };
    Ok((
        auth,
        Request {
            task,
            ctid: t.text_of("ctid"),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_and_character_references_are_decoded() {
        let e = parse_document(b"<a>x &lt;&amp;&gt; &#65;&#x42;</a>").unwrap_or_default();
        assert_eq!(e.text, "x <&> AB");
    }

    #[test]
    fn an_undeclared_entity_is_refused_not_expanded() {
        let err = parse_document(b"<a>&xxe;</a>").err().unwrap_or_default();
        assert!(err.contains("undeclared entity &xxe;"), "{err}");
    }

    #[test]
    fn a_doctype_is_refused() {
        let body = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>"#;
        let err = parse_document(body).err().unwrap_or_default();
        assert!(err.contains("DOCTYPE"), "{err}");
    }

    #[test]
    fn truncated_documents_and_deep_nesting_are_errors() {
        assert!(parse_document(b"<response><result><data>").is_err());
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse_document(deep.as_bytes()).is_err());
        assert!(parse_document(b"").is_err());
        assert!(parse_document(b"<a/><b/>").is_err());
    }

    #[test]
    fn an_empty_status_object_reads_as_none_so_decoding_is_stable_under_re_encoding() {
        // Found by the autodns_xml fuzz target.
        let body = b"<response><result><data/><status><code>S400201</code><type>success</type>\
                     <object>\n</object></status></result></response>";
        let env = decode_response::<Void>("T", 200, body).ok();
        assert_eq!(env.as_ref().map(|e| e.object.is_none()), Some(true));
        let again = env.as_ref().map(encode_response);
        let back = again.and_then(|b| decode_response::<Void>("T", 200, &b).ok());
        assert_eq!(back, env);
    }

    #[test]
    fn cdata_containing_the_end_marker_survives_a_write_read_cycle() {
        let mut e = Element::leaf("csr", "a]]>b");
        e.cdata = true;
        let mut s = String::new();
        e.write_to(&mut s);
        assert_eq!(
            parse_document(s.as_bytes()).map(|e| e.text),
            Ok("a]]>b".to_string())
        );
    }
}
