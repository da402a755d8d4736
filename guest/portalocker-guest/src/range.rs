//! Byte-range locks (WIT `range-lock`): lock part of a file, the way SQLite
//! and other databases share one file between processes.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::time::Duration;

use wasip2::filesystem::types::Descriptor;

use crate::bindings::portalocker::filelock::range_lock::{self, ByteRange};
use crate::bindings::portalocker::filelock::types::LockError;
use crate::{Error, ErrorKind, Mode, duration_nanos};

/// The WIT `byte-range` of `range`: `start..end` is `end - start` bytes,
/// `start..=last` ends after `last`, and `start..` (or `..`) runs to the end
/// of the file, however far it grows.
fn byte_range(range: &impl RangeBounds<u64>) -> Result<ByteRange, Error> {
    let invalid = || Error::new(ErrorKind::InvalidOptions, "lock a range of", None);
    let start = match range.start_bound() {
        Bound::Included(&start) => start,
        Bound::Excluded(&start) => start.checked_add(1).ok_or_else(invalid)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Excluded(&end) => Some(end),
        Bound::Included(&last) => Some(last.checked_add(1).ok_or_else(invalid)?),
        Bound::Unbounded => None,
    };
    let length = match end {
        // An empty range would read as "to the end" in the WIT: refuse it.
        Some(end) if end <= start => return Err(invalid()),
        Some(end) => end - start,
        None => 0,
    };
    Ok(ByteRange { start, length })
}

/// A byte range held through an open file, released when dropped
/// ([`lock_range`], [`lock_range_timeout`], [`try_lock_range`]).
///
/// The range belongs to the open file, as with `fcntl(2)`: dropping the
/// guard unlocks its bytes, whatever else the open file holds on them, so
/// guards of one open file should not overlap.
#[must_use = "if unused the range will immediately unlock"]
#[derive(Debug)]
pub struct RangeGuard<'a> {
    file: &'a Descriptor,
    range: ByteRange,
    mode: Mode,
    held: bool,
}

impl RangeGuard<'_> {
    /// The mode the range is held in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The first byte of the range.
    pub fn start(&self) -> u64 {
        self.range.start
    }

    /// One past the last byte of the range, or `None` when it runs to the end
    /// of the file.
    pub fn end(&self) -> Option<u64> {
        (self.range.length != 0).then(|| self.range.start + self.range.length)
    }

    /// Unlocks the range now, reporting a failure that dropping the guard
    /// would only ignore.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LimitReached`] when the host limits held locks and the
    /// open file holds a larger range around this one, which unlocking would
    /// split; [`ErrorKind::Io`] for other failures.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Mode, lock_range, preopens};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let db = preopens::open_file("app.db", true, true)?;
    /// let header = lock_range(&db, 0..100, Mode::Exclusive)?;
    /// // ... write the header ...
    /// header.unlock()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn unlock(mut self) -> Result<(), Error> {
        self.held = false;
        range_lock::unlock(self.file, self.range)
            .map_err(|e| Error::new(e, "unlock a range of", None))
    }
}

impl Drop for RangeGuard<'_> {
    fn drop(&mut self) {
        if self.held {
            let _ = range_lock::unlock(self.file, self.range);
        }
    }
}

fn guard(file: &Descriptor, range: ByteRange, mode: Mode) -> RangeGuard<'_> {
    RangeGuard {
        file,
        range,
        mode,
        held: true,
    }
}

fn lock_error(error: LockError, mode: Mode) -> Error {
    Error::new(error, "lock a range of", None).with_detail(mode.as_str())
}

/// Locks the bytes `range` of the open file behind `file` in `mode`, waiting
/// as long as another open file holds a conflicting lock on any of them, and
/// returns a guard that unlocks them when dropped.
///
/// The semantics are those of POSIX record locks on the open file (see the
/// WIT `range-lock`): locks of one open file never conflict with each other;
/// locking bytes it already holds in the other mode converts them (atomically
/// on Unix hosts: a conversion waits with the old lock held); adjacent
/// ranges of one mode merge. The locks exclude native programs that use
/// `fcntl` locks on the same bytes, such as SQLite.
///
/// # Errors
///
/// [`ErrorKind::BadDescriptor`] for a directory,
/// [`ErrorKind::NotPermitted`] when `file` was not opened for writing
/// (exclusive) or reading (shared), [`ErrorKind::InvalidOptions`] for an
/// empty range or one past `2^63 - 1`, [`ErrorKind::Denied`] and
/// [`ErrorKind::LimitReached`] from the host's policy.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Mode, lock_range, preopens};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let db = preopens::open_file("app.db", true, true)?;
/// // SQLite's RESERVED byte: one writer at a time.
/// let reserved = lock_range(&db, 0x4000_0001..0x4000_0002, Mode::Exclusive)?;
/// // Everything from 4096 on, shared.
/// let tail = lock_range(&db, 4096.., Mode::Shared)?;
/// drop((reserved, tail));
/// # Ok(())
/// # }
/// ```
pub fn lock_range(
    file: &Descriptor,
    range: impl RangeBounds<u64>,
    mode: Mode,
) -> Result<RangeGuard<'_>, Error> {
    let range = byte_range(&range)?;
    range_lock::lock(file, range, mode.into(), None).map_err(|e| lock_error(e, mode))?;
    Ok(guard(file, range, mode))
}

