//! Certificates on the XML gateway: `<certificate>` read into a [`CertInput`]; a certificate
//! (with its CA chain) and prepareOrder's `CertificateData` written out.

use super::contacts::contact_fields;
use super::{bool_of, int_of, Out};
use crate::secret::Secret;
use crate::simulator::engine::{ApiError, CertData, CertInput, CertView};
use crate::simulator::model::{xml_date, Certificate};
use crate::xmltree::Element as Node;

pub(super) fn cert_input(task: &str, c: &Node) -> Result<CertInput, ApiError> {
    let nested_id = |name: &str| -> Result<Option<i64>, ApiError> {
        match c.child(name) {
            None => Ok(None),
            Some(n) => int_of(task, n, "id"),
        }
    };
    Ok(CertInput {
        name: c.text_of("name"),
        product: c.text_of("product"),
        certificate_type: c.text_of("certificate_type"),
        lifetime_months: int_of(task, c, "lifetime")?,
        software: c.text_of("software"),
        csr: c.text_of("csr"),
        has_csr: bool_of(task, c, "has_csr")?,
        password: c
            .child("password")
            .map(|p| Secret::new(p.text.trim().to_string())),
        firstname: c.text_of("firstname"),
        lastname: c.text_of("lastname"),
        organization_unit_name: c.text_of("organization_unit_name"),
        admin_id: nested_id("admin")?,
        technical_id: nested_id("technical")?,
        approver_emails: c
            .children_named("approver_email")
            .map(|a| a.text.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

pub(super) fn certificate(o: &mut Out, v: &CertView) {
    let c = &v.cert;
    o.open("certificate");
    o.leaf("id", &c.id.to_string());
    o.leaf("name", &c.name);
    if let Some(keys) = &v.keys {
        // A list row: `id`, `name` and the owner, and any other column only when asked with
        // `<key>` (`created` included), as "Running List Inquiries" describes.
        list_columns(o, c, keys);
        o.owner("owner", &c.owner);
        o.close("certificate");
        return;
    }
    o.opt("order_id", &c.order_id);
    if let Some(a) = &v.admin {
        o.open("admin");
        contact_fields(o, a, None);
        o.close("admin");
    }
    if let Some(t) = &v.technical {
        o.open("technical");
        contact_fields(o, t, None);
        o.close("technical");
    }
    o.leaf("approver_email", &c.approver_email);
    o.leaf("lifetime", &c.lifetime_months.to_string());
    o.leaf("software", &c.software);
    if let Some(csr) = &c.csr {
        o.cdata("csr", csr);
    }
    if let Some(s) = &c.server {
        o.cdata("server", s);
    }
    for (t, pem) in &v.chain {
        o.open("certification_authority");
        o.leaf("ca_type", t);
        o.cdata("ca_certificate", pem);
        o.close("certification_authority");
    }
    o.leaf(
        "serial_number",
        c.serial_number.as_deref().unwrap_or("NOT_SET"),
    );
    o.leaf("product", &c.product);
    o.leaf("certificate_type", &c.certificate_type);
    o.leaf("sha", "SHA2");
    o.opt("expire", &c.expire.map(xml_date));
    if let Some(p) = &c.password {
        o.leaf("password", p.expose());
    }
    o.opt("firstname", &c.firstname);
    o.opt("lastname", &c.lastname);
    o.opt("organization_unit_name", &c.organization_unit_name);
    o.leaf("has_csr", if c.has_csr { "true" } else { "false" });
    histories(o, c);
    o.owner("owner", &c.owner);
    o.owner("updater", &c.owner);
    o.leaf("created", &xml_date(c.created));
    o.leaf("updated", &xml_date(c.updated));
    o.close("certificate");
}

/// The requested extra columns of a certificate list row.
fn list_columns(o: &mut Out, c: &Certificate, keys: &[String]) {
    for k in keys {
        match k.as_str() {
            "product" => o.leaf("product", &c.product),
            "orderId" | "order_id" => o.opt("order_id", &c.order_id),
            "certificateType" | "certificate_type" => {
                o.leaf("certificate_type", &c.certificate_type)
            }
            "expire" => o.opt("expire", &c.expire.map(xml_date)),
            "created" => o.leaf("created", &xml_date(c.created)),
            "updated" => o.leaf("updated", &xml_date(c.updated)),
            "serialNumber" | "serial_number" => o.leaf(
                "serial_number",
                c.serial_number.as_deref().unwrap_or("NOT_SET"),
            ),
            "admin" => {
                o.open("admin");
                o.leaf("id", &c.admin_id.to_string());
                o.close("admin");
            }
            _ => {}
        }
    }
}

/// `<history>`: the serials a renew or reissue replaced.
fn histories(o: &mut Out, c: &Certificate) {
    for h in &c.histories {
        o.open("history");
        o.leaf("serial_number", &h.serial_number);
        o.opt("order_id", &h.order_id);
        o.opt("revoked", &h.revoked.map(xml_date));
        o.close("history");
    }
}

pub(super) fn cert_data(o: &mut Out, d: &CertData) {
    o.open("certificate_request");
    o.cdata("plain", &d.plain);
    o.opt("name", &d.name);
    o.opt("email", &d.name);
    o.leaf("key_size", &d.key_size.to_string());
    o.leaf("algorithm", d.algorithm);
    o.leaf("signature_hash_algorithm", "SHA256");
    o.opt("product", &d.product);
    if let Some(n) = &d.name {
        o.open("authentication");
        o.leaf("name", n);
        o.leaf("method", "EMAIL");
        o.leaf("approver_email", n);
        o.close("authentication");
    }
    o.close("certificate_request");
}
