//! Owns the [`Autodns`](crate::pipeline::ports::Autodns) port over the typed AutoDNS client:
//! contact, order, lost-order lookup (its matching is the pure [`super::lost_order`]), job
//! state, certificate fetch, revocation and the poll queue; and the poll/push message mapping.

use std::sync::{Arc, Mutex};

use rand::RngCore;
use time::OffsetDateTime;

use super::class;
use super::lost_order::LostOrder;
use crate::mailbox::Address;
use crate::pipeline::ports::{IssuedCertificate, PortError};
use crate::pipeline::ErrorClass;

/// AutoDNS through the typed [`autodns::Client`](crate::autodns::Client), either wire format.
///
/// Every order is a CertificateCreate, also for renewals and reprovisions: a fresh certificate
/// object per generation is what lets an order of unknown outcome be found again by name and
/// creation time, whereas CertificateRenew changes the existing object
/// in place. Revocation uses CertificateDelete, because CertificateRevoke is offered only for
/// other CAs' products.
pub struct AutodnsPort {
    client: crate::autodns::Client,
    contact: crate::config::ContactConfig,
    product: String,
    lifetime_months: u32,
    domains: crate::mailbox::DomainPolicy,
    rng: Mutex<Box<dyn RngCore + Send>>,
    /// Told what PollInfo says about the queue (its length, its oldest message).
    metrics: Option<Arc<crate::pipeline::metrics::Metrics>>,
}

impl std::fmt::Debug for AutodnsPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutodnsPort")
            .field("client", &self.client)
            .field("product", &self.product)
            .finish_non_exhaustive()
    }
}

/// The stable code of an AutoDNS error: the first detail code, else the status code, else the
/// HTTP status, else the error kind.
fn autodns_code(e: &crate::autodns::Error) -> String {
    if let Some(api) = e.api() {
        if let Some(c) = api.messages.iter().find_map(|m| m.code.clone()) {
            return c;
        }
        if let Some(c) = &api.status_code {
            return c.clone();
        }
    }
    match (e, e.http_status()) {
        (
            crate::autodns::Error::Network {
                timed_out: true, ..
            },
            _,
        ) => "timeout".into(),
        (crate::autodns::Error::Network { .. }, _) => "network".into(),
        (_, Some(s)) => format!("http-{s}"),
        _ => e.kind().as_str().to_string(),
    }
}

/// A failed lookup is never "not found": the caller must not re-order on it, only try again
/// later (exactly-once ordering).
fn lookup_err(e: crate::autodns::Error) -> PortError {
    PortError {
        class: ErrorClass::Transient,
        ..autodns_err(e)
    }
}

fn autodns_err(e: crate::autodns::Error) -> PortError {
    PortError {
        class: class(e.is_transient()),
        code: autodns_code(&e),
        text: e.to_string(),
        not_performed: !e.outcome_unknown(),
    }
}

/// A poll message or push in the pipeline's words.
pub fn notice_of(m: &crate::autodns::PollMessage) -> crate::pipeline::ports::Notice {
    use crate::pipeline::ports::{Notice, NoticeOutcome};
    let outcome = if m.is_success() {
        NoticeOutcome::Success
    } else if m.is_failure() {
        let first = m
            .messages
            .iter()
            .find(|x| x.code.is_some() || x.text.is_some());
        NoticeOutcome::Failed {
            code: first
                .and_then(|x| x.code.clone())
                .unwrap_or_else(|| "job-failed".into()),
            text: first
                .and_then(|x| x.text.clone())
                .unwrap_or_else(|| "the CA did not issue the certificate".into()),
        }
    } else {
        NoticeOutcome::Other
    };
    Notice {
        message_id: m.id,
        job_id: m.job_id(),
        ctid: m.ctid().map(str::to_string),
        certificate_id: m.certificate_id(),
        outcome,
    }
}

