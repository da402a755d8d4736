//! The handle layer: lock the open file behind a descriptor the guest holds
//! (portalocker's `lock(fh, flags)` and `unlock(fh)`).

use std::time::Duration;

use wasip2::filesystem::types::Descriptor;

use crate::bindings::portalocker::filelock::descriptor_lock;
use crate::bindings::portalocker::filelock::types::LockError;
use crate::{Error, Mode, PendingLock, duration_nanos};

/// Locks the open file behind `file` in `mode`, waiting as long as another
/// holder has it in a conflicting mode.
///
/// The lock belongs to the open file: it is held until [`unlock`], until
/// another lock call on a descriptor of the same open file converts it, or
/// until the open file is closed (every descriptor of it dropped). If the
/// open file already holds a lock, the lock is converted to `mode`; as with
/// `flock(2)` the conversion is not atomic.
///
/// # Errors
///
/// [`ErrorKind::BadDescriptor`](crate::ErrorKind::BadDescriptor) for a
/// directory descriptor, [`ErrorKind::NotLockable`](crate::ErrorKind::NotLockable)
/// for FIFOs, sockets and devices, [`ErrorKind::Io`](crate::ErrorKind::Io)
/// for other failures.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Mode, lock, preopens, unlock};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("app.lock", true, true)?;
/// lock(&file, Mode::Exclusive)?;
/// // ... the lock is held ...
/// unlock(&file)?;
/// # Ok(())
/// # }
/// ```
pub fn lock(file: &Descriptor, mode: Mode) -> Result<(), Error> {
    descriptor_lock::lock(file, mode.into(), None).map_err(|e| lock_error(e, mode))
}

/// Locks the open file behind `file` in `mode`, waiting at most `timeout` for
/// a conflicting holder to let go.
///
/// A zero `timeout` makes exactly one attempt, like [`try_lock`]. Otherwise
/// as [`lock`].
///
/// # Errors
///
/// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) once `timeout` has
/// passed (the lock is then not held),
/// [`ErrorKind::AlreadyLocked`](crate::ErrorKind::AlreadyLocked) when
/// `timeout` is zero and the lock is held elsewhere, and the errors of
/// [`lock`].
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use portalocker_guest::{Mode, lock_timeout, preopens};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("app.lock", true, true)?;
/// match lock_timeout(&file, Mode::Shared, Duration::from_millis(500)) {
///     Ok(()) => println!("locked"),
///     Err(e) if e.is_timeout() => println!("still busy after 500 ms"),
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
pub fn lock_timeout(file: &Descriptor, mode: Mode, timeout: Duration) -> Result<(), Error> {
    descriptor_lock::lock(file, mode.into(), Some(duration_nanos(timeout)))
        .map_err(|e| lock_error(e, mode))
}

/// Locks the open file behind `file` in `mode` if that is possible at once.
/// Never waits.
///
/// # Errors
///
/// [`ErrorKind::AlreadyLocked`](crate::ErrorKind::AlreadyLocked) when another
/// holder has the lock in a conflicting mode, and the errors of [`lock`].
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Mode, preopens, try_lock};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("app.lock", true, true)?;
/// if let Err(e) = try_lock(&file, Mode::Exclusive) {
///     assert!(e.is_contention(), "{e}");
///     println!("another instance is running");
/// }
/// # Ok(())
/// # }
/// ```
pub fn try_lock(file: &Descriptor, mode: Mode) -> Result<(), Error> {
    descriptor_lock::try_lock(file, mode.into()).map_err(|e| lock_error(e, mode))
}

/// Releases the lock held through the open file behind `file`. Releasing a
/// file that holds no lock is not an error.
///
/// # Errors
///
/// [`ErrorKind::BadDescriptor`](crate::ErrorKind::BadDescriptor) for a
/// directory descriptor, [`ErrorKind::Io`](crate::ErrorKind::Io) for other
/// failures.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Mode, lock, preopens, unlock};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("app.lock", true, true)?;
/// lock(&file, Mode::Shared)?;
/// unlock(&file)?;
/// unlock(&file)?; // not held: still fine
/// # Ok(())
/// # }
/// ```
pub fn unlock(file: &Descriptor) -> Result<(), Error> {
    descriptor_lock::unlock(file).map_err(|e| Error::new(e, "unlock", None))
}

/// Asks for a lock on the open file behind `file` in `mode` without waiting
/// for it: the same request as [`lock`] (`timeout` `None`) or
/// [`lock_timeout`], answered later through the returned [`PendingLock`].
///
/// Wait for the answer with [`PendingLock::wait`], or poll
/// [`PendingLock::subscribe`] together with other pollables (timers,
/// streams, sockets) and collect it with [`PendingLock::try_get`]. Dropping
/// the request before its answer is collected cancels it: no lock is held
/// because of it afterwards.
///
/// Never fails here: errors that need no waiting (a directory, a FIFO) make
/// the request ready at once, with the error.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use portalocker_guest::{Mode, preopens, request_lock};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("app.lock", true, true)?;
/// let request = request_lock(&file, Mode::Exclusive, Some(Duration::from_secs(1)));
/// // ... do other work, poll `request.subscribe()` with other pollables ...
/// request.wait()?;
/// // The lock is held through `file` until `unlock(&file)` or until it is closed.
/// # Ok(())
/// # }
/// ```
pub fn request_lock(file: &Descriptor, mode: Mode, timeout: Option<Duration>) -> PendingLock {
    let pending = descriptor_lock::request_lock(file, mode.into(), timeout.map(duration_nanos));
    PendingLock::new(pending, mode)
}

/// The error of a failed handle-layer lock in `mode`.
pub(crate) fn lock_error(error: LockError, mode: Mode) -> Error {
    Error::new(error, "lock", None).with_detail(mode.as_str())
}
