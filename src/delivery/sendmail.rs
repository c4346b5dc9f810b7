//! Owns [`SendmailMailer`] (hand messages to the local MTA's `sendmail` binary) and the helper
//! that runs an outside program with data on stdin, shared with the password `command` channel.
//!
//! Why not lettre's sendmail transport: it folds every non-zero exit into one "client error"
//! with stderr, losing the exit status, and the status is what tells a full queue
//! (`EX_TEMPFAIL`, retry) from an unknown user (`EX_NOUSER`, give up). The command line is the
//! same as lettre's: `sendmail -i -f FROM -- TO...` (sendmail(8): `-i` so a lone "." line does
//! not end the message; `--` so no address is read as an option).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use lettre::Message;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::error::{class_from_exit_status, DeliveryError, ErrorClass};
use super::mailer::{message_id_of, Mailer, SendFuture, Sent};

/// How long sendmail may take before we kill it and call the attempt transient.
const SENDMAIL_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of a program's stderr is kept in an error.
const STDERR_KEEP: usize = 2000;

/// Runs `program args...` with `input` on stdin. Returns `Ok(())` on exit status 0, and a
/// [`DeliveryError::Program`] classified by `sysexits.h` otherwise. The child is killed if the
/// timeout passes or the future is dropped.
pub(crate) async fn run_with_stdin(
    program: &Path,
    args: &[OsString],
    input: &[u8],
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let name = program.display().to_string();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DeliveryError::Program {
            program: name.clone(),
            what: "could not be started".into(),
            status: None,
            detail: e.to_string(),
            // A missing or non-executable program is a settings problem, not a mailbox's.
            class: ErrorClass::Config,
        })?;
    let mut stdin = child.stdin.take();
    let run = async {
        // Write stdin while the child runs; a child that exits without reading all of it
        // closes the pipe, which is its business and shows in its exit status.
        if let Some(mut s) = stdin.take() {
            let _ = s.write_all(input).await;
            let _ = s.shutdown().await;
        }
        child.wait_with_output().await
    };
    let output = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(DeliveryError::Program {
                program: name,
                what: "could not be waited for".into(),
                status: None,
                detail: e.to_string(),
                class: ErrorClass::Transient,
            })
        }
        Err(_) => {
            return Err(DeliveryError::Program {
                program: name,
                what: format!("did not finish within {} seconds", timeout.as_secs()),
                status: None,
                detail: "killed".into(),
                class: ErrorClass::Transient,
            })
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let status = output.status.code();
    let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if detail.len() > STDERR_KEEP {
        let cut = (0..=STDERR_KEEP)
            .rev()
            .find(|i| detail.is_char_boundary(*i))
            .unwrap_or(0);
        detail.truncate(cut);
        detail.push_str(" [...]");
    }
    if detail.is_empty() {
        detail = "(nothing on stderr)".into();
    }
    Err(DeliveryError::Program {
        program: name,
        what: match status {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".into(),
        },
        status,
        detail,
        class: class_from_exit_status(status),
    })
}

/// Hands messages to a sendmail-compatible binary (Postfix, Exim, OpenSMTPD, msmtp...).
#[derive(Debug, Clone)]
pub struct SendmailMailer {
    program: PathBuf,
    timeout: Duration,
}

impl SendmailMailer {
    /// A mailer running `program` (e.g. `/usr/sbin/sendmail`). Refuses a path that does not
    /// exist, so a typo shows at start-up.
    pub fn new(program: impl Into<PathBuf>) -> Result<SendmailMailer, DeliveryError> {
        let program = program.into();
        if !program.is_file() {
            return Err(DeliveryError::Config(format!(
                "delivery.sendmail.command: {} does not exist (install an MTA such as postfix, \
                 or set the path of its sendmail binary)",
                program.display()
            )));
        }
        Ok(SendmailMailer {
            program,
            timeout: SENDMAIL_TIMEOUT,
        })
    }

    /// Changes how long one run may take (default 120 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Mailer for SendmailMailer {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let env = message.envelope();
            let mut args: Vec<OsString> = vec!["-i".into()];
            if let Some(from) = env.from() {
                args.push("-f".into());
                args.push(from.to_string().into());
            }
            args.push("--".into());
            args.extend(env.to().iter().map(|a| OsString::from(a.to_string())));
            run_with_stdin(&self.program, &args, &message.formatted(), self.timeout).await?;
            Ok(Sent {
                message_id: message_id_of(message),
                detail: format!("accepted by {}", self.program.display()),
            })
        })
    }

    fn describe(&self) -> String {
        format!("sendmail {}", self.program.display())
    }
}