/// Parses an AutoDNS push body (either format) into a notice; for `daemon::PushParser`.
pub fn parse_push_notice(body: &[u8]) -> Result<crate::pipeline::ports::Notice, String> {
    let m = crate::autodns::parse_push(body).map_err(|e| e.to_string())?;
    let mut n = notice_of(&m);
    // The same message also waits in the poll queue; the poller confirms it there.
    n.message_id = None;
    Ok(n)
}

impl AutodnsPort {
    /// A port over `client`, ordering per the `[autodns]` and `[domains]` config.
    pub fn new(
        client: crate::autodns::Client,
        autodns: &crate::config::AutodnsConfig,
        domains: &crate::mailbox::DomainPolicy,
        rng: Box<dyn RngCore + Send>,
    ) -> Self {
        AutodnsPort {
            client,
            contact: autodns.contact.clone(),
            product: autodns.product.clone(),
            lifetime_months: autodns.lifetime_months,
            domains: domains.clone(),
            rng: Mutex::new(rng),
            metrics: None,
        }
    }

    /// Reports the poll queue (and, through the client, every request) to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::pipeline::metrics::Metrics>) -> Self {
        self.client.set_observer(metrics.clone());
        self.metrics = Some(metrics);
        self
    }

    /// The client.
    pub fn client(&self) -> &crate::autodns::Client {
        &self.client
    }
}

