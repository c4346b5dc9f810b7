//! One typed method per AutoDNS task: what the pipeline calls. Each builds the task, sends it
//! through [`Client::call`] and reads the answer's object; searches are read page by page.

use super::*;

/// Why an approval mail cannot be re-sent over the XML gateway.
pub const XML_NO_RESEND: &str = "the XML gateway documents no task to re-send the approval mail \
    (only the JSON API has it: PUT /job/{id}/_resendApproverEmail, 400118); set \
    autodns.wire = \"json\" (same user, password and context), or re-send it in the AutoDNS web \
    interface";

impl Client {
    /// Checks the connection and the credentials. JSON: `GET /hello`. The XML gateway has no
    /// such task; PollInfo is used instead (it reads the queue without changing it).
    pub async fn hello(&self) -> Result<(), Error> {
        let task = match self.inner.settings.wire {
            Wire::Json => Task::Hello,
            Wire::Xml => Task::PollInfo,
        };
        match self.inner.settings.wire {
            Wire::Json => self
                .call::<Void>(&Request { task, ctid: None })
                .await
                .map(|_| ()),
            Wire::Xml => self
                .call::<PollMessage>(&Request { task, ctid: None })
                .await
                .map(|_| ()),
        }
    }

    /// SSLContactCreate (400201). Returns the contact with its new id. Not retried.
    pub async fn ssl_contact_create(&self, contact: &SslContact) -> Result<SslContact, Error> {
        let env = self
            .call::<SslContact>(&Request {
                task: Task::SslContactCreate(contact.clone()),
                ctid: None,
            })
            .await?;
        // JSON answers with the full contact in data[0]; the XML gateway with an empty <data/>
        // and the id in status/object/value (seed page).
        let object_id = env
            .object
            .as_ref()
            .and_then(|o| o.value.as_deref())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let stid = env.stid.clone();
        let mut created = env
            .data
            .into_iter()
            .next()
            .unwrap_or_else(|| contact.clone());
        if created.id.is_none() {
            created.id = object_id;
        }
        if created.id.is_none() {
            return Err(Error::Malformed {
                task: "SSLContactCreate",
                http_status: 200,
                stid,
                reason: "no contact id in the answer".into(),
            });
        }
        Ok(created)
    }

    /// SSLContactInfo (400204).
    pub async fn ssl_contact_info(&self, id: i64) -> Result<SslContact, Error> {
        Ok(self
            .one::<SslContact>(Task::SslContactInfo { id }, None)
            .await?
            .0)
    }

    /// SSLContactList (400205): every SSL contact of the account.
    pub async fn ssl_contact_list(&self) -> Result<Vec<SslContact>, Error> {
        self.search_all(&Query::default(), Task::SslContactList)
            .await
    }

    /// CertificatePrepareOrder (400110): lets AutoDNS parse the CSR.
    pub async fn certificate_prepare_order(
        &self,
        csr_pem: &str,
        product: &str,
    ) -> Result<CertificateData, Error> {
        let data = CertificateData {
            plain: Some(super::order::sdk_csr(csr_pem)),
            product: Some(product.to_string()),
            ..Default::default()
        };
        Ok(self
            .one::<CertificateData>(Task::CertificatePrepareOrder(data), None)
            .await?
            .0)
    }

    fn checked(&self, task: &'static str, order: &CertificateOrder) -> Result<(), Error> {
        order
            .validate()
            .map_err(|reason| Error::InvalidRequest { task, reason })
    }

    /// CertificateCreate (400101): orders a certificate. Sent once, never retried; returns the
    /// job (status RUNNING). `ctid` identifies the order in the poll message; make it unique per
    /// mailbox and generation.
    pub async fn certificate_create(
        &self,
        order: &CertificateOrder,
        ctid: &str,
    ) -> Result<Job, Error> {
        self.checked("CertificateCreate", order)?;
        let task = Task::CertificateCreate(Box::new(order.to_certificate(None)));
        Ok(self.one::<Job>(task, Some(ctid)).await?.0)
    }

    /// CertificateInfo (400104): the certificate with the leaf PEM in `server` and the chain in
    /// `certification_authority`.
    pub async fn certificate_info(&self, id: i64) -> Result<Certificate, Error> {
        Ok(self
            .one::<Certificate>(Task::CertificateInfo { id }, None)
            .await?
            .0)
    }

