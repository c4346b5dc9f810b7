//! Owns the one atomic file writer every part of the crate uses for files a reader must never
//! see half-written (outbox messages, password files, key-store entries, the key-encryption key,
//! spool requests): a temporary file in the target's own directory (so the rename cannot cross
//! file systems), created 0600 and then set to the exact mode asked for (a `chmod`, so the
//! caller's umask cannot change it), written, fsynced, moved into place, and the directory
//! fsynced (POSIX `rename(2)` alone does not make the new entry durable). A crash leaves either
//! the old file or the new one.
//!
//! Callers keep their own error types and messages: a failure says which [`Step`] failed and on
//! which path, and each caller maps that to the words it has always used.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// How the finished temporary file takes its final name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Replace any file of that name (`rename(2)`).
    Replace,
    /// Fail with [`io::ErrorKind::AlreadyExists`] if the name is taken (`renameat2` with
    /// `RENAME_NOREPLACE`, or a hard link where that is unsupported).
    NoClobber,
    /// Keep an existing file and try `stem-2.ext`, `stem-3.ext`, ... (up to 999) instead.
    Renumber,
}

/// The step of an atomic write that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating the temporary file; the path is the directory.
    CreateTemp,
    /// Setting the file's mode; the path is the temporary file.
    SetMode,
    /// Writing the bytes; the path is the temporary file.
    Write,
    /// Fsyncing the file; the path is the temporary file.
    Sync,
    /// Moving it to its final name; the path is that name.
    Place,
    /// Fsyncing the directory; the path is the directory, [`WriteError::written`] the file.
    SyncDir,
}

impl Step {
    /// What was being done, as a verb phrase that the failing path completes.
    pub fn doing(self) -> &'static str {
        match self {
            Step::CreateTemp => "creating a temporary file in",
            Step::SetMode => "setting permissions on",
            Step::Write => "writing",
            Step::Sync => "syncing",
            Step::Place => "renaming into",
            Step::SyncDir => "syncing directory",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.doing())
    }
}

/// An atomic write that failed at `step` on `path`.
#[derive(Debug, thiserror::Error)]
#[error("{step} {}: {source}", path.display())]
pub struct WriteError {
    pub step: Step,
    pub path: PathBuf,
    /// The final path, once the file was placed (only for [`Step::SyncDir`]).
    pub written: Option<PathBuf>,
    #[source]
    pub source: io::Error,
}

impl WriteError {
    fn at(step: Step, path: &Path) -> impl FnOnce(io::Error) -> WriteError {
        let path = path.to_path_buf();
        move |source| WriteError {
            step,
            path,
            written: None,
            source,
        }
    }
}

/// How to write: the temporary file's name prefix, the final mode, the placement, and whether
/// the directory is fsynced after each file (a caller writing several files may sync it once
/// at the end with [`sync_dir`]).
#[derive(Debug, Clone, Copy)]
pub struct AtomicWriter<'a> {
    prefix: &'a str,
    mode: u32,
    placement: Placement,
    sync_dir: bool,
}

impl Default for AtomicWriter<'_> {
    fn default() -> Self {
        AtomicWriter::new()
    }
}

impl<'a> AtomicWriter<'a> {
    /// Mode 0600, prefix `.tmp-`, [`Placement::Replace`], directory fsynced.
    pub fn new() -> AtomicWriter<'a> {
        AtomicWriter {
            prefix: ".tmp-",
            mode: 0o600,
            placement: Placement::Replace,
            sync_dir: true,
        }
    }

    /// The temporary file's name starts with `prefix` (a dot keeps it out of listings).
    pub fn prefix(mut self, prefix: &'a str) -> Self {
        self.prefix = prefix;
        self
    }

    /// The final file's exact permission bits.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Leave the directory fsync to the caller.
    pub fn without_dir_sync(mut self) -> Self {
        self.sync_dir = false;
        self
    }

    /// Writes `bytes` to `dir/name` and returns the final path (which differs from `dir/name`
    /// only with [`Placement::Renumber`]).
    pub fn write(&self, dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, WriteError> {
        self.stage(dir)?.commit(name, bytes)
    }

    /// Creates the temporary file with its final mode, for a caller that must do more to the
    /// open file (e.g. change its group) before [`Staged::commit`].
    pub fn stage(&self, dir: &Path) -> Result<Staged, WriteError> {
        // tempfile creates the file O_EXCL with mode 0600; the chmod below sets the exact mode.
        let tmp = tempfile::Builder::new()
            .prefix(self.prefix)
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(WriteError::at(Step::CreateTemp, dir))?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(self.mode))
            .map_err(WriteError::at(Step::SetMode, tmp.path()))?;
        Ok(Staged {
            tmp,
            dir: dir.to_path_buf(),
            placement: self.placement,
            sync_dir: self.sync_dir,
        })
    }
}

/// A temporary file created by [`AtomicWriter::stage`], not yet in place. Dropping it removes it.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    dir: PathBuf,
    placement: Placement,
    sync_dir: bool,
}

impl Staged {
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes `bytes`, fsyncs, moves the file to `name` in its directory, and (unless disabled)
    /// fsyncs the directory. Returns the final path.
    pub fn commit(mut self, name: &str, bytes: &[u8]) -> Result<PathBuf, WriteError> {
        self.tmp
            .write_all(bytes)
            .map_err(WriteError::at(Step::Write, self.tmp.path()))?;
        self.tmp
            .as_file()
            .sync_all()
            .map_err(WriteError::at(Step::Sync, self.tmp.path()))?;
        let dir = self.dir;
        let written = place(self.tmp, &dir, name, self.placement)?;
        if self.sync_dir {
            sync_dir(&dir).map_err(|source| WriteError {
                step: Step::SyncDir,
                path: dir.clone(),
                written: Some(written.clone()),
                source,
            })?;
        }
        Ok(written)
    }
}

fn place(
    mut tmp: tempfile::NamedTempFile,
    dir: &Path,
    name: &str,
    placement: Placement,
) -> Result<PathBuf, WriteError> {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut candidate = dir.join(name);
    let mut n = 1;
    loop {
        let result = match placement {
            Placement::Replace => tmp.persist(&candidate),
            Placement::NoClobber | Placement::Renumber => tmp.persist_noclobber(&candidate),
        };
        match result {
            Ok(_) => return Ok(candidate),
            Err(e)
                if placement == Placement::Renumber
                    && e.error.kind() == io::ErrorKind::AlreadyExists
                    && n < 1000 =>
            {
                tmp = e.file;
                n += 1;
                candidate = dir.join(format!("{stem}-{n}{ext}"));
            }
            Err(e) => return Err(WriteError::at(Step::Place, &candidate)(e.error)),
        }
    }
}

/// Fsyncs `dir`, which makes a rename or unlink in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

#[cfg(test)]
mod tests;
