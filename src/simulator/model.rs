//! The simulator's state: SSL contacts, certificates, jobs, the poll queue and the order log, plus
//! the API's two date formats and atomic persistence of the whole state to `state.json`.
//!
//! Ids start where InterNetX's own examples sit (contacts in the tens of thousands, certificates
//! around 1.6 million, jobs above 2^32, poll messages around 10^9) so a client that squeezes a job
//! id into an `i32` fails here as it would against the real API (`autodns-api.md` §2.14 "Job").

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, UtcOffset, Weekday};

use super::SimulatorError;
use crate::secret::Secret;

/// Owner of an object: the API user and the context the request came in with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Owner {
    pub user: String,
    pub context: u32,
}

/// An SSL contact (`SslContact`, `autodns-api.md` §2.14).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Contact {
    pub id: i64,
    pub fname: String,
    pub lname: String,
    pub email: String,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub title: Option<String>,
    pub organization: Option<String>,
    pub address: Vec<String>,
    pub pcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub owner: Owner,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

/// One earlier serial number of a certificate (`CertificateHistory`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct History {
    pub serial_number: String,
    pub order_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked: Option<OffsetDateTime>,
}

/// A certificate order and, once its job succeeded, the issued certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Certificate {
    pub id: i64,
    pub name: String,
    pub product: String,
    pub certificate_type: String,
    pub lifetime_months: i64,
    pub software: String,
    pub admin_id: i64,
    pub technical_id: Option<i64>,
    pub has_csr: bool,
    pub csr: Option<String>,
    /// The certificate download password; hidden from `Debug`, kept in the state file.
    #[serde(with = "crate::secret::exposed_option", default)]
    pub password: Option<Secret<String>>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub organization_unit_name: Option<String>,
    pub approver_email: String,
    /// The issued leaf, PEM. `None` before issuance and for `has_csr = false` orders, where the CA
    /// keeps the key and the user collects the certificate from GlobalSign.
    pub server: Option<String>,
    pub serial_number: Option<String>,
    pub order_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expire: Option<OffsetDateTime>,
    pub histories: Vec<History>,
    /// The job currently working on this certificate, if any.
    pub pending_job: Option<i64>,
    pub owner: Owner,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

/// What a job does (`Job.action`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JobAction {
    Create,
    Renew,
    Reissue,
    Delete,
}

impl JobAction {
    /// The wire spelling (`Job.action`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Create => "create",
            JobAction::Renew => "renew",
            JobAction::Reissue => "reissue",
            JobAction::Delete => "delete",
        }
    }

    /// The task code whose asynchronous result this job carries (`autodns-api.md` §2.1).
    pub fn task_code(self) -> &'static str {
        match self {
            JobAction::Create => "400101",
            JobAction::Renew => "400106",
            JobAction::Reissue => "400102",
            JobAction::Delete => "400103",
        }
    }
}

/// A detail message (`Message` in JSON, `<msg>` in XML) with an `EF…` code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ApiMsg {
    pub code: String,
    pub text: String,
    /// `(type, value)` pairs naming the offending field or object.
    pub objects: Vec<(String, String)>,
}

/// How a job ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct JobOutcome {
    pub success: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub finished: OffsetDateTime,
    pub messages: Vec<ApiMsg>,
}

/// An asynchronous certificate job (`Job`, `autodns-api.md` §2.14 and §3.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Job {
    pub id: i64,
    pub action: JobAction,
    pub cert_id: i64,
    pub name: String,
    pub product: String,
    pub owner: Owner,
    pub ctid: Option<String>,
    pub stid: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Until then the job is `DEFERRED` (waiting for the mailbox owner's approval).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub deferred_until: Option<OffsetDateTime>,
    /// When the job finishes.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// The CSR to sign when the job succeeds (create, renew, reissue with `has_csr`).
    pub csr: Option<String>,
    pub lifetime_months: i64,
    pub outcome: Option<JobOutcome>,
}

impl Job {
    /// `JobStatusConstants` value at `now`.
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        match &self.outcome {
            Some(o) if o.success => "SUCCESS",
            Some(_) => "FAILED",
            None if self.deferred_until.is_some_and(|d| now < d) => "DEFERRED",
            None => "RUNNING",
        }
    }

    /// When the job last changed.
    pub fn updated(&self, now: OffsetDateTime) -> OffsetDateTime {
        match (&self.outcome, self.deferred_until) {
            (Some(o), _) => o.finished,
            (None, Some(d)) if now >= d => d,
            _ => self.created,
        }
    }
}

/// The certificate as it stood when a job message was queued.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CertSnapshot {
    pub id: i64,
    pub name: String,
    pub product: String,
    pub serial_number: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expire: Option<OffsetDateTime>,
}

