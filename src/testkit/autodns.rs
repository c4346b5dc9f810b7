//! An in-memory AutoDNS behind the pipeline's [`Autodns`] port: an order ledger, jobs that finish
//! at once or when the test says, a poll queue, and injected faults (refused, unavailable, lost
//! answers, late listings, a certificate for the wrong key).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::mailbox::Address;
use crate::pipeline::ports::{
    Autodns, FoundOrder, IssuedCertificate, JobState, Notice, NoticeOutcome, OrderPlaced,
    OrderRequest, PortError, Revocation,
};

/// What the next order call does.
#[derive(Debug, Clone)]
pub enum OrderFault {
    /// Refused before processing (HTTP 429).
    RateLimited,
    /// 503 before the order reached the CA: nothing placed, outcome unknown to the caller.
    Unavailable,
    /// The order is placed, but the answer is lost (timeout).
    LostAnswer,
}

#[derive(Debug, Clone)]
pub struct PlacedOrder {
    pub address: Address,
    pub ctid: String,
    pub csr: String,
    pub renew_of: Option<i64>,
    pub job_id: i64,
    pub certificate_id: i64,
    pub placed_at_step: usize,
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub orders: Vec<PlacedOrder>,
    pub order_faults: VecDeque<OrderFault>,
    /// Jobs that fail instead of succeeding, by order number (0-based).
    pub failing_orders: Vec<usize>,
    /// Job ids whose completion has been reported (poll queue or job check).
    pub completed: HashMap<i64, bool>,
    pub poll_queue: VecDeque<Notice>,
    pub confirmed: Vec<i64>,
    pub revoked: Vec<i64>,
    pub calls: usize,
    pub contact_creates: usize,
    pub next_message: i64,
    /// Every job finishes at once when true; otherwise only through `complete_all`.
    pub instant: bool,
    /// Fail every call with this (transient) error while set.
    pub down: Option<PortError>,
    /// Certificates issued for the wrong key (to test the check).
    pub wrong_key: bool,
    /// The next N lookups do not list placed orders yet (AutoDNS listing a new order late).
    pub unlisted_lookups: usize,
}

#[derive(Debug, Clone, Default)]
pub struct FakeAutodns {
    pub state: Arc<Mutex<FakeState>>,
    /// Added to each order call (to make concurrent workers overlap).
    pub order_delay: std::time::Duration,
}

