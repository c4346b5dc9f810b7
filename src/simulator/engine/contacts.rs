//! SSL contacts (`autodns-api.md` §2.x, tasks 4002xx): create, info, update, delete and list,
//! with the field checks a contact must pass and the columns a contact search may use.

use super::ef;
use super::queries::{check_keys, run_query};
use super::{lock, mine, ApiError, ContactInput, Ctx, Engine, Item, ObjKind, ObjRef, Query, Reply};
use crate::mailbox::Address;
use crate::simulator::model::{xml_date, Contact};

impl Engine {
    fn validate_contact(task: &str, c: &ContactInput, creating: bool) -> Result<(), ApiError> {
        if creating {
            for (field, v) in [
                ("fname", &c.fname),
                ("lname", &c.lname),
                ("email", &c.email),
            ] {
                if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return Err(ApiError::required(task, field));
                }
            }
        }
        if let Some(e) = &c.email {
            if Address::parse(e).is_err() {
                return Err(ApiError::invalid(
                    task,
                    "email",
                    e,
                    "not a valid e-mail address",
                ));
            }
        }
        for (field, v) in [("phone", &c.phone), ("fax", &c.fax)] {
            if let Some(p) = v {
                let parts: Vec<&str> = p.strip_prefix('+').unwrap_or("").split('-').collect();
                let ok = parts.len() == 3
                    && parts
                        .iter()
                        .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()));
                if !ok {
                    return Err(ApiError::invalid(
                        task,
                        field,
                        p,
                        "use the form +49-941-1234560",
                    ));
                }
            }
        }
        if let Some(cc) = &c.country {
            if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(ApiError::invalid(
                    task,
                    "country",
                    cc,
                    "use an ISO 3166 two-letter code",
                ));
            }
        }
        if let Some(o) = &c.organization {
            if o.chars().count() > 64 {
                return Err(ApiError::invalid(
                    task,
                    "organization",
                    o,
                    "at most 64 characters",
                ));
            }
        }
        Ok(())
    }

    /// SSLContactCreate (400201).
    pub fn contact_create(&self, ctx: &Ctx, input: ContactInput) -> Result<Reply, ApiError> {
        Self::validate_contact("400201", &input, true)?;
        let now = self.now();
        let mut st = lock(&self.state);
        let id = st.take_contact_id();
        let c = Contact {
            id,
            fname: input.fname.unwrap_or_default(),
            lname: input.lname.unwrap_or_default(),
            email: input.email.unwrap_or_default(),
            phone: input.phone,
            fax: input.fax,
            title: input.title,
            organization: input.organization,
            address: input.address.unwrap_or_default(),
            pcode: input.pcode,
            city: input.city,
            country: input.country.map(|c| c.to_ascii_uppercase()),
            state: input.state,
            owner: self.owner(ctx),
            created: now,
            updated: now,
        };
        st.contacts.insert(id, c.clone());
        self.save(&st);
        Ok(
            Reply::ok("S400201", "The SSL contact was created successfully.")
                .object(ObjRef::new(ObjKind::Contact, id.to_string()))
                .item(Item::Contact {
                    contact: c,
                    keys: None,
                }),
        )
    }

    pub(super) fn contact_not_found(task: &str, id: i64) -> ApiError {
        ApiError::new(
            404,
            task,
            "The SSL contact was not found.",
            ef::CONTACT_NOT_FOUND,
            format!("SSL contact {id} does not exist."),
        )
        .with_object("SslContact", &id.to_string())
        .about(ObjRef::new(ObjKind::Contact, id.to_string()))
    }

    /// SSLContactInfo (400204).
    pub fn contact_info(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        let st = lock(&self.state);
        let c = st
            .contacts
            .get(&id)
            .filter(|c| mine(&c.owner, ctx))
            .cloned()
            .ok_or_else(|| Self::contact_not_found("400204", id))?;
        Ok(Reply::ok(
            "S400204",
            "The SSL contact data were inquired successfully.",
        )
        .object(ObjRef::new(ObjKind::Contact, id.to_string()))
        .item(Item::Contact {
            contact: c,
            keys: None,
        }))
    }

    /// SSLContactUpdate (400202): fields present replace the stored ones.
    pub fn contact_update(
        &self,
        ctx: &Ctx,
        id: i64,
        input: ContactInput,
    ) -> Result<Reply, ApiError> {
        Self::validate_contact("400202", &input, false)?;
        let now = self.now();
        let mut st = lock(&self.state);
        let c = st
            .contacts
            .get_mut(&id)
            .filter(|c| mine(&c.owner, ctx))
            .ok_or_else(|| Self::contact_not_found("400202", id))?;
        let set = |dst: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut c.fname, input.fname);
        set(&mut c.lname, input.lname);
        set(&mut c.email, input.email);
        for (dst, v) in [
            (&mut c.phone, input.phone),
            (&mut c.fax, input.fax),
            (&mut c.title, input.title),
            (&mut c.organization, input.organization),
            (&mut c.pcode, input.pcode),
            (&mut c.city, input.city),
            (
                &mut c.country,
                input.country.map(|c| c.to_ascii_uppercase()),
            ),
            (&mut c.state, input.state),
        ] {
            if v.is_some() {
                *dst = v;
            }
        }
        if let Some(a) = input.address {
            c.address = a;
        }
        c.updated = now;
        let c = c.clone();
        self.save(&st);
        Ok(
            Reply::ok("S400202", "The SSL contact was updated successfully.")
                .object(ObjRef::new(ObjKind::Contact, id.to_string()))
                .item(Item::Contact {
                    contact: c,
                    keys: None,
                }),
        )
    }

    /// SSLContactDelete (400203, code inferred). A contact still named by a certificate stays.
    pub fn contact_delete(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        let mut st = lock(&self.state);
        if !st.contacts.get(&id).is_some_and(|c| mine(&c.owner, ctx)) {
            return Err(Self::contact_not_found("400203", id));
        }
        if let Some(cert) = st
            .certificates
            .values()
            .find(|c| c.admin_id == id || c.technical_id == Some(id))
        {
            return Err(ApiError::new(
                400,
                "400203",
                "The SSL contact is in use.",
                ef::CONTACT_IN_USE,
                format!(
                    "SSL contact {id} is still used by certificate {} ({}).",
                    cert.id, cert.name
                ),
            )
            .with_object("SslContact", &id.to_string()));
        }
        st.contacts.remove(&id);
        self.save(&st);
        Ok(
            Reply::ok("S400203", "The SSL contact was deleted successfully.")
                .object(ObjRef::new(ObjKind::Contact, id.to_string())),
        )
    }

    /// SSLContactList (400205).
    pub fn contact_list(&self, ctx: &Ctx, q: Query) -> Result<Reply, ApiError> {
        const KEYS: &[&str] = &[
            "country",
            "fname",
            "address",
            "city",
            "created",
            "title",
            "lname",
            "phone",
            "organization",
            "state",
            "id",
            "fax",
            "pcode",
            "updated",
            "email",
        ];
        let st = lock(&self.state);
        check_keys("400205", &q, KEYS)?;
        let rows: Vec<&Contact> = st
            .contacts
            .values()
            .filter(|c| mine(&c.owner, ctx))
            .collect();
        let (total, page) = run_query("400205", &q, rows, KEYS, contact_field)?;
        let keys = q.keys.clone();
        let mut r = Reply::ok("S400205", "The SSL contacts were inquired successfully.");
        r.object = Some(ObjRef {
            kind: ObjKind::Contact,
            value: None,
            cert_summary: None,
        });
        r.summary = Some(total);
        r.data = page
            .into_iter()
            .map(|c| Item::Contact {
                contact: c.clone(),
                keys: Some(keys.clone()),
            })
            .collect();
        Ok(r)
    }
}

fn contact_field(c: &Contact, key: &str) -> Option<String> {
    Some(match key {
        "id" => c.id.to_string(),
        "fname" => c.fname.clone(),
        "lname" => c.lname.clone(),
        "email" => c.email.clone(),
        "phone" => c.phone.clone()?,
        "fax" => c.fax.clone()?,
        "title" => c.title.clone()?,
        "organization" => c.organization.clone()?,
        "address" => c.address.join(", "),
        "pcode" => c.pcode.clone()?,
        "city" => c.city.clone()?,
        "country" => c.country.clone()?,
        "state" => c.state.clone()?,
        "created" => xml_date(c.created),
        "updated" => xml_date(c.updated),
        _ => return None,
    })
}
