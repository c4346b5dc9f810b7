//! Checks the atomic writer: exact modes whatever the umask, each placement, no temporary file
//! left behind, and the failing step named.

use super::*;
use std::os::unix::fs::MetadataExt as _;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().mode() & 0o7777
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_file_is_written_0600_by_default_and_no_temporary_file_stays() {
    let dir = tempfile::tempdir().unwrap();
    let p = AtomicWriter::new()
        .write(dir.path(), "x.eml", b"hello")
        .unwrap();
    assert_eq!(p, dir.path().join("x.eml"));
    assert_eq!(mode(&p), 0o600);
    assert_eq!(fs::read(&p).unwrap(), b"hello");
    assert_eq!(names(dir.path()), ["x.eml"]);
}

#[test]
fn the_mode_asked_for_is_set_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let p = AtomicWriter::new()
        .mode(0o640)
        .write(dir.path(), "r.req", b"x")
        .unwrap();
    assert_eq!(mode(&p), 0o640);
}

#[test]
fn replace_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = AtomicWriter::new();
    w.write(dir.path(), "e", b"1").unwrap();
    let p = w.write(dir.path(), "e", b"2").unwrap();
    assert_eq!(fs::read(p).unwrap(), b"2");
    assert_eq!(names(dir.path()), ["e"]);
}

#[test]
fn no_clobber_refuses_a_taken_name_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = AtomicWriter::new().placement(Placement::NoClobber);
    w.write(dir.path(), "k", b"first").unwrap();
    let err = w.write(dir.path(), "k", b"second").unwrap_err();
    assert_eq!(err.step, Step::Place);
    assert_eq!(err.path, dir.path().join("k"));
    assert_eq!(err.source.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(fs::read(dir.path().join("k")).unwrap(), b"first");
    assert_eq!(names(dir.path()), ["k"]);
}

#[test]
fn renumber_gives_a_second_file_a_new_name_before_its_extension() {
    let dir = tempfile::tempdir().unwrap();
    let w = AtomicWriter::new().placement(Placement::Renumber);
    let a = w.write(dir.path(), "m.eml", b"1").unwrap();
    let b = w.write(dir.path(), "m.eml", b"2").unwrap();
    let c = w.write(dir.path(), "m.eml", b"3").unwrap();
    assert!(a.ends_with("m.eml"));
    assert!(b.ends_with("m-2.eml"), "{}", b.display());
    assert!(c.ends_with("m-3.eml"), "{}", c.display());
    assert_eq!(fs::read(&a).unwrap(), b"1");
}

#[test]
fn a_staged_file_can_be_changed_before_it_is_committed_and_vanishes_if_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let w = AtomicWriter::new().prefix(".stage-").without_dir_sync();
    let staged = w.stage(dir.path()).unwrap();
    assert!(staged
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(".stage-"));
    assert_eq!(staged.file().metadata().unwrap().mode() & 0o777, 0o600);
    drop(staged);
    assert!(names(dir.path()).is_empty());
    let p = w.stage(dir.path()).unwrap().commit("s", b"ok").unwrap();
    assert_eq!(fs::read(p).unwrap(), b"ok");
    sync_dir(dir.path()).unwrap();
}

#[test]
fn a_missing_directory_fails_at_creating_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = AtomicWriter::new().write(&missing, "f", b"x").unwrap_err();
    assert_eq!(err.step, Step::CreateTemp);
    assert_eq!(err.path, missing);
    assert_eq!(err.source.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string().starts_with("creating a temporary file in"),
        "{err}"
    );
}