impl FakeAutodns {
    pub fn instant() -> Self {
        let f = FakeAutodns::default();
        f.state.lock().unwrap().instant = true;
        f
    }
    pub fn s(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }
    pub fn order_count(&self) -> usize {
        self.s().orders.len()
    }
    pub fn orders_for(&self, a: &Address) -> usize {
        self.s().orders.iter().filter(|o| &o.address == a).count()
    }
    /// Finishes every open job and queues one poll message per job.
    pub fn complete_all(&self) {
        let mut s = self.s();
        let done: Vec<(i64, String, i64, bool)> = s
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| !s.completed.contains_key(&o.job_id))
            .map(|(i, o)| {
                (
                    o.job_id,
                    o.ctid.clone(),
                    o.certificate_id,
                    s.failing_orders.contains(&i),
                )
            })
            .collect();
        for (job, ctid, cert, fails) in done {
            s.completed.insert(job, !fails);
            s.next_message += 1;
            let id = s.next_message;
            s.poll_queue.push_back(Notice {
                message_id: Some(id),
                job_id: Some(job),
                ctid: Some(ctid),
                certificate_id: (!fails).then_some(cert),
                outcome: if fails {
                    NoticeOutcome::Failed {
                        code: "EF400139".into(),
                        text: "CA rejected".into(),
                    }
                } else {
                    NoticeOutcome::Success
                },
            });
        }
    }
    fn call(&self) -> Result<(), PortError> {
        let mut s = self.s();
        s.calls += 1;
        match &s.down {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl Autodns for FakeAutodns {
    async fn ensure_contact(&self) -> Result<i64, PortError> {
        self.call()?;
        self.s().contact_creates += 1;
        Ok(4711)
    }

    async fn order(&self, req: &OrderRequest<'_>) -> Result<OrderPlaced, PortError> {
        if !self.order_delay.is_zero() {
            tokio::time::sleep(self.order_delay).await;
        }
        self.call()?;
        let mut s = self.s();
        let fault = s.order_faults.pop_front();
        match fault {
            Some(OrderFault::RateLimited) => {
                return Err(PortError::transient("http-429", "too many requests").refused())
            }
            Some(OrderFault::Unavailable) => {
                return Err(PortError::transient("http-503", "service unavailable"))
            }
            _ => {}
        }
        let n = s.orders.len() as i64;
        let placed = PlacedOrder {
            address: req.address.clone(),
            ctid: req.ctid.to_string(),
            csr: req.csr_pem.to_string(),
            renew_of: req.renew_of,
            job_id: 1000 + n,
            certificate_id: 5000 + n,
            placed_at_step: s.calls,
        };
        let job = placed.job_id;
        s.orders.push(placed);
        let instant = s.instant;
        drop(s);
        if instant {
            self.complete_all();
        }
        if let Some(OrderFault::LostAnswer) = fault {
            return Err(PortError::transient("timeout", "no answer within 30 s"));
        }
        Ok(OrderPlaced {
            job_id: job,
            certificate_id: None,
        })
    }

    async fn find_order(
        &self,
        address: &Address,
        ctid: &str,
        _since: OffsetDateTime,
        exclude: Option<i64>,
    ) -> Result<Option<FoundOrder>, PortError> {
        self.call()?;
        let mut s = self.s();
        if s.unlisted_lookups > 0 {
            s.unlisted_lookups -= 1;
            return Ok(None);
        }
        Ok(s.orders
            .iter()
            .rev()
            .find(|o| &o.address == address && o.ctid == ctid && Some(o.certificate_id) != exclude)
            .map(|o| FoundOrder {
                job_id: Some(o.job_id),
                certificate_id: Some(o.certificate_id),
                issued: s.completed.get(&o.job_id) == Some(&true),
            }))
    }

    async fn job_state(&self, job_id: i64) -> Result<JobState, PortError> {
        self.call()?;
        let s = self.s();
        let Some(o) = s.orders.iter().find(|o| o.job_id == job_id) else {
            return Ok(JobState::Gone);
        };
        Ok(match s.completed.get(&job_id) {
            None => JobState::Pending,
            Some(true) => JobState::Succeeded {
                certificate_id: Some(o.certificate_id),
            },
            Some(false) => JobState::Failed {
                code: "EF400139".into(),
                text: "CA rejected".into(),
            },
        })
    }

    async fn fetch_certificate(&self, certificate_id: i64) -> Result<IssuedCertificate, PortError> {
        self.call()?;
        let s = self.s();
        let o = s
            .orders
            .iter()
            .find(|o| o.certificate_id == certificate_id)
            .ok_or_else(|| PortError::permanent("E400104", "no such certificate"))?;
        let key = if s.wrong_key {
            "someone-else".to_string()
        } else {
            o.csr.replace("CSR ", "")
        };
        Ok(IssuedCertificate {
            certificate_pem: format!("CERT {key} serial={certificate_id}"),
            chain_pem: "CHAIN".into(),
        })
    }

    async fn revoke(&self, certificate_id: i64) -> Result<Revocation, PortError> {
        self.call()?;
        self.s().revoked.push(certificate_id);
        Ok(Revocation::Revoked)
    }

    async fn poll(&self) -> Result<Option<Notice>, PortError> {
        self.call()?;
        Ok(self.s().poll_queue.front().cloned())
    }

    async fn confirm(&self, message_id: i64) -> Result<(), PortError> {
        self.call()?;
        let mut s = self.s();
        s.confirmed.push(message_id);
        if s.poll_queue.front().and_then(|n| n.message_id) == Some(message_id) {
            s.poll_queue.pop_front();
        }
        Ok(())
    }
}
