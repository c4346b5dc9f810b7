//! The poll queue (`autodns-api.md` §2.13, §3.4): PollInfo, PollConfirm, the reply a push
//! carries, and queuing the messages a finished job leaves. FIFO per context: the oldest
//! message comes back until it is confirmed.

use std::collections::VecDeque;

use time::OffsetDateTime;

use super::{ef, lock, ApiError, Ctx, Engine, Item, ObjKind, ObjRef, Reply};
use crate::simulator::model::{CertSnapshot, Job, Message, MessageBody, State};

impl Engine {
    fn poll_item(&self, st: &State, m: &Message) -> Item {
        let cert = match &m.body {
            MessageBody::CertificateJob { certificate, .. } => st
                .certificates
                .get(&certificate.id)
                .map(|c| Box::new(self.cert_view(st, c, None))),
            _ => None,
        };
        Item::Poll {
            message: m.clone(),
            cert,
        }
    }

    /// PollInfo (0905): the oldest message, again and again until it is confirmed;
    /// `summary` = messages in the queue (`autodns-api.md` §2.13, §3.4).
    pub fn poll_info(&self, ctx: &Ctx) -> Reply {
        let st = lock(&self.state);
        let mut r = Reply::ok("S0905", "The notification was polled successfully.");
        r.summary = Some(queued_for(&st, ctx.context));
        r.object = Some(ObjRef {
            kind: ObjKind::Message,
            value: None,
            cert_summary: None,
        });
        if let Some(m) = st.queue.iter().find(|m| m.owner.context == ctx.context) {
            r.object = Some(ObjRef::new(ObjKind::Message, m.id.to_string()));
            r.data.push(self.poll_item(&st, m));
        }
        r
    }

    /// The poll reply a push of message `m` carries (the queue as it stands).
    pub fn push_reply(&self, m: &Message) -> Reply {
        let st = lock(&self.state);
        let mut r = Reply::ok("S0905", "The notification was polled successfully.");
        r.summary = Some(queued_for(&st, m.owner.context));
        r.object = Some(ObjRef::new(ObjKind::Message, m.id.to_string()));
        r.data.push(self.poll_item(&st, m));
        r
    }

    /// PollConfirm (0906) by message id.
    pub fn poll_confirm(&self, ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
        const T: &str = "0906";
        let mut st = lock(&self.state);
        let pos = id
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|n| {
                st.queue
                    .iter()
                    .position(|m| m.id == n && m.owner.context == ctx.context)
            })
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    T,
                    "The notification was not found.",
                    ef::MESSAGE_NOT_FOUND,
                    format!("There is no unconfirmed message {id}."),
                )
                .with_object("Message", id)
                .about(ObjRef::new(ObjKind::Message, id))
            })?;
        let queue: &mut VecDeque<Message> = &mut st.queue;
        let m = queue.remove(pos);
        let left = queued_for(&st, ctx.context);
        self.save(&st);
        let mut r =
            Reply::ok("S0906", "The notification was confirmed successfully.").object(ObjRef::new(
                ObjKind::Message,
                m.map(|m| m.id.to_string()).unwrap_or_default(),
            ));
        r.summary = Some(left);
        Ok(r)
    }

    /// Queues the poll messages a finished job leaves: first `foreign_messages` unrelated ones
    /// (fault injection), then the job message, twice with `duplicate_poll_messages`. Returns
    /// the job messages (for push).
    pub(super) fn queue_job_messages(
        &self,
        st: &mut State,
        job: &Job,
        certificate: CertSnapshot,
        now: OffsetDateTime,
    ) -> Vec<Message> {
        let owner = &job.owner;
        for _ in 0..self.cfg.faults.foreign_messages {
            st.next_foreign += 1;
            let m = Message {
                id: st.take_msg_id(),
                owner: owner.clone(),
                created: now,
                body: foreign_body(st.next_foreign),
            };
            st.queue.push_back(m);
        }
        let copies = if self.cfg.faults.duplicate_poll_messages {
            2
        } else {
            1
        };
        let mut queued = Vec::new();
        for _ in 0..copies {
            let m = Message {
                id: st.take_msg_id(),
                owner: owner.clone(),
                created: now,
                body: MessageBody::CertificateJob {
                    job: Box::new(job.clone()),
                    certificate: certificate.clone(),
                },
            };
            st.queue.push_back(m.clone());
            queued.push(m);
        }
        queued
    }
}

/// Messages waiting in the queue of `context`.
fn queued_for(st: &State, context: u32) -> usize {
    st.queue
        .iter()
        .filter(|m| m.owner.context == context)
        .count()
}

/// The `n`th unrelated message: domain jobs and `domain_away` notifications in turn.
fn foreign_body(n: i64) -> MessageBody {
    if n % 2 == 0 {
        MessageBody::ForeignDomainJob {
            job_id: n,
            domain: format!("unrelated-{n}.example"),
        }
    } else {
        MessageBody::ForeignNotify {
            notify_type: "domain_away".into(),
            domain: format!("unrelated-{n}.example"),
        }
    }
}
