//! Jobs: starting one for an order, finishing it when it is due (the outcome is decided by a
//! pure function, then applied), job info, job history and the job lists with their search
//! columns.

use rand::{Rng, RngCore};
use time::OffsetDateTime;

use super::queries::{check_keys, run_query};
use super::{
    ef, lock, mine, norm_addr, ApiError, Ctx, Engine, Item, JobView, ObjKind, ObjRef, Query, Reply,
    Transport,
};
use crate::simulator::model::{
    xml_date, ApiMsg, CertSnapshot, Certificate, History, Job, JobAction, JobOutcome, Message,
    MessageBody, State,
};

impl Engine {
    /// Finishes every job that is due at the clock's `now`, queues its poll messages and returns
    /// the queued job messages (for push). Called by the driver task and before every request,
    /// so a test with a manual clock sees the effect of moving the clock on its next request.
    pub fn advance(&self) -> Vec<Message> {
        let now = self.now();
        let mut st = lock(&self.state);
        let due: Vec<i64> = st
            .jobs
            .values()
            .filter(|j| j.outcome.is_none() && j.due_at <= now)
            .map(|j| j.id)
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        let mut pushed = Vec::new();
        for id in due {
            if let Some(m) = self.finish_job(&mut st, id, now) {
                pushed.extend(m);
            }
        }
        self.save(&st);
        pushed
    }

    fn planned_failure(&self, name: &str) -> bool {
        let n = norm_addr(name);
        let f = &self.cfg.faults;
        if f.fail_names
            .iter()
            .any(|x| norm_addr(x).eq_ignore_ascii_case(&n))
        {
            return true;
        }
        f.fail_job_share > 0.0 && self.draw() < f.fail_job_share
    }

    fn finish_job(&self, st: &mut State, id: i64, now: OffsetDateTime) -> Option<Vec<Message>> {
        let job = st.jobs.get(&id)?.clone();
        let fails = job.action != JobAction::Delete && self.planned_failure(&job.name);
        let mut messages = Vec::new();
        let mut success = !fails;
        if fails {
            messages.push(ApiMsg {
                code: ef::CA_REJECTED.into(),
                text: "The CA rejected the order: the mailbox validation was not completed (simulated failure)."
                    .into(),
                objects: vec![("Certificate".into(), job.name.clone())],
            });
        }
        let mut snapshot = CertSnapshot {
            id: job.cert_id,
            name: job.name.clone(),
            product: job.product.clone(),
            serial_number: None,
            expire: None,
        };
        if let Some(cert) = st.certificates.get(&job.cert_id).cloned() {
            let mut cert = cert;
            cert.pending_job = None;
            cert.updated = now;
            match (job.action, success) {
                (JobAction::Delete, _) => {
                    st.certificates.remove(&job.cert_id);
                }
                (JobAction::Create, false) => {
                    // A refused order leaves nothing behind to find or renew.
                    st.certificates.remove(&job.cert_id);
                }
                (_, false) => {
                    st.certificates.insert(cert.id, cert);
                }
                (action, true) => {
                    let order_id = self.order_id(now);
                    if action != JobAction::Create {
                        if let Some(serial) = cert.serial_number.take() {
                            cert.histories.push(History {
                                serial_number: serial,
                                order_id: cert.order_id.clone(),
                                revoked: None,
                            });
                        }
                    }
                    cert.order_id = Some(order_id);
                    cert.lifetime_months = job.lifetime_months;
                    match (&job.csr, cert.has_csr) {
                        (Some(csr), true) => {
                            let mut serial = [0u8; 16];
                            lock(&self.rng).fill_bytes(&mut serial);
                            match self
                                .ca
                                .issue(csr, &cert.name, job.lifetime_months, now, serial)
                            {
                                Ok(issued) => {
                                    cert.csr = Some(csr.clone());
                                    cert.server = Some(issued.pem);
                                    cert.serial_number = Some(issued.serial_hex);
                                    cert.expire = Some(issued.not_after);
                                }
                                Err(e) => {
                                    tracing::error!(error = %e, "simulator CA could not sign");
                                    success = false;
                                    messages.push(ApiMsg {
                                        code: ef::CA_REJECTED.into(),
                                        text: format!("The CA could not sign the certificate: {e}"),
                                        objects: vec![("Certificate".into(), job.name.clone())],
                                    });
                                }
                            }
                        }
                        _ => {
                            // has_csr false: GlobalSign generates the key and the user collects the
                            // certificate there; AutoDNS has nothing to put into `server`.
                            cert.server = None;
                            cert.expire = Some(
                                crate::simulator::ca::add_months(now, job.lifetime_months).min(
                                    now + time::Duration::days(
                                        crate::simulator::ca::MAX_VALIDITY_DAYS,
                                    ),
                                ),
                            );
                        }
                    }
                    snapshot.serial_number = cert.serial_number.clone();
                    snapshot.expire = cert.expire;
                    if success || action != JobAction::Create {
                        st.certificates.insert(cert.id, cert);
                    } else {
                        st.certificates.remove(&job.cert_id);
                    }
                }
            }
        }
        let mut job = job;
        // The CSR lives on in the certificate; finished jobs and their messages need no copy.
        job.csr = None;
        job.outcome = Some(JobOutcome {
            success,
            finished: now,
            messages,
        });
        let status = job.status(now).to_string();
        for o in st.orders.iter_mut().filter(|o| o.job_id == Some(id)) {
            o.status = status.clone();
        }
        st.jobs.insert(id, job.clone());

        let owner = job.owner.clone();
        let mut queued = Vec::new();
        for _ in 0..self.cfg.faults.foreign_messages {
            st.next_foreign += 1;
            let n = st.next_foreign;
            let body = if n % 2 == 0 {
                MessageBody::ForeignDomainJob {
                    job_id: n,
                    domain: format!("unrelated-{n}.example"),
                }
            } else {
                MessageBody::ForeignNotify {
                    notify_type: "domain_away".into(),
                    domain: format!("unrelated-{n}.example"),
                }
            };
            let m = Message {
                id: st.take_msg_id(),
                owner: owner.clone(),
                created: now,
                body,
            };
            st.queue.push_back(m);
        }
        let copies = if self.cfg.faults.duplicate_poll_messages {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let m = Message {
                id: st.take_msg_id(),
                owner: owner.clone(),
                created: now,
                body: MessageBody::CertificateJob {
                    job: Box::new(job.clone()),
                    certificate: snapshot.clone(),
                },
            };
            st.queue.push_back(m.clone());
            queued.push(m);
        }
        Some(queued)
    }

