//! The lock-backend seam: what the wait engine needs of a kind of lock.
//!
//! The engine ([`crate::wait`]) owns everything about *waiting*: the
//! caller's patience (timeouts, the host's `max_wait`), cancellation, the
//! first-come-first-served queue of this host's waiters, the threads that
//! block in the kernel and their interruption, wake-ups and the pending-wait
//! budget. A backend owns only the lock itself: one attempt that never
//! waits, one attempt that blocks until the lock is granted (or a signal
//! interrupts it), a release, and the key its waiters queue under. Whole-file
//! locks ([`whole_file`]) are the backend of every file lock class and of
//! named locks on a local directory; byte ranges would plug in the same
//! way. A lock kept by a server cannot be waited for in a system call: named
//! locks on Redis or PostgreSQL wait in the named-lock engine instead
//! (`crate::named_lock`), which is built from this engine's pieces.

pub(crate) mod whole_file;

use std::io;

use crate::bindings::portalocker::filelock::types::LockMode;
pub(crate) use crate::sys::Blocked;
use crate::sys::FileId;

/// What waiters of one lock queue under: locks with the same key may
/// conflict, so their waiters line up together and a release wakes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LockKey {
    /// A whole file, by identity.
    File(FileId),
}

/// The result of one attempt that never waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The lock is now held in the requested mode.
    Acquired,
    /// Someone else holds it in a conflicting mode.
    Contended,
}

/// A lock the wait engine can take for a guest.
pub(crate) trait Lockable: Send + Sync + 'static {
    /// The key this lock's waiters queue under; `None` when it cannot be
    /// told (the waiters then rely on polling alone).
    fn key(&self) -> Option<LockKey>;

    /// One attempt to take the lock in `mode`, never waiting. Held already,
    /// the lock is converted to `mode`.
    fn try_lock(&self, mode: LockMode) -> io::Result<Attempt>;

    /// Whether [`Lockable::lock_blocking`] may be used: the lock can be
    /// waited for in the kernel, and waiting there can be interrupted.
    fn blocks_in_kernel(&self) -> bool;

    /// Takes the lock in `mode`, blocking in the kernel until it is granted
    /// to this very lock (the guest's own open file), or until a signal
    /// interrupts the calling thread. Held already, the lock is converted.
    fn lock_blocking(&self, mode: LockMode) -> io::Result<Blocked>;

    /// Releases the lock (releasing a lock that is not held is fine). Call
    /// it through [`crate::wait::release`], which also wakes this host's
    /// waiters.
    fn unlock(&self) -> io::Result<()>;
}