    /// CertificateList (400105), optionally only certificates with this exact name (used to
    /// recover orders whose outcome is unknown). Reads every page (see [`Client::search_all`]).
    pub async fn certificate_list(&self, name: Option<&str>) -> Result<Vec<Certificate>, Error> {
        let query = match name {
            Some(n) => Query::equal("name", n),
            None => Query::default(),
        };
        self.search_all(&query, Task::CertificateList).await
    }

    /// Certificate job list: the jobs in `queue` matching `query` (400115 / 400135,
    /// `POST /job/_search` / `POST /job/history/_search`, §2.12), every page read.
    ///
    /// This is how an order whose CertificateCreate answer was lost is found while its job still
    /// runs: the certificate list may not show it yet, and job info needs the job id the lost
    /// answer carried. Filter keys the API documents for jobs: `parent, execution, subStatus,
    /// type, created, id, updated, status, object, action` (§2.12); `object` is the certificate
    /// name. The ctid is not a documented filter key, so callers filter on `object` and match
    /// the ctid in the answer ([`ObjectJob::ctid`]).
    pub async fn job_search(
        &self,
        query: &Query,
        queue: JobQueue,
    ) -> Result<Vec<ObjectJob>, Error> {
        let task = match queue {
            JobQueue::Active => Task::JobList,
            JobQueue::History => Task::JobHistoryList,
        };
        self.search_all(query, task).await
    }

    /// Runs a search page by page (`view.limit` = [`SEARCH_PAGE_SIZE`], `view.offset` = the
    /// items read so far, so a server that caps its pages below our limit is still read whole)
    /// until the items read reach the total the API reports in `object.summary` (§1.6), or,
    /// without a total, until a page comes back short. An empty page short of the reported total
    /// is an error, and so is a search still going after [`SEARCH_MAX_PAGES`] pages: a caller
    /// never acts on a silently truncated list, and a misbehaving server cannot keep it looping.
    async fn search_all<T: Payload>(
        &self,
        query: &Query,
        task: fn(Query) -> Task,
    ) -> Result<Vec<T>, Error> {
        let name = task(Query::default()).name();
        let mut items: Vec<T> = Vec::new();
        let (mut last_stid, mut last_total) = (None, None);
        for _ in 0..SEARCH_MAX_PAGES {
            let offset = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let t = task(query.page(SEARCH_PAGE_SIZE, offset));
            let env = self
                .call::<T>(&Request {
                    task: t,
                    ctid: None,
                })
                .await?;
            let total = env.summary();
            let got = env.data.len();
            items.extend(env.data);
            let read = items.len() as u64;
            match total {
                Some(t) if read >= t => return Ok(items),
                Some(t) if got == 0 => {
                    return Err(Error::Malformed {
                        task: name,
                        http_status: 200,
                        stid: env.stid,
                        reason: format!(
                            "the search reports {t} items but returned no more after {read}"
                        ),
                    })
                }
                None if got < SEARCH_PAGE_SIZE as usize => return Ok(items),
                _ => {}
            }
            (last_stid, last_total) = (env.stid, total);
        }
        Err(Error::Malformed {
            task: name,
            http_status: 200,
            stid: last_stid,
            reason: format!(
                "the search did not end after {SEARCH_MAX_PAGES} pages ({} items read, total \
                 reported: {}); narrow the search",
                items.len(),
                last_total.map_or_else(|| "none".to_string(), |t: u64| t.to_string())
            ),
        })
    }

    /// Certificate job info (400114, `GET /job/{id}`).
    pub async fn job_info(&self, job_id: i64) -> Result<ObjectJob, Error> {
        Ok(self
            .one::<ObjectJob>(Task::JobInfo { id: job_id }, None)
            .await?
            .0)
    }

