//! Owns [`FileOutbox`]: messages written as `.eml` files into a directory instead of sent, for
//! trials without a mail server and for tests.
//!
//! Unlike lettre's file transport, each file is written atomically (temporary name, fsync,
//! rename) with mode 0600 in a 0700 directory: the outbox holds password mails, so it must be
//! as private as the password `file` channel, and a script watching the directory must never
//! pick up half a message.

use std::path::{Path, PathBuf};

use lettre::Message;

use super::error::DeliveryError;
use super::fsutil::{ensure_private_dir, write_private_atomic};
use super::mailer::{message_id_of, Mailer, SendFuture, Sent};

/// Writes each message to `DIR/MESSAGEID.eml` (our Message-IDs start with the composition time,
/// so names sort by time); a second copy of the same message gets `-2`, `-3`, ...
#[derive(Debug, Clone)]
pub struct FileOutbox {
    dir: PathBuf,
}

impl FileOutbox {
    /// An outbox in `dir`, created 0700 if missing; an existing directory that others can read
    /// is refused.
    pub fn new(dir: impl Into<PathBuf>) -> Result<FileOutbox, DeliveryError> {
        let dir = dir.into();
        ensure_private_dir(&dir, "delivery.file.dir")?;
        Ok(FileOutbox { dir })
    }

    /// The directory messages are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A file-name-safe rendering of the Message-ID (RFC 5322 `msg-id` may hold `/`).
fn file_stem(message: &Message) -> String {
    let id = message_id_of(message).unwrap_or_else(|| "message".into());
    id.trim_matches(|c| c == '<' || c == '>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Mailer for FileOutbox {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let name = format!("{}.eml", file_stem(message));
            let raw = message.formatted();
            let dir = self.dir.clone();
            let path =
                tokio::task::spawn_blocking(move || write_private_atomic(&dir, &name, &raw, false))
                    .await
                    .map_err(|e| {
                        DeliveryError::Config(format!("outbox writer task failed: {e}"))
                    })??;
            Ok(Sent {
                message_id: message_id_of(message),
                detail: format!("written to {}", path.display()),
            })
        })
    }

    fn describe(&self) -> String {
        format!("file outbox {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn messages_become_0600_eml_files_named_after_their_message_id() {
        let base = tempfile::tempdir().unwrap();
        let outbox = FileOutbox::new(base.path().join("outbox")).unwrap();
        let m = Message::builder()
            .from("a@example.com".parse().unwrap())
            .to("b@example.com".parse().unwrap())
            .message_id(Some("<1.ab/cd@example.com>".into()))
            .subject("hi")
            .body("hello".to_string())
            .unwrap();
        let sent = outbox.send(&m).await.unwrap();
        assert_eq!(sent.message_id.as_deref(), Some("<1.ab/cd@example.com>"));
        let files: Vec<_> = std::fs::read_dir(outbox.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        let name = files[0].file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(name, "1.ab_cd@example.com.eml");
        assert_eq!(std::fs::metadata(&files[0]).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&files[0]).unwrap(), m.formatted());
        // The same message twice is two files, not one overwritten.
        outbox.send(&m).await.unwrap();
        assert_eq!(std::fs::read_dir(outbox.dir()).unwrap().count(), 2);
    }
}
