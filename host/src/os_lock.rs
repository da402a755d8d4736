//! The operating-system lock: one call per attempt, per open file.
//!
//! Locks are taken with fs4 (`flock(2)` on Unix, `LockFileEx` on Windows), on
//! the open file itself, so two open files of the same path conflict even in
//! one process, and every guest of a host is a separate locker. POSIX
//! `fcntl`/`lockf` record locks are never used: they belong to the whole
//! process, so every guest in one host would share them.
//!
//! fs4's method names collide with `std::fs::File`'s inherent lock methods
//! (Rust 1.89+), which win in method-call syntax; this module calls fs4 by its
//! trait path so it is always clear which one runs.

use std::fs::File;
use std::io;

use crate::bindings::portalocker::filelock::types::LockMode;

/// The result of one non-blocking lock attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The open file now holds the lock in the requested mode.
    Acquired,
    /// Another open file holds the lock in a conflicting mode.
    Contended,
}

/// Tries once to lock `file` in `mode`, without waiting.
///
/// If `file` already holds the lock, it is converted to `mode`.
pub(crate) fn try_lock(file: &File, mode: LockMode) -> io::Result<Attempt> {
    let attempt = match mode {
        LockMode::Shared => fs4::FileExt::try_lock_shared(file),
        LockMode::Exclusive => fs4::FileExt::try_lock(file),
    };
    match attempt {
        Ok(()) => Ok(Attempt::Acquired),
        Err(fs4::TryLockError::WouldBlock) => Ok(Attempt::Contended),
        Err(fs4::TryLockError::Error(err)) => Err(err),
    }
}

/// Releases whatever lock `file` holds (a file that holds none is fine), and
/// wakes this process's waiters on the file.
pub(crate) fn unlock(file: &File) -> io::Result<()> {
    fs4::FileExt::unlock(file)?;
    crate::wake::released(file);
    Ok(())
}