/// What a poll message is about.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum MessageBody {
    /// A finished certificate job of ours.
    CertificateJob {
        job: Box<Job>,
        certificate: CertSnapshot,
    },
    /// An unrelated domain job (fault `foreign_messages`).
    ForeignDomainJob { job_id: i64, domain: String },
    /// An unrelated event notification (fault `foreign_messages`).
    ForeignNotify { notify_type: String, domain: String },
}

/// One message in the poll queue (`PollMessage`, `autodns-api.md` §2.13, §3.2, §3.3).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Message {
    pub id: i64,
    pub owner: Owner,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    pub body: MessageBody,
}

/// One certificate order received (`GET /_simulator/orders`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderRecord {
    /// `create`, `renew` or `reissue`.
    pub task: String,
    /// The certificate name, i.e. the mailbox address.
    pub name: String,
    /// The client transaction id the order came with.
    pub ctid: Option<String>,
    /// The job the order started; `None` when the order was refused.
    pub job_id: Option<i64>,
    /// The certificate the order created or changed; `None` when refused.
    pub certificate_id: Option<i64>,
    /// `RUNNING`, `DEFERRED`, `SUCCESS`, `FAILED`, or `REJECTED` (refused with an `E…` answer,
    /// nothing ordered; see `error`).
    pub status: String,
    /// The `EF…` code of a refused order.
    pub error: Option<String>,
    /// Whether the client supplied its own CSR.
    pub has_csr: bool,
    /// `json` or `xml`.
    pub transport: String,
    /// The product ordered.
    pub product: Option<String>,
    /// The subject first and last name the order carried (`firstname`, `lastname`), if any.
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    /// When the simulator received the order.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

/// One approval mail sent again (`PUT /job/{id}/_resendApproverEmail`, 400118), for inspection
/// (`GET /_simulator/approval-resends`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApprovalResend {
    /// The job whose approval mail was sent again.
    pub job_id: i64,
    /// The certificate name, i.e. the mailbox address.
    pub name: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Everything the simulator remembers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct State {
    pub next_contact: i64,
    pub next_cert: i64,
    pub next_job: i64,
    pub next_msg: i64,
    pub next_stid: u64,
    pub next_foreign: i64,
    pub contacts: BTreeMap<i64, Contact>,
    pub certificates: BTreeMap<i64, Certificate>,
    pub jobs: BTreeMap<i64, Job>,
    pub queue: VecDeque<Message>,
    pub orders: Vec<OrderRecord>,
    /// Approval mails sent again (a state file from before has none).
    #[serde(default)]
    pub approval_resends: Vec<ApprovalResend>,
}

impl Default for State {
    fn default() -> Self {
        State {
            next_contact: 37_800,
            next_cert: 1_658_500,
            next_job: 4_309_880_000,
            next_msg: 1_005_361_000,
            next_stid: 1,
            next_foreign: 4_309_990_000,
            contacts: BTreeMap::new(),
            certificates: BTreeMap::new(),
            jobs: BTreeMap::new(),
            queue: VecDeque::new(),
            orders: Vec::new(),
            approval_resends: Vec::new(),
        }
    }
}

impl State {
    /// A fresh server transaction id, shaped like the real ones (`20200311-app2-dev-14279`).
    pub fn stid(&mut self, now: OffsetDateTime) -> String {
        let n = self.next_stid;
        self.next_stid += 1;
        format!(
            "{:04}{:02}{:02}-sim-{n}",
            now.year(),
            u8::from(now.month()),
            now.day()
        )
    }

    pub fn take_contact_id(&mut self) -> i64 {
        self.next_contact += 1;
        self.next_contact
    }

    pub fn take_cert_id(&mut self) -> i64 {
        self.next_cert += 1;
        self.next_cert
    }

    pub fn take_job_id(&mut self) -> i64 {
        self.next_job += 1;
        self.next_job
    }

    pub fn take_msg_id(&mut self) -> i64 {
        self.next_msg += 1;
        self.next_msg
    }

    /// The earliest instant at which an unfinished job changes state.
    pub fn next_change(&self) -> Option<OffsetDateTime> {
        self.jobs
            .values()
            .filter(|j| j.outcome.is_none())
            .flat_map(|j| [j.deferred_until, Some(j.due_at)])
            .flatten()
            .min()
    }
}

/// Reads and writes `state.json` in the state directory.
#[derive(Debug, Clone)]
pub(crate) struct Persist {
    dir: PathBuf,
}

const STATE_FILE: &str = "state.json";