/// [`lock_range`], waiting at most `timeout`; a zero `timeout` makes exactly
/// one attempt, like [`try_lock_range`].
///
/// # Errors
///
/// [`ErrorKind::TimedOut`] once `timeout` has passed (a conversion then
/// keeps the old lock), [`ErrorKind::AlreadyLocked`] for a zero `timeout`
/// that meets a holder, and the errors of [`lock_range`].
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use portalocker_guest::{Mode, lock_range_timeout, preopens};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let db = preopens::open_file("app.db", true, true)?;
/// match lock_range_timeout(&db, 0..512, Mode::Exclusive, Duration::from_millis(200)) {
///     Ok(_guard) => println!("locked"),
///     Err(e) if e.is_timeout() => println!("busy"),
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
pub fn lock_range_timeout(
    file: &Descriptor,
    range: impl RangeBounds<u64>,
    mode: Mode,
    timeout: Duration,
) -> Result<RangeGuard<'_>, Error> {
    let range = byte_range(&range)?;
    range_lock::lock(file, range, mode.into(), Some(duration_nanos(timeout)))
        .map_err(|e| lock_error(e, mode))?;
    Ok(guard(file, range, mode))
}

/// [`lock_range`] if that is possible at once; never waits.
///
/// # Errors
///
/// [`ErrorKind::AlreadyLocked`] when another open file holds a conflicting
/// lock (a conversion then keeps the old lock), and the errors of
/// [`lock_range`].
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Mode, preopens, try_lock_range};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let db = preopens::open_file("app.db", true, true)?;
/// if let Err(e) = try_lock_range(&db, 0..1, Mode::Exclusive) {
///     assert!(e.is_contention(), "{e}");
/// }
/// # Ok(())
/// # }
/// ```
pub fn try_lock_range(
    file: &Descriptor,
    range: impl RangeBounds<u64>,
    mode: Mode,
) -> Result<RangeGuard<'_>, Error> {
    let range = byte_range(&range)?;
    range_lock::try_lock(file, range, mode.into()).map_err(|e| lock_error(e, mode))?;
    Ok(guard(file, range, mode))
}

/// Unlocks whatever the open file behind `file` holds on the bytes of
/// `range` (bytes it does not hold are fine), for locks taken without a
/// guard, through [`wit::range_lock`](crate::wit::range_lock).
///
/// # Errors
///
/// [`ErrorKind::LimitReached`] when the unlock would split held ranges past
/// the host's limit, [`ErrorKind::InvalidOptions`] for an empty range.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{preopens, unlock_range};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let db = preopens::open_file("app.db", true, true)?;
/// unlock_range(&db, ..)?; // every range of this open file
/// # Ok(())
/// # }
/// ```
pub fn unlock_range(file: &Descriptor, range: impl RangeBounds<u64>) -> Result<(), Error> {
    let range = byte_range(&range)?;
    range_lock::unlock(file, range).map_err(|e| Error::new(e, "unlock a range of", None))
}

/// A lock of another open file in the way of a range lock ([`test_range`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeConflict {
    /// How the other open file holds it.
    pub mode: Mode,
    /// Its first byte.
    pub start: u64,
    /// One past its last byte; `None` when it runs to the end of the file.
    pub end: Option<u64>,
    /// The holding process, when the host's system tells it (Linux does for
    /// native programs' classic `fcntl` locks, not for other guests).
    pub pid: Option<u32>,
}

impl fmt::Display for RangeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}..", self.mode, self.start)?;
        if let Some(end) = self.end {
            write!(f, "{end}")?;
        }
        if let Some(pid) = self.pid {
            write!(f, " by process {pid}")?;
        }
        Ok(())
    }
}

/// Whether `range` could be locked in `mode` through `file` now: `None` if
/// so, otherwise a lock of another open file in the way. Takes no lock;
/// locks of `file`'s own open file never count.
///
/// # Errors
///
/// [`ErrorKind::BadDescriptor`] for a directory,
/// [`ErrorKind::InvalidOptions`] for an empty range.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Mode, preopens, test_range};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let db = preopens::open_file("app.db", true, true)?;
/// if let Some(conflict) = test_range(&db, 0x4000_0001..0x4000_0002, Mode::Exclusive)? {
///     println!("a writer is active: {conflict}");
/// }
/// # Ok(())
/// # }
/// ```
pub fn test_range(
    file: &Descriptor,
    range: impl RangeBounds<u64>,
    mode: Mode,
) -> Result<Option<RangeConflict>, Error> {
    let range = byte_range(&range)?;
    let conflict = range_lock::test(file, range, mode.into())
        .map_err(|e| Error::new(e, "test a range of", None))?;
    Ok(conflict.map(|conflict| RangeConflict {
        mode: conflict.mode.into(),
        start: conflict.range.start,
        end: (conflict.range.length != 0)
            .then(|| conflict.range.start.saturating_add(conflict.range.length)),
        pid: conflict.pid,
    }))
}
