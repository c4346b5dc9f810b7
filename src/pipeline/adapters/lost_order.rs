//! Owns the matching of a lost order: which job or certificate AutoDNS lists is the order whose
//! answer we never got. Pure functions over the lists the AutoDNS port fetched; the port does
//! the IO (`AutodnsPort::find_order`) in the order these functions are asked.
//!
//! The rules: a job started by our ctid is ours; where the answer echoes no ctid at all, the
//! newest job or certificate on the mailbox's name created since the order intent is ours; a
//! job naming another ctid is another order (an earlier generation, another tool), never ours.
//! An object of unknown age counts as recent: a wrong match fails the key check and stops for a
//! person, while a missed one could buy a second certificate.

use time::OffsetDateTime;

use crate::autodns::{Certificate, JobStatus, ObjectJob, Timestamp};
use crate::mailbox::Address;
use crate::pipeline::ports::FoundOrder;

/// How far a certificate's creation time may precede our order intent and still be our order:
/// clock skew for zoned (JSON) times; for the XML gateway's zoneless times, any zone.
const SKEW_ZONED: time::Duration = time::Duration::minutes(10);
const SKEW_NAIVE: time::Duration = time::Duration::hours(14);

/// The order being looked for: the mailbox, the ctid it was sent with, when its intent was
/// written, and a certificate id that is known not to be it (the previous generation's).
#[derive(Debug, Clone, Copy)]
pub(super) struct LostOrder<'a> {
    pub address: &'a Address,
    pub ctid: &'a str,
    pub since: OffsetDateTime,
    pub exclude: Option<i64>,
}

/// Whether an object created at `created` can be the order intended at `since`.
fn recent(created: Option<&Timestamp>, since: OffsetDateTime) -> bool {
    match created {
        Some(Timestamp::Zoned(t)) => *t >= since - SKEW_ZONED,
        Some(Timestamp::Naive(t)) => t.assume_utc() >= since - SKEW_NAIVE,
        None => true,
    }
}

impl LostOrder<'_> {
    /// Our order among `jobs`: the job started by our ctid; where the answer echoes no ctid at
    /// all, the newest job on this name created since the intent.
    fn ours<'j>(&self, jobs: &'j [ObjectJob]) -> Option<&'j ObjectJob> {
        let named = |j: &&ObjectJob| {
            j.object_name()
                .is_none_or(|n| n.trim().eq_ignore_ascii_case(self.address.as_str()))
                && j.job_id().is_some()
        };
        if let Some(j) = jobs
            .iter()
            .filter(named)
            .find(|j| !self.ctid.is_empty() && j.ctid() == Some(self.ctid))
        {
            return Some(j);
        }
        jobs.iter()
            .filter(named)
            .filter(|j| j.ctid().is_none() && recent(j.created(), self.since))
            .max_by_key(|j| j.created().map(|t| t.assume_offset(time::UtcOffset::UTC)))
    }

    /// Our order among the running jobs: found, not issued yet.
    pub fn in_active(&self, active: &[ObjectJob]) -> Option<FoundOrder> {
        self.ours(active).map(|j| FoundOrder {
            job_id: j.job_id(),
            certificate_id: j.certificate_id().filter(|id| Some(*id) != self.exclude),
            issued: false,
        })
    }

    /// Our order among the finished jobs, as (job id, certificate id), when it succeeded. One
    /// that failed or was cancelled issued nothing and is not reported (the certificate list
    /// decides then).
    pub fn in_history(&self, finished: &[ObjectJob]) -> (Option<i64>, Option<i64>) {
        match self.ours(finished) {
            Some(j) if j.status() == Some(&JobStatus::Success) => (
                j.job_id(),
                j.certificate_id().filter(|id| Some(*id) != self.exclude),
            ),
            _ => (None, None),
        }
    }

    /// The newest listed certificate on this name that can be our order.
    pub fn in_list<'c>(&self, list: &'c [Certificate]) -> Option<&'c Certificate> {
        list.iter()
            .filter(|c| {
                c.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(self.address.as_str()))
                    && recent(c.created.as_ref(), self.since)
                    && c.id.is_some()
                    && c.id != self.exclude
            })
            .max_by_key(|c| {
                c.created
                    .as_ref()
                    .map(|t| t.assume_offset(time::UtcOffset::UTC))
            })
    }
}

#[cfg(test)]
mod tests;