impl Persist {
    /// Creates the directory (0700) if needed.
    pub fn open(dir: &Path) -> Result<Persist, SimulatorError> {
        make_private_dir(dir)?;
        Ok(Persist {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored state, or a fresh one when there is none yet.
    pub fn load(&self) -> Result<State, SimulatorError> {
        let path = self.dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SimulatorError::CorruptState {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(SimulatorError::Io { path, source }),
        }
    }

    /// Writes the state atomically (temp file in the same directory, fsync, rename).
    pub fn save(&self, state: &State) -> Result<(), SimulatorError> {
        let bytes = serde_json::to_vec(state).map_err(|e| SimulatorError::CorruptState {
            path: self.dir.join(STATE_FILE),
            reason: format!("cannot serialise state: {e}"),
        })?;
        write_private_atomic(&self.dir.join(STATE_FILE), &bytes)
    }
}

/// Creates `dir` (and parents) and sets it to 0700: it holds CA keys and download passwords.
pub(crate) fn make_private_dir(dir: &Path) -> Result<(), SimulatorError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| SimulatorError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)
}

/// Writes `bytes` to `path` with mode 0600 by write-then-rename (through [`crate::fsutil`]), so a
/// crash leaves the old file or the new one, never half of either. The directory is not fsynced:
/// the simulator saves on every request and a lost rename only loses test state.
pub(crate) fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), SimulatorError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| SimulatorError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
        })?;
    crate::fsutil::AtomicWriter::new()
        .prefix(".tmp")
        .without_dir_sync()
        .write(dir, name, bytes)
        .map(|_| ())
        .map_err(|e| SimulatorError::Io {
            path: path.to_path_buf(),
            source: e.source,
        })
}

// ---- dates -------------------------------------------------------------------------------------

/// The offset of Europe/Berlin at `utc`: CEST (+02:00) from the last Sunday of March 01:00 UTC to
/// the last Sunday of October 01:00 UTC, CET (+01:00) otherwise (EU summer-time rule, Directive
/// 2000/84/EC). AutoDNS is run from Regensburg and its fixtures carry `+0100`/`+0200`
/// (`autodns-api.md` §1.5), so a client that ignores the offset is caught here.
pub(crate) fn berlin_offset(utc: OffsetDateTime) -> UtcOffset {
    let utc = utc.to_offset(UtcOffset::UTC);
    let year = utc.year();
    let switch = |month: Month| -> Option<OffsetDateTime> {
        let last = Date::from_calendar_date(year, month, month.length(year)).ok()?;
        let back = last.weekday().number_days_from_sunday();
        let sunday = last - time::Duration::days(i64::from(back));
        debug_assert_eq!(sunday.weekday(), Weekday::Sunday);
        Some(sunday.with_hms(1, 0, 0).ok()?.assume_utc())
    };
    let summer = match (switch(Month::March), switch(Month::October)) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        _ => false,
    };
    let hours = if summer { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// JSON date: `2022-01-13T13:33:21.000+0100` (`autodns-api.md` §1.5).
pub(crate) fn json_date(t: OffsetDateTime) -> String {
    let local = t.to_offset(berlin_offset(t));
    let off = local.offset();
    let (h, m, _) = off.as_hms();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}{:02}{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.millisecond(),
        if off.is_negative() { '-' } else { '+' },
        h.unsigned_abs(),
        m.unsigned_abs()
    )
}

/// XML date: `2017-12-31 23:59:59`, Berlin wall-clock time without a zone (`autodns-api.md` §1.5).
pub(crate) fn xml_date(t: OffsetDateTime) -> String {
    let local = t.to_offset(berlin_offset(t));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn json_dates_carry_the_berlin_offset_without_a_colon() {
        assert_eq!(
            json_date(datetime!(2022-01-13 12:33:21 UTC)),
            "2022-01-13T13:33:21.000+0100"
        );
        assert_eq!(
            json_date(datetime!(2021-05-03 11:39:31 UTC)),
            "2021-05-03T13:39:31.000+0200"
        );
    }

    #[test]
    fn summer_time_switches_on_the_last_sundays_of_march_and_october_at_one_utc() {
        // 2026: last Sunday of March is the 29th, of October the 25th.
        assert_eq!(
            berlin_offset(datetime!(2026-03-29 00:59:59 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            berlin_offset(datetime!(2026-03-29 01:00:00 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            berlin_offset(datetime!(2026-10-25 00:59:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            berlin_offset(datetime!(2026-10-25 01:00:00 UTC)).whole_hours(),
            1
        );
    }

    #[test]
    fn xml_dates_are_naive_berlin_wall_clock_time() {
        assert_eq!(
            xml_date(datetime!(2017-12-31 22:59:59 UTC)),
            "2017-12-31 23:59:59"
        );
    }
}