    /// A finished job from the job history. Asked when [`Client::job_info`] answers not-found
    /// (`EF300101`, "the job left the queue"). JSON: `GET /job/history/{id}`. The XML gateway
    /// has no history-by-id task, so there the history list (400135) filtered by `id` stands in;
    /// a job it does not hold is a not-found error, as JSON's 404 is.
    pub async fn job_history(&self, job_id: i64) -> Result<ObjectJob, Error> {
        if self.inner.settings.wire == Wire::Json {
            return Ok(self
                .one::<ObjectJob>(Task::JobHistory { id: job_id }, None)
                .await?
                .0);
        }
        let query = Query::equal("id", &job_id.to_string());
        self.job_search(&query, JobQueue::History)
            .await?
            .into_iter()
            .find(|j| j.job_id() == Some(job_id))
            .ok_or_else(|| {
                Error::Api(ApiError {
                    task: "JobHistoryList",
                    http_status: 404,
                    stid: None,
                    status_code: None,
                    status_text: Some(format!("job {job_id} is not in the job history")),
                    messages: Vec::new(),
                })
            })
    }

    /// Approver Email Resend (400118, `PUT /job/{id}/_resendApproverEmail`, §4.3): GlobalSign
    /// sends the approval mail of job `job_id` again. Orders nothing. Sent once, never retried.
    /// JSON only: the XML gateway documents no such task, so over XML nothing is sent and the
    /// error says what to do instead.
    pub async fn job_resend_approver_email(&self, job_id: i64) -> Result<(), Error> {
        if self.inner.settings.wire == Wire::Xml {
            return Err(Error::InvalidRequest {
                task: "ApproverEmailResend",
                reason: XML_NO_RESEND.into(),
            });
        }
        self.call::<Void>(&Request {
            task: Task::JobResendApproverEmail { id: job_id },
            ctid: None,
        })
        .await
        .map(|_| ())
    }

    /// CertificateRenew (400106). Sent once, never retried.
    pub async fn certificate_renew(
        &self,
        id: i64,
        order: &CertificateOrder,
        ctid: &str,
    ) -> Result<Job, Error> {
        self.checked("CertificateRenew", order)?;
        let task = Task::CertificateRenew(Box::new(order.to_certificate(Some(id))));
        Ok(self.one::<Job>(task, Some(ctid)).await?.0)
    }

    /// CertificateReissue (400102): a new certificate for a new CSR. Sent once, never retried.
    pub async fn certificate_reissue(
        &self,
        id: i64,
        order: &CertificateOrder,
        ctid: &str,
    ) -> Result<Job, Error> {
        self.checked("CertificateReissue", order)?;
        let task = Task::CertificateReissue(Box::new(order.to_certificate(Some(id))));
        Ok(self.one::<Job>(task, Some(ctid)).await?.0)
    }

    /// CertificateDelete (400103): cancels the certificate. Sent once, never retried. Some
    /// answers carry no job; then the returned job is empty.
    pub async fn certificate_delete(&self, id: i64, ctid: &str) -> Result<Job, Error> {
        let env = self
            .call::<Job>(&Request {
                task: Task::CertificateDelete { id },
                ctid: Some(ctid.to_string()),
            })
            .await?;
        Ok(env.data.into_iter().next().unwrap_or_default())
    }

    /// CertificateRevoke (4001031): revokes the serial `serial`. Sent once, never retried.
    pub async fn certificate_revoke(&self, id: i64, serial: &str) -> Result<(), Error> {
        let cert = Certificate {
            id: Some(id),
            serial_number: Some(serial.to_string()),
            ..Default::default()
        };
        self.call::<Void>(&Request {
            task: Task::CertificateRevoke(Box::new(cert)),
            ctid: None,
        })
        .await
        .map(|_| ())
    }

    /// PollInfo (0905): the oldest unconfirmed message and the queue length.
    pub async fn poll_info(&self) -> Result<PollInfo, Error> {
        let env = self
            .call::<PollMessage>(&Request {
                task: Task::PollInfo,
                ctid: None,
            })
            .await?;
        let summary = env.summary();
        let message = env.data.into_iter().next();
        let queued = summary.unwrap_or(u64::from(message.is_some()));
        Ok(PollInfo { message, queued })
    }

    /// PollConfirm (0906): removes message `message_id` from the queue.
    pub async fn poll_confirm(&self, message_id: i64) -> Result<(), Error> {
        self.call::<Void>(&Request {
            task: Task::PollConfirm { id: message_id },
            ctid: None,
        })
        .await
        .map(|_| ())
    }
}