impl crate::pipeline::ports::Autodns for AutodnsPort {
    async fn ensure_contact(&self) -> Result<i64, PortError> {
        use crate::config::ContactConfig;
        let d = match &self.contact {
            ContactConfig::Existing(id) => return Ok(*id),
            ContactConfig::Create(d) => d,
        };
        // Reuse a contact made by an earlier run whose id was not stored (state dir wiped).
        let existing = self.client.ssl_contact_list().await.map_err(autodns_err)?;
        let same = |c: &crate::autodns::SslContact| {
            c.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&d.email))
                && c.fname.as_deref() == Some(d.first.as_str())
                && c.lname.as_deref() == Some(d.last.as_str())
        };
        if let Some(id) = existing.iter().filter(|c| same(c)).find_map(|c| c.id) {
            return Ok(id);
        }
        let contact = crate::autodns::SslContact {
            fname: Some(d.first.clone()),
            lname: Some(d.last.clone()),
            phone: Some(d.phone.clone()),
            fax: d.fax.clone(),
            email: Some(d.email.clone()),
            title: Some(d.title.clone()),
            organization: Some(d.organization.clone()),
            address: vec![d.address.clone()],
            pcode: Some(d.postal_code.clone()),
            city: Some(d.city.clone()),
            country: Some(d.country.clone()),
            state: Some(d.state.clone()),
            ..Default::default()
        };
        let created = self
            .client
            .ssl_contact_create(&contact)
            .await
            .map_err(autodns_err)?;
        created
            .id
            .ok_or_else(|| PortError::transient("malformed", "SSLContactCreate returned no id"))
    }

    async fn order(
        &self,
        req: &crate::pipeline::ports::OrderRequest<'_>,
    ) -> Result<crate::pipeline::ports::OrderPlaced, PortError> {
        let download = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            crate::crypto::generate_download_password(&mut *rng)
        };
        let mut o = crate::autodns::CertificateOrder::new(
            req.address.as_str(),
            req.csr_pem,
            req.contact_id,
            download,
        );
        o.product = self.product.clone();
        o.lifetime_months = self.lifetime_months;
        if let Some(ov) = self.domains.override_for(req.address) {
            if let Some(p) = &ov.product {
                o.product = p.clone();
            }
            if let Some(l) = ov.lifetime_months {
                o.lifetime_months = l;
            }
            o.organization_unit_name = ov.organization_unit.clone();
            if let Some(a) = ov.admin_contact_id {
                o.admin_contact_id = a;
            }
            o.technical_contact_id = ov.technical_contact_id;
        }
        // Both name fields or neither (`DisplayName::first_and_last`); without a name the order
        // carries none, as before names were known.
        if let Some((first, last)) = req.display_name.and_then(|n| n.first_and_last()) {
            o.firstname = Some(first);
            o.lastname = Some(last);
        }
        let job = self
            .client
            .certificate_create(&o, req.ctid)
            .await
            .map_err(|e| {
                // The order names no other object than its contacts, so "no such object" is
                // about them; a configured contact id cannot heal by itself.
                if e.kind() != crate::autodns::ErrorKind::NotFound || e.outcome_unknown() {
                    return autodns_err(e);
                }
                let configured = matches!(self.contact, crate::config::ContactConfig::Existing(_));
                PortError {
                    class: class(!configured),
                    code: crate::pipeline::ports::CONTACT_NOT_FOUND.into(),
                    text: if configured {
                        format!("{e}; check autodns.contact_id in the config")
                    } else {
                        format!("{e}; the SSL contact is looked up or created again before the next order")
                    },
                    not_performed: true,
                }
            })?;
        match job.id {
            Some(job_id) => Ok(crate::pipeline::ports::OrderPlaced {
                job_id,
                certificate_id: None,
            }),
            // Accepted but unreadable: the order may exist; the reconciler looks it up.
            None => Err(PortError::transient(
                "malformed",
                "CertificateCreate was accepted but named no job",
            )),
        }
    }

    async fn find_order(
        &self,
        address: &Address,
        ctid: &str,
        since: OffsetDateTime,
        exclude: Option<i64>,
    ) -> Result<Option<crate::pipeline::ports::FoundOrder>, PortError> {
        use crate::autodns::{JobQueue, Query};
        use crate::pipeline::ports::FoundOrder;
        let lost = LostOrder {
            address,
            ctid,
            since,
            exclude,
        };
        // 1. The job list (400115, `POST /job/_search`): an order whose answer
        // was lost is a running job at once, before the certificate list may show it. The ctid
        // is not a documented filter key, so the search filters on the name (`object`) and the
        // ctid is matched in `lost_order`.
        let by_name = Query::equal("object", address.as_str());
        let active = self
            .client
            .job_search(&by_name, JobQueue::Active)
            .await
            .map_err(lookup_err)?;
        if let Some(found) = lost.in_active(&active) {
            return Ok(Some(found));
        }
        // 2. The job history (400135, `POST /job/history/_search`): the job already ended. A
        // successful one names the certificate (if the answer carries it), which is checked for
        // its PEM below. A finished job's state cannot be read by id over XML, so a failed one
        // is not reported as found: the certificate list below decides.
        let finished = self
            .client
            .job_search(&by_name, JobQueue::History)
            .await
            .map_err(lookup_err)?;
        let (job_id, mut found_id) = lost.in_history(&finished);
        // 3. The certificate list by name (400105): the fallback when neither job list names the
        // certificate.
        let mut found_pem = None;
        if found_id.is_none() {
            let list = self
                .client
                .certificate_list(Some(address.as_str()))
                .await
                .map_err(lookup_err)?;
            let Some(found) = lost.in_list(&list) else {
                // A successful job of ours whose certificate is not listed (yet) is still an
                // order: never "not found", which could buy a second certificate.
                return Ok(job_id.map(|job| FoundOrder {
                    job_id: Some(job),
                    certificate_id: None,
                    issued: false,
                }));
            };
            found_id = found.id;
            found_pem = found.server.clone();
        }
        let issued = match (found_pem, found_id) {
            (Some(_), _) => true,
            (None, Some(id)) => {
                let full = self.client.certificate_info(id).await.map_err(lookup_err)?;
                full.server.is_some()
            }
            (None, None) => false,
        };
        Ok(Some(FoundOrder {
            job_id,
            certificate_id: found_id,
            issued,
        }))
    }

    async fn job_state(&self, job_id: i64) -> Result<crate::pipeline::ports::JobState, PortError> {
        use crate::autodns::{ErrorKind, JobStatus};
        use crate::pipeline::ports::JobState;
        let oj = match self.client.job_info(job_id).await {
            Ok(j) => j,
            // `EF300101`: the job left the active queue. Its outcome is in the job history
            // (AutoDNS API, job info and job history): a failed or canceled job must go back to
            // "re-order", not to "order vanished" — the CA removes a refused
            // order's certificate, so a lookup by name cannot tell the two apart.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                match self.client.job_history(job_id).await {
                    Ok(j) => j,
                    Err(h) if h.is_transient() => return Err(autodns_err(h)),
                    // Not in the history either: the caller looks the certificate up by name.
                    Err(h) => {
                        tracing::debug!(job = job_id, error = %h, "job history unavailable");
                        return Ok(JobState::Gone);
                    }
                }
            }
            Err(e) => return Err(autodns_err(e)),
        };
        let status = oj.job.as_ref().and_then(|j| j.status.clone());
        Ok(match status {
            Some(JobStatus::Success) => JobState::Succeeded {
                certificate_id: oj.certificate_id(),
            },
            Some(s @ (JobStatus::Failed | JobStatus::Canceled)) => JobState::Failed {
                code: format!("job-{}", format!("{s:?}").to_ascii_lowercase()),
                text: if oj.notices.is_empty() {
                    "the CA did not issue the certificate".into()
                } else {
                    oj.notices.join("; ")
                },
            },
            _ if oj.awaits_approval() => JobState::AwaitingApproval,
            _ => JobState::Pending,
        })
    }

    async fn fetch_certificate(&self, certificate_id: i64) -> Result<IssuedCertificate, PortError> {
        let c = self
            .client
            .certificate_info(certificate_id)
            .await
            .map_err(autodns_err)?;
        let Some(leaf) = c.server else {
            return Err(PortError::transient(
                "not-issued-yet",
                format!("certificate {certificate_id} has no PEM yet"),
            ));
        };
        let chain: Vec<String> = c
            .certification_authority
            .into_iter()
            .filter_map(|ca| ca.ca_certificate)
            .collect();
        Ok(IssuedCertificate {
            certificate_pem: leaf,
            chain_pem: chain.join("\n"),
        })
    }

    async fn revoke(
        &self,
        certificate_id: i64,
    ) -> Result<crate::pipeline::ports::Revocation, PortError> {
        use crate::pipeline::ports::Revocation;
        let ctid = format!("smp-delete-{certificate_id}");
        match self.client.certificate_delete(certificate_id, &ctid).await {
            Ok(_) => Ok(Revocation::Revoked),
            // The id is the one AutoDNS gave this mailbox's order, so "no such certificate"
            // means it was deleted already: by our earlier request whose answer was lost (a
            // retry after a timeout lands here), or by hand. Failing would leave a cancelled
            // certificate's mailbox "failed" with nothing left to do.
            Err(e) if e.kind() == crate::autodns::ErrorKind::NotFound => {
                tracing::info!(
                    certificate = certificate_id,
                    "certificate already gone at AutoDNS: {e}"
                );
                Ok(Revocation::AlreadyGone)
            }
            Err(e) => Err(autodns_err(e)),
        }
    }

    async fn poll(&self) -> Result<Option<crate::pipeline::ports::Notice>, PortError> {
        let info = self.client.poll_info().await.map_err(autodns_err)?;
        if let Some(m) = &self.metrics {
            let head = info.message.as_ref().map(|msg| {
                // A naive (XML) time has no zone: the time we first saw the message stands in.
                let created = match &msg.created {
                    Some(crate::autodns::Timestamp::Zoned(t)) => Some(*t),
                    _ => None,
                };
                (msg.id.unwrap_or(0), created)
            });
            m.poll_queue(info.queued, head);
        }
        Ok(info.message.as_ref().map(notice_of))
    }

    async fn confirm(&self, message_id: i64) -> Result<(), PortError> {
        self.client
            .poll_confirm(message_id)
            .await
            .map_err(autodns_err)
    }
}
