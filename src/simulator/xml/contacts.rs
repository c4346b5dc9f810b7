//! SSL contacts on the XML gateway: `<contact>` read into a [`ContactInput`], a contact written
//! as its fields.

use super::Out;
use crate::simulator::engine::{ApiError, ContactInput};
use crate::simulator::model::{xml_date, Contact};
use crate::xmltree::Element as Node;

pub(super) fn contact_input(_task: &str, c: &Node) -> Result<ContactInput, ApiError> {
    let address: Vec<String> = c
        .children_named("address")
        .map(|a| a.text.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Ok(ContactInput {
        fname: c.text_of("first"),
        lname: c.text_of("last"),
        email: c.text_of("email"),
        phone: c.text_of("phone"),
        fax: c.text_of("fax"),
        title: c.text_of("title"),
        organization: c.text_of("organization"),
        address: (!address.is_empty()).then_some(address),
        pcode: c.text_of("postal_code"),
        city: c.text_of("city"),
        country: c.text_of("country"),
        state: c.text_of("state"),
    })
}

pub(super) fn contact_fields(o: &mut Out, c: &Contact, keys: Option<&[String]>) {
    let want = |k: &str| keys.is_none_or(|ks| ks.iter().any(|x| x == k));
    o.leaf("id", &c.id.to_string());
    o.leaf("first", &c.fname);
    o.leaf("last", &c.lname);
    if want("phone") {
        o.opt("phone", &c.phone);
    }
    if want("fax") {
        o.opt("fax", &c.fax);
    }
    if want("email") {
        o.leaf("email", &c.email);
    }
    if want("title") {
        o.opt("title", &c.title);
    }
    o.opt("organization", &c.organization);
    if want("address") {
        for a in &c.address {
            o.leaf("address", a);
        }
    }
    if want("pcode") {
        o.opt("postal_code", &c.pcode);
    }
    for (k, v) in [
        ("city", &c.city),
        ("country", &c.country),
        ("state", &c.state),
    ] {
        if want(k) {
            o.opt(k, v);
        }
    }
    o.owner("owner", &c.owner);
    o.owner("updater", &c.owner);
    o.leaf("created", &xml_date(c.created));
    o.leaf("updated", &xml_date(c.updated));
}