    fn order_id(&self, now: OffsetDateTime) -> String {
        let n: u32 = lock(&self.rng).random_range(0..1_000_000);
        format!(
            "SIM{:04}{:02}{:02}{n:06}",
            now.year(),
            u8::from(now.month()),
            now.day()
        )
    }

    fn job_view(job: &Job, now: OffsetDateTime) -> JobView {
        JobView {
            job: job.clone(),
            status: job.status(now),
            updated: job.updated(now),
        }
    }
    pub(super) fn new_job(
        &self,
        st: &mut State,
        ctx: &Ctx,
        action: JobAction,
        cert: &Certificate,
        csr: Option<String>,
        months: i64,
    ) -> Job {
        let now = self.now();
        let deferred = self.cfg.faults.deferred_for;
        let deferred_until = (!deferred.is_zero()).then(|| now + deferred);
        let job = Job {
            id: st.take_job_id(),
            action,
            cert_id: cert.id,
            name: cert.name.clone(),
            product: cert.product.clone(),
            owner: self.owner(ctx),
            ctid: ctx.ctid.clone(),
            stid: ctx.stid.clone(),
            created: now,
            deferred_until,
            due_at: now + deferred + self.cfg.issuance_delay,
            csr,
            lifetime_months: months,
            outcome: None,
        };
        st.jobs.insert(job.id, job.clone());
        job
    }

    pub(super) fn job_reply(
        code: &str,
        text: &str,
        name: &str,
        job: &Job,
        now: OffsetDateTime,
    ) -> Reply {
        let mut r = Reply::ok(code, text).object(ObjRef::new(ObjKind::Certificate, name));
        r.notify = true;
        // The create reply reports the job as RUNNING, as every sample does; a DEFERRED phase
        // shows in job info (`autodns-api.md` §2.4, §2.12).
        let mut view = Self::job_view(job, now);
        view.status = "RUNNING";
        r.item(Item::Job(view))
    }

    /// CertificateCreate (400101): validates, creates the certificate record (no PEM yet) and a
    /// job that finishes after `deferred_for + issuance_delay`.
    // Job info and job lists.

