//! The contract of whole-file locks, on every platform: what one open file
//! holds after a sequence of calls, as seen from another open file of the
//! same path (which conflicts with it as another process's would).
//!
//! `flock(2)` keeps this contract by itself: one lock per open file, and
//! locking again converts it. `LockFileEx` does not: its locks stack per
//! handle and conflict with the handle's own, so relocking in the held mode
//! would wait on itself, an upgrade would never succeed, and a downgrade
//! would add a second lock that one unlock does not end; `sys::windows`
//! keeps the held mode per open file so that it does. These tests run under
//! Wine in CI (see `.ci/windows/run`).

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use super::WholeFile;
use crate::backend::{Attempt, Lockable};
use crate::bindings::portalocker::filelock::types::LockMode;

/// The whole-file lock of a new open file of `path`, read-write, created
/// when missing.
fn open(path: &Path) -> WholeFile {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap_or_else(|err| panic!("open {}: {err}", path.display()));
    WholeFile::of(&Arc::new(file))
}

/// Whether another open file of `path` could take a lock in `mode` now; the
/// probe's lock, if it got one, ends at once.
fn other_can_lock(path: &Path, mode: LockMode) -> bool {
    let probe = open(path);
    match probe.try_lock(mode).expect("probe lock attempt") {
        Attempt::Acquired => {
            probe.unlock().expect("probe unlock");
            true
        }
        Attempt::Contended => false,
    }
}

fn locked(file: &WholeFile, mode: LockMode) -> Attempt {
    file.try_lock(mode).expect("lock attempt")
}

#[test]
fn locking_again_in_the_held_mode_changes_nothing() {
    for mode in [LockMode::Shared, LockMode::Exclusive] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let file = open(&path);
        assert_eq!(locked(&file, mode), Attempt::Acquired, "{mode:?}");
        assert_eq!(
            locked(&file, mode),
            Attempt::Acquired,
            "{mode:?} again on the open file that holds it"
        );
        file.unlock().unwrap();
        assert!(
            other_can_lock(&path, LockMode::Exclusive),
            "one unlock after locking {mode:?} twice leaves a lock behind"
        );
    }
}

#[test]
fn a_lone_shared_holder_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    let file = open(&path);
    assert_eq!(locked(&file, LockMode::Shared), Attempt::Acquired);
    assert_eq!(
        locked(&file, LockMode::Exclusive),
        Attempt::Acquired,
        "upgrade with no other holder"
    );
    assert!(
        !other_can_lock(&path, LockMode::Shared),
        "the upgrade excludes"
    );
    file.unlock().unwrap();
    assert!(
        other_can_lock(&path, LockMode::Exclusive),
        "one unlock ends it"
    );
}

#[test]
fn a_downgrade_lets_shared_lockers_in_and_one_unlock_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    let file = open(&path);
    assert_eq!(locked(&file, LockMode::Exclusive), Attempt::Acquired);
    assert_eq!(locked(&file, LockMode::Shared), Attempt::Acquired);
    assert!(
        other_can_lock(&path, LockMode::Shared),
        "a shared locker after the downgrade"
    );
    assert!(!other_can_lock(&path, LockMode::Exclusive));
    file.unlock().unwrap();
    assert!(
        other_can_lock(&path, LockMode::Exclusive),
        "one unlock ends it"
    );
}

#[test]
fn unlocking_an_open_file_without_a_lock_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let file = open(&dir.path().join("x.lock"));
    file.unlock().expect("unlock with no lock held");
    assert_eq!(locked(&file, LockMode::Exclusive), Attempt::Acquired);
    file.unlock().unwrap();
    file.unlock().expect("a second unlock");
}

#[test]
fn a_conflicting_holder_is_contention_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    let holder = open(&path);
    assert_eq!(locked(&holder, LockMode::Exclusive), Attempt::Acquired);
    let other = open(&path);
    assert_eq!(locked(&other, LockMode::Shared), Attempt::Contended);
    assert_eq!(locked(&other, LockMode::Exclusive), Attempt::Contended);
    holder.unlock().unwrap();
    assert_eq!(locked(&other, LockMode::Shared), Attempt::Acquired);
    assert_eq!(
        locked(&holder, LockMode::Shared),
        Attempt::Acquired,
        "shared holders coexist"
    );
    assert_eq!(
        locked(&open(&path), LockMode::Exclusive),
        Attempt::Contended
    );
}

#[test]
fn a_lock_ends_with_its_open_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    let holder = open(&path);
    assert_eq!(locked(&holder, LockMode::Exclusive), Attempt::Acquired);
    assert!(!other_can_lock(&path, LockMode::Shared));
    drop(holder);
    assert!(other_can_lock(&path, LockMode::Exclusive));
}
