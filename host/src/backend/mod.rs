//! The lock-backend seam: what the wait engine needs of a kind of lock.
//!
//! The engine ([`crate::wait`]) owns everything about *waiting*: the
//! caller's patience (timeouts, the host's `max_wait`), cancellation, the
//! first-come-first-served queue of this host's waiters, the threads that
//! block in the kernel and their interruption, wake-ups and the pending-wait
//! budget. A backend owns only the lock itself: one attempt that never
//! waits, one attempt that blocks until the lock is granted (or a signal
//! interrupts it), a release, and the key its waiters queue under. Two
//! backends plug in: whole-file locks ([`whole_file`]), the backend of every
//! lock class of the path and handle layers and of named locks on a local
//! directory, and byte ranges of a file ([`byte_range`], WIT `range-lock`),
//! whose lock state per open file [`span`] models. A lock kept by a server
//! cannot be waited for in a system call: named locks on Redis or
//! PostgreSQL wait in the named-lock engine instead (`crate::named_lock`),
//! which is built from this engine's pieces.

pub(crate) mod byte_range;
pub(crate) mod span;
pub(crate) mod whole_file;

use std::io;

use self::span::Span;
use crate::bindings::portalocker::filelock::types::LockMode;
pub(crate) use crate::sys::Blocked;
use crate::sys::FileId;

/// What waiters of one lock queue under: locks with the same key may
/// conflict, so their waiters line up together and a release wakes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LockKey {
    /// A whole file, by identity.
    File(FileId),
    /// The byte ranges of a file, by identity: every range of one file
    /// shares a queue, where a waiter lines up only behind earlier waiters
    /// for bytes it wants in a conflicting mode (see [`Lockable::bytes`]).
    /// Whole-file and range locks are separate families (`flock` and
    /// `fcntl` locks never see each other on Unix), so they never share a
    /// queue.
    Ranges(FileId),
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

    /// The bytes this lock covers when it is one of several locks under its
    /// key (a byte range of a file): a waiter then lines up only behind
    /// earlier waiters for overlapping bytes in a conflicting mode. `None`
    /// (the default) for a lock that is its whole key: its waiters line up
    /// strictly in arrival order.
    fn bytes(&self) -> Option<Span> {
        None
    }

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

    /// Gives back a lock the kernel granted to a wait that was cancelled in
    /// that instant, so that the cancelled call leaves things as they were.
    /// By default it releases the lock; a lock whose conversions are atomic
    /// (a byte range) puts back what was held before the request instead.
    fn give_back(&self) -> io::Result<()> {
        self.unlock()
    }

    /// The identity of the open file this lock belongs to: waits whose
    /// targets share one share the open file's lock (a lock granted to one
    /// of them is held by all). By default the target itself.
    fn open_file(&self) -> usize {
        std::ptr::from_ref(self).cast::<()>().addr()
    }
}
