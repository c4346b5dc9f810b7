//! Jobs and poll messages on the gateway: `<job>`, `<certificate_job>`, `<message>`, the
//! `<msg>` details and response `<object>`s, and the bridge between free element subtrees and
//! JSON values (§2.4, §2.12, §3.3).

use serde_json::Value;

use super::*;

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

pub(super) fn read_object(el: &Element) -> R<ResponseObject> {
    Ok(ResponseObject {
        kind: el.text_of("type"),
        value: el.text_of("value"),
        summary: opt_u64(el, "summary")?,
        data: el.child("data").map(element_to_json),
    })
}

pub(super) fn write_object(name: &str, o: &ResponseObject, with_summary: bool) -> Element {
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

pub(super) fn read_msg(el: &Element) -> R<Message> {
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

pub(super) fn write_msg(name: &str, m: &Message) -> Element {
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
pub(super) fn xml_status_type(t: &StatusType) -> String {
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
