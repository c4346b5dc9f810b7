//! Certificates and contacts on the gateway: `<certificate>`, `<certificate_request>`,
//! `<contact>` (and the `admin`/`technical` contacts inside a certificate), users and
//! validation blocks (§2.3, §2.11, §2.14 XML column, seed page).

use super::*;
use crate::secret::Secret;

pub(super) fn read_user(el: Option<&Element>) -> R<Option<BasicUser>> {
    let Some(el) = el else { return Ok(None) };
    // The seed page writes the literal placeholder `CONTEXT`; a context we cannot read is kept
    // out rather than failing the whole answer, since nothing depends on it.
    let context = el.text_of("context").and_then(|t| t.parse::<i64>().ok());
    Ok(Some(BasicUser {
        context,
        user: el.text_of("user"),
    }))
}

pub(super) fn write_user(name: &str, u: &Option<BasicUser>) -> Option<Element> {
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
    let authentication = read_certificate_auth(el, approver_email.as_deref())?;
    let chain = read_chain(el)?;
    let sans = read_sans(el);
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

/// The validation block; without one, a bare `<approver_email>` means "approve by mail there"
/// (the inverse of [`auth_is_just_approver`]).
fn read_certificate_auth(
    el: &Element,
    approver_email: Option<&str>,
) -> R<Option<CertAuthentication>> {
    if let Some(a) = el.child("authentication") {
        return Ok(Some(read_auth(a)?));
    }
    Ok(approver_email.map(|a| CertAuthentication {
        method: Some(AuthMethod::Email),
        approver_emails: vec![a.to_string()],
        ..Default::default()
    }))
}

/// The issuing chain. The chain's XML element is not documented (§4.5). [INFER] we write and
/// read `<certification_authority><ca_type/><ca_certificate/></certification_authority>`, and
/// as a fallback take any other PEM certificate found under the certificate as a chain member,
/// in document order, with its type unknown.
fn read_chain(el: &Element) -> R<Vec<CaCertificate>> {
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
    Ok(chain)
}

/// `<subject_alternative_name>`s: a `<name>` child, or the element's own text when it has none.
fn read_sans(el: &Element) -> Vec<SubjectAlternativeName> {
    el.children_named("subject_alternative_name")
        .map(|s| SubjectAlternativeName {
            name: s.text_of("name").or_else(|| {
                if s.children.is_empty() {
                    s.trimmed()
                } else {
                    None
                }
            }),
            approver_email: s.text_of("approver_email"),
        })
        .collect()
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