    /// Job info (JSON `GET /job/{id}`, XML 400114). Only unfinished jobs are in the active queue;
    /// a finished one answers `EF300101` and is found with [`Engine::job_history`].
    pub fn job_info(
        &self,
        ctx: &Ctx,
        id: i64,
        task: &str,
        ok_code: &str,
    ) -> Result<Reply, ApiError> {
        let now = self.now();
        let st = lock(&self.state);
        let job = st
            .jobs
            .get(&id)
            .filter(|j| mine(&j.owner, ctx))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    task,
                    "The job was not found.",
                    ef::JOB_NOT_FOUND,
                    format!("Job {id} does not exist."),
                )
                .with_object("Job", &id.to_string())
            })?;
        if job.outcome.is_some() {
            return Err(ApiError::new(
                404,
                task,
                "The job is no longer active.",
                ef::JOB_NOT_ACTIVE,
                format!("Job {id} has finished; look it up in the job history."),
            )
            .with_object("Job", &id.to_string()));
        }
        Ok(self.object_job_reply(&st, job, ok_code, now))
    }

    /// Finished (and running) jobs (JSON `GET /job/history/{id}`).
    pub fn job_history(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        let now = self.now();
        let st = lock(&self.state);
        let job = st
            .jobs
            .get(&id)
            .filter(|j| mine(&j.owner, ctx))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "300114",
                    "The job was not found.",
                    ef::JOB_NOT_FOUND,
                    format!("Job {id} does not exist."),
                )
                .with_object("Job", &id.to_string())
            })?;
        Ok(self.object_job_reply(&st, job, "S300114", now))
    }

    /// Certificate job list (JSON `POST /job/_search`, XML 400115) or job history list (JSON
    /// `POST /job/history/_search`, XML 400135), `autodns-api.md` §2.12: the context's jobs not
    /// finished yet, or the finished ones, filtered, sorted and paged by the `Query` (§1.12).
    /// The filter keys are the ones §2.12 lists; `object` is the certificate name. A ctid is not
    /// a documented key and is refused like any unknown key (`EF00022`).
    ///
    /// Inferred: the success code (`S300115` for JSON as the manual shows; the XML gateway
    /// answers with its task code, `S400115` / `S400135`); JSON items carry the certificate in
    /// `object.data` as job info does, XML items only the `<job>` the manual's example shows.
    pub fn job_list(&self, ctx: &Ctx, q: Query, history: bool) -> Result<Reply, ApiError> {
        const KEYS: &[&str] = &[
            "parent",
            "execution",
            "substatus",
            "type",
            "created",
            "id",
            "updated",
            "status",
            "object",
            "action",
        ];
        let (task, code) = match (history, ctx.transport) {
            (false, Transport::Json) => ("300115", "S300115"),
            (true, Transport::Json) => ("300135", "S300115"),
            (false, Transport::Xml) => ("400115", "S400115"),
            (true, Transport::Xml) => ("400135", "S400135"),
        };
        let now = self.now();
        let st = lock(&self.state);
        check_keys(task, &q, KEYS)?;
        let rows: Vec<&Job> = st
            .jobs
            .values()
            .filter(|j| mine(&j.owner, ctx) && j.outcome.is_some() == history)
            .collect();
        let (total, page) = run_query(task, &q, rows, KEYS, |j, k| job_field(j, k, now))?;
        let mut r = Reply::ok(code, "The job list was inquired successfully.");
        r.object = Some(ObjRef {
            kind: ObjKind::Job,
            value: None,
            cert_summary: None,
        });
        r.summary = Some(total);
        r.data = page
            .into_iter()
            .map(|j| Item::ObjectJob {
                job: Self::job_view(j, now),
                cert: match ctx.transport {
                    Transport::Json => st
                        .certificates
                        .get(&j.cert_id)
                        .map(|c| Box::new(self.cert_view(&st, c, None))),
                    Transport::Xml => None,
                },
            })
            .collect();
        Ok(r)
    }

    fn object_job_reply(&self, st: &State, job: &Job, code: &str, now: OffsetDateTime) -> Reply {
        let cert = st
            .certificates
            .get(&job.cert_id)
            .map(|c| Box::new(self.cert_view(st, c, None)));
        Reply::ok(code, "The job data were inquired successfully.")
            .object(ObjRef::new(ObjKind::Job, job.id.to_string()))
            .item(Item::ObjectJob {
                job: Self::job_view(job, now),
                cert,
            })
    }
}

fn job_field(j: &Job, key: &str, now: OffsetDateTime) -> Option<String> {
    Some(match key {
        "id" => j.id.to_string(),
        "object" => j.name.clone(),
        "status" => j.status(now).to_string(),
        "substatus" => (j.status(now) == "DEFERRED").then(|| "WF_EMAIL_AUTH".to_string())?,
        "action" => j.action.as_str().to_string(),
        "type" => "ssl".to_string(),
        "created" => xml_date(j.created),
        "updated" | "execution" => xml_date(j.updated(now)),
        _ => return None,
    })
}
