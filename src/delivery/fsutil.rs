//! Owns the file-system helpers the outbox and the password `file` channel share: a private
//! (0700) directory, and atomic 0600 writes into it through [`crate::fsutil`], with failures in
//! delivery's own error words, so a reader never sees half a message or half a password and a
//! crash leaves either the old file or the new one.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::{DeliveryError, ErrorClass};
use crate::fsutil::{AtomicWriter, Placement, Step};

/// Makes sure `dir` exists as a directory only its owner can enter: creates it 0700 if missing
/// (parents as needed), refuses an existing one that group or others can access. `key` names the
/// config key in the error.
pub(crate) fn ensure_private_dir(dir: &Path, key: &str) -> Result<(), DeliveryError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(DeliveryError::Config(format!(
                    "{key}: {} exists but is not a directory",
                    dir.display()
                )));
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(DeliveryError::Config(format!(
                    "{key}: {} has mode {mode:04o}, so other users could read what is written \
                     there; run `chmod 700 {}`",
                    dir.display(),
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| DeliveryError::io(dir, &e)),
        Err(e) => Err(DeliveryError::io(dir, &e)),
    }
}

/// Writes `bytes` to `dir/name` atomically with mode 0600 (through [`crate::fsutil`]). With
/// `overwrite` false an existing file is kept and `name` gets a `-2`, `-3`, ... before its
/// extension instead; the final path is returned.
pub(crate) fn write_private_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    overwrite: bool,
) -> Result<PathBuf, DeliveryError> {
    let placement = if overwrite {
        Placement::Replace
    } else {
        Placement::Renumber
    };
    AtomicWriter::new()
        .placement(placement)
        .write(dir, name, bytes)
        .map_err(|e| match (e.step, &e.written) {
            // The rename is durable only once the directory entry is on disk.
            (Step::SyncDir, Some(written)) => DeliveryError::Io {
                path: e.path.display().to_string(),
                reason: format!("fsync after writing {}: {}", written.display(), e.source),
                class: ErrorClass::Transient,
            },
            _ => DeliveryError::io(&e.path, &e.source),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_missing_directory_is_created_0700_and_files_are_0600() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/b");
        ensure_private_dir(&dir, "k").unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let p = write_private_atomic(&dir, "x.eml", b"hello", false).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&p).unwrap(), b"hello");
    }

    #[test]
    fn an_open_directory_is_refused_with_the_fix() {
        let base = tempfile::tempdir().unwrap();
        fs::set_permissions(base.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(base.path(), "delivery.password.dir").unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("chmod 700"), "{err}");
    }

    #[test]
    fn without_overwrite_a_second_file_gets_a_new_name_and_with_it_replaces() {
        let base = tempfile::tempdir().unwrap();
        let a = write_private_atomic(base.path(), "m.eml", b"1", false).unwrap();
        let b = write_private_atomic(base.path(), "m.eml", b"2", false).unwrap();
        assert_ne!(a, b);
        assert!(b.ends_with("m-2.eml"), "{}", b.display());
        let c = write_private_atomic(base.path(), "m.eml", b"3", true).unwrap();
        assert_eq!(c, a);
        assert_eq!(fs::read(&a).unwrap(), b"3");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(base.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
