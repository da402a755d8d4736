//! The contract of [`crate::os_lock`], on every platform: what one open file
//! holds after a sequence of calls, as seen from another open file of the
//! same path (which conflicts with it as another process's would).
//!
//! `flock(2)` keeps this contract by itself: one lock per open file, and
//! locking again converts it. `LockFileEx` does not: its locks stack per
//! handle and conflict with the handle's own, so relocking in the held mode
//! waits on itself, an upgrade never succeeds, and a downgrade adds a second
//! lock that one unlock does not end. The tests that `LockFileEx` fails are
//! ignored on Windows until the lock layer keeps the held mode per handle;
//! `cargo test -- --ignored` under Wine (see `.ci/windows/run`) runs them.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::bindings::portalocker::filelock::types::LockMode;
use crate::os_lock::{self, Attempt};

/// A new open file of `path`, read-write, created when missing.
fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap_or_else(|err| panic!("open {}: {err}", path.display()))
}

/// Whether another open file of `path` could take a lock in `mode` now; the
/// probe's lock, if it got one, ends at once.
fn other_can_lock(path: &Path, mode: LockMode) -> bool {
    let probe = open(path);
    match os_lock::try_lock(&probe, mode).expect("probe lock attempt") {
        Attempt::Acquired => {
            os_lock::unlock(&probe).expect("probe unlock");
            true
        }
        Attempt::Contended => false,
    }
}

fn locked(file: &File, mode: LockMode) -> Attempt {
    os_lock::try_lock(file, mode).expect("lock attempt")
}

#[test]
#[cfg_attr(
    windows,
    ignore = "LockFileEx locks stack per handle: an exclusive holder's second exclusive \
              lock conflicts with its first, a second shared lock needs a second unlock"
)]
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
        os_lock::unlock(&file).unwrap();
        assert!(
            other_can_lock(&path, LockMode::Exclusive),
            "one unlock after locking {mode:?} twice leaves a lock behind"
        );
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "LockFileEx: a handle's own shared lock conflicts with its exclusive request"
)]
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
    os_lock::unlock(&file).unwrap();
    assert!(
        other_can_lock(&path, LockMode::Exclusive),
        "one unlock ends it"
    );
}

#[test]
#[cfg_attr(
    windows,
    ignore = "LockFileEx: a downgrade adds a shared lock beside the exclusive one, which \
              stays until a second unlock"
)]
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
    os_lock::unlock(&file).unwrap();
    assert!(
        other_can_lock(&path, LockMode::Exclusive),
        "one unlock ends it"
    );
}

#[test]
#[cfg_attr(
    windows,
    ignore = "UnlockFile on a handle without a lock fails (ERROR_NOT_LOCKED; \
              ERROR_LOCK_VIOLATION under Wine 8)"
)]
fn unlocking_an_open_file_without_a_lock_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let file = open(&dir.path().join("x.lock"));
    os_lock::unlock(&file).expect("unlock with no lock held");
    assert_eq!(locked(&file, LockMode::Exclusive), Attempt::Acquired);
    os_lock::unlock(&file).unwrap();
    os_lock::unlock(&file).expect("a second unlock");
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
    os_lock::unlock(&holder).unwrap();
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
