//! Whole-file locks: `flock(2)` on Unix, `LockFileEx` on Windows (through
//! fs4), on the open file itself.
//!
//! The lock belongs to the open file description, so two open files of the
//! same path conflict even in one process, and every guest of a host is a
//! separate locker. POSIX `fcntl`/`lockf` record locks are never used: they
//! belong to the whole process, so every guest in one host would share them.
//!
//! fs4's method names collide with `std::fs::File`'s inherent lock methods
//! (Rust 1.89+), which win in method-call syntax; this module calls fs4 by
//! its trait path so it is always clear which one runs.

use std::fs::File;
use std::io;

use super::{Attempt, Blocked, LockKey, Lockable};
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::sys::{self, FileId};

impl Lockable for File {
    fn key(&self) -> Option<LockKey> {
        FileId::of(self).map(LockKey::File)
    }

    fn try_lock(&self, mode: LockMode) -> io::Result<Attempt> {
        let attempt = match mode {
            LockMode::Shared => fs4::FileExt::try_lock_shared(self),
            LockMode::Exclusive => fs4::FileExt::try_lock(self),
        };
        match attempt {
            Ok(()) => Ok(Attempt::Acquired),
            Err(fs4::TryLockError::WouldBlock) => Ok(Attempt::Contended),
            Err(fs4::TryLockError::Error(err)) => Err(err),
        }
    }

    /// Regular files only: a FIFO, a device or a socket is only ever tried
    /// without waiting.
    fn blocks_in_kernel(&self) -> bool {
        sys::is_regular(self)
    }

    fn lock_blocking(&self, mode: LockMode) -> io::Result<Blocked> {
        sys::flock_blocking(self, mode == LockMode::Exclusive)
    }

    fn unlock(&self) -> io::Result<()> {
        fs4::FileExt::unlock(self)
    }
}
