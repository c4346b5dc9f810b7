//! Owns the [`Mailer`] trait every transport implements, its receipt type [`Sent`], and the
//! in-memory [`RecordingMailer`] used by tests (after lettre's `transport/stub`: it records what
//! was sent and can be told to fail like a server would).
//!
//! The trait is object-safe (boxed futures), so the pipeline holds a `Arc<dyn Mailer>` chosen by
//! config: SMTP, sendmail, the file outbox, or the recorder in tests.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use lettre::Message;

use super::error::DeliveryError;

/// The future a [`Mailer`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Sent, DeliveryError>> + Send + 'a>>;

/// What a transport reports after accepting a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The message's `Message-ID` header, for correlating with the relay's log.
    pub message_id: Option<String>,
    /// The transport's own word on it: the SMTP server's final reply (often with its queue id),
    /// the path written, or "accepted by /usr/sbin/sendmail".
    pub detail: String,
}

/// A way to hand a finished message to the mail system.
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends one message to the recipients in its envelope (the To header).
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a>;

    /// Where messages go, for logs and `status`: `smtp://host:port (starttls)`, a path.
    fn describe(&self) -> String;
}

pub(crate) fn message_id_of(message: &Message) -> Option<String> {
    message
        .headers()
        .get_raw("Message-ID")
        .map(|s| s.trim().to_string())
}

/// One message the [`RecordingMailer`] accepted.
#[derive(Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Envelope sender.
    pub from: Option<String>,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The message as it would have crossed the wire.
    pub raw: Vec<u8>,
}

impl fmt::Debug for Recorded {
    // A recorded password mail holds the password: never print the bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorded")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

#[derive(Debug, Default)]
struct RecorderState {
    sent: Vec<Recorded>,
    fail_next: VecDeque<DeliveryError>,
    fail_always: Option<DeliveryError>,
    attempts: usize,
}

/// Keeps sent messages in memory. Can be told to fail the next sends, or every send until
/// [`RecordingMailer::recover`], with a given error (e.g. from
/// [`DeliveryError::from_reply`]`("mx", 451, "...")`).
#[derive(Debug, Default)]
pub struct RecordingMailer {
    state: Mutex<RecorderState>,
}

impl RecordingMailer {
    /// A recorder that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next send fails with `err` (queued: call repeatedly for several failures).
    pub fn fail_next(&self, err: DeliveryError) {
        self.lock().fail_next.push_back(err);
    }

    /// Every send fails with `err` until [`RecordingMailer::recover`].
    pub fn fail_always(&self, err: DeliveryError) {
        self.lock().fail_always = Some(err);
    }

    /// Stops failing: clears both the queue and the standing failure.
    pub fn recover(&self) {
        let mut s = self.lock();
        s.fail_next.clear();
        s.fail_always = None;
    }

    /// The messages accepted so far, oldest first.
    pub fn sent(&self) -> Vec<Recorded> {
        self.lock().sent.clone()
    }

    /// How many sends were attempted, failed ones included.
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }
}

impl Mailer for RecordingMailer {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        let result = {
            let mut s = self.lock();
            s.attempts += 1;
            if let Some(err) = s.fail_next.pop_front() {
                Err(err)
            } else if let Some(err) = &s.fail_always {
                Err(err.clone())
            } else {
                let env = message.envelope();
                s.sent.push(Recorded {
                    from: env.from().map(|a| a.to_string()),
                    to: env.to().iter().map(|a| a.to_string()).collect(),
                    raw: message.formatted(),
                });
                Ok(Sent {
                    message_id: message_id_of(message),
                    detail: format!("recorded as message {}", s.sent.len()),
                })
            }
        };
        Box::pin(async move { result })
    }

    fn describe(&self) -> String {
        "in-memory recorder".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Message {
        Message::builder()
            .from("a@example.com".parse().unwrap())
            .to("b@example.com".parse().unwrap())
            .subject("hi")
            .body("hello".to_string())
            .unwrap()
    }

    #[tokio::test]
    async fn recorder_keeps_messages_and_plays_queued_then_standing_failures() {
        let r = RecordingMailer::new();
        r.fail_next(DeliveryError::from_reply("mx", 451, "later"));
        let e = r.send(&msg()).await.unwrap_err();
        assert!(e.is_transient());
        assert!(r.send(&msg()).await.is_ok());
        r.fail_always(DeliveryError::from_reply("mx", 550, "no such user"));
        assert!(r.send(&msg()).await.unwrap_err().is_permanent());
        assert!(r.send(&msg()).await.unwrap_err().is_permanent());
        r.recover();
        assert!(r.send(&msg()).await.is_ok());
        assert_eq!(r.attempts(), 5);
        let sent = r.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].to, vec!["b@example.com".to_string()]);
        assert!(String::from_utf8_lossy(&sent[0].raw).contains("hello"));
    }
}
