//! Pollable lock requests: [`PendingLock`] (handle layer) and [`LockRequest`]
//! (path layer), a lock asked for now and answered later, waited for with
//! `wasi:io/poll` together with timers, streams and sockets.
//!
//! Both follow the WIT `pending-lock` and `pending-file-lock` resources:
//!
//! * `subscribe` gives a [`Pollable`] that is ready once the request has an
//!   answer (the lock is held, or the request failed);
//! * `try_get` / `try_take` never wait: `None` while waiting, the answer once
//!   it is there, and an error (kind `Io(Invalid)`) once it was collected;
//! * dropping a request whose answer was not collected cancels it: the host
//!   stops waiting, and a lock it took for the request is released.
//!
//! A pollable is a child of the request it watches (as with every
//! `wasi:io/poll` pollable): drop it before the request, or the host may trap
//! (wasmtime does).

use std::fmt;

use wasip2::filesystem::types::ErrorCode;
use wasip2::io::poll::Pollable;

use crate::bindings::portalocker::filelock::descriptor_lock;
use crate::bindings::portalocker::filelock::path_lock::PendingFileLock;
use crate::{Error, ErrorKind, LockGuard, Mode, handle, lock};

/// A handle-layer lock asked for with [`request_lock`](crate::request_lock)
/// and not collected yet.
///
/// Dropping it before its answer was collected cancels the request: no lock
/// is held because of it afterwards (if the host took the lock but nobody
/// collected it, the host releases it). Once collected, a successful answer
/// means the lock is held through the descriptor, exactly as after
/// [`lock`](crate::lock): until [`unlock`](crate::unlock) or until the open
/// file is closed; dropping the `PendingLock` then changes nothing.
///
/// The host needs the open file to take the lock later, so a request may keep
/// it open (like a stream of the descriptor does) until the request is
/// dropped: dropping the descriptor alone then does not release a lock the
/// request took. Drop the request once its answer is collected
/// ([`wait`](PendingLock::wait) does), or release with
/// [`unlock`](crate::unlock).
///
/// # Examples
///
/// Lock a file unless a line arrives on stdin first:
///
/// ```no_run
/// use portalocker_guest::{Mode, preopens, request_lock, unlock};
/// use wasip2::cli::stdin::get_stdin;
/// use wasip2::io::poll::poll;
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("app.lock", true, true)?;
/// let request = request_lock(&file, Mode::Exclusive, None);
/// let stdin = get_stdin();
/// let (lock_ready, input_ready) = (request.subscribe(), stdin.subscribe());
/// let ready = poll(&[&lock_ready, &input_ready]);
/// drop((lock_ready, input_ready)); // pollables go before what they watch
/// if ready.contains(&0) {
///     request.wait()?; // the answer is there: returns at once
///     // ... the lock is held through `file` ...
///     unlock(&file)?;
/// } else {
///     drop(request); // cancelled: `file` holds no lock because of it
/// }
/// # Ok(())
/// # }
/// ```
#[must_use = "dropping a `PendingLock` cancels the request"]
pub struct PendingLock {
    pending: descriptor_lock::PendingLock,
    mode: Mode,
}

impl PendingLock {
    pub(crate) fn new(pending: descriptor_lock::PendingLock, mode: Mode) -> Self {
        PendingLock { pending, mode }
    }

    /// A pollable that is ready once the request has an answer: the lock is
    /// held, or the request failed (its timeout passed, or an error). Poll it
    /// with [`wasip2::io::poll::poll`] together with any other pollables, then
    /// collect the answer with [`try_get`](PendingLock::try_get).
    ///
    /// Drop the pollable before the request: it is a child resource of it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Mode, preopens, request_lock};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let file = preopens::open_file("app.lock", true, true)?;
    /// let request = request_lock(&file, Mode::Shared, None);
    /// let ready = request.subscribe();
    /// ready.block();
    /// drop(ready);
    /// assert!(request.try_get().is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe(&self) -> Pollable {
        self.pending.subscribe()
    }

    /// The answer, if there is one yet; never waits.
    ///
    /// * `None`: the request is still waiting.
    /// * `Some(Ok(()))`: the lock is now held through the descriptor.
    /// * `Some(Err(e))`: the request failed, with the errors of
    ///   [`lock_timeout`](crate::lock_timeout) (for example
    ///   [`ErrorKind::TimedOut`] or [`ErrorKind::BadDescriptor`]); the lock is
    ///   not held because of the request.
    ///
    /// The answer is handed out once. Every later call returns
    /// `Some(Err(e))` with `e.kind() == ErrorKind::Io(ErrorCode::Invalid)`
    /// ([`ErrorCode`]: `wasip2::filesystem::types::ErrorCode`; "already
    /// collected"), never `None`, so a loop polling the request
    /// cannot mistake a collected request for a waiting one.
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
    /// let request = request_lock(&file, Mode::Exclusive, Some(Duration::from_secs(2)));
    /// loop {
    ///     match request.try_get() {
    ///         None => { /* do a bit of other work */ }
    ///         Some(Ok(())) => break,
    ///         Some(Err(e)) if e.is_timeout() => { println!("busy"); break }
    ///         Some(Err(e)) => return Err(e),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_get(&self) -> Option<Result<(), Error>> {
        Some(match self.pending.get()? {
            Ok(answer) => answer.map_err(|e| handle::lock_error(e, self.mode)),
            Err(()) => Err(collected_error(None)),
        })
    }

    /// Waits for the answer (blocking on the [`subscribe`](Self::subscribe)
    /// pollable) and returns it, as [`try_get`](Self::try_get) would.
    ///
    /// # Errors
    ///
    /// The errors of [`try_get`](Self::try_get).
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
    /// request_lock(&file, Mode::Exclusive, Some(Duration::from_millis(500))).wait()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(self) -> Result<(), Error> {
        let ready = self.subscribe();
        loop {
            ready.block();
            if let Some(answer) = self.try_get() {
                return answer;
            }
        }
    }

    /// The mode the lock was asked for in.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Mode, preopens, request_lock};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let file = preopens::open_file("app.lock", true, true)?;
    /// assert_eq!(request_lock(&file, Mode::Shared, None).mode(), Mode::Shared);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The raw WIT `pending-lock` resource behind this request.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Mode, preopens, request_lock};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let file = preopens::open_file("app.lock", true, true)?;
    /// let request = request_lock(&file, Mode::Exclusive, None);
    /// // `none` while waiting, `some(ok(answer))` once, then `some(err)`.
    /// let raw = request.as_pending_lock().get();
    /// # drop(raw);
    /// # Ok(())
    /// # }
    /// ```
    pub fn as_pending_lock(&self) -> &descriptor_lock::PendingLock {
        &self.pending
    }
}

impl fmt::Debug for PendingLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLock")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A path-layer lock asked for with [`Lock::request`](crate::Lock::request)
/// or [`Lock::request_in`](crate::Lock::request_in) and not collected yet.
///
/// Its answer is a [`LockGuard`], as [`Lock::acquire`](crate::Lock::acquire)
/// returns, or the error `acquire` would have failed with.
///
/// Dropping it before its answer was collected cancels the request: no lock
/// is held because of it afterwards (if the host took the lock but nobody
/// collected it, the host releases it). A collected guard lives on
/// independently of the request.
///
/// # Examples
///
/// Take whichever of several locks comes free first:
///
/// ```no_run
/// use portalocker_guest::Lock;
/// use wasip2::io::poll::poll;
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let requests = [
///     Lock::new("slot-1.lock").request()?,
///     Lock::new("slot-2.lock").request()?,
/// ];
/// let pollables: Vec<_> = requests.iter().map(|r| r.subscribe()).collect();
/// let ready = poll(&pollables.iter().collect::<Vec<_>>());
/// drop(pollables); // pollables go before what they watch
/// let first = &requests[ready[0] as usize];
/// let guard = first.try_take().expect("ready")?;
/// println!("got {}", guard.path());
/// drop(requests); // cancels the other one
/// # Ok(())
/// # }
/// ```
#[must_use = "dropping a `LockRequest` cancels the request"]
pub struct LockRequest {
    pending: PendingFileLock,
    path: String,
    mode: Mode,
    append: bool,
}

impl LockRequest {
    pub(crate) fn new(pending: PendingFileLock, path: String, mode: Mode) -> Self {
        LockRequest {
            pending,
            path,
            mode,
            append: false,
        }
    }

    /// Makes the guard this request yields write at the end of the file.
    pub(crate) fn appending(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// A pollable that is ready once the request has an answer: the lock is
    /// held, or the request failed (its timeout passed, or an error). Poll it
    /// with [`wasip2::io::poll::poll`] together with any other pollables, then
    /// collect the answer with [`try_take`](LockRequest::try_take).
    ///
    /// Drop the pollable before the request: it is a child resource of it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::Lock;
    /// use wasip2::clocks::monotonic_clock::subscribe_duration;
    /// use wasip2::io::poll::poll;
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let request = Lock::new("app.lock").request()?;
    /// let (lock_ready, timer) = (request.subscribe(), subscribe_duration(1_000_000_000));
    /// let first = poll(&[&lock_ready, &timer]);
    /// drop((lock_ready, timer));
    /// match first.as_slice() {
    ///     [1] => println!("no lock within a second"),
    ///     _ => {
    ///         let guard = request.try_take().expect("ready")?;
    ///         println!("locked {}", guard.path());
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe(&self) -> Pollable {
        self.pending.subscribe()
    }

    /// The answer, if there is one yet; never waits.
    ///
    /// * `None`: the request is still waiting.
    /// * `Some(Ok(guard))`: the lock is held; the guard releases it.
    /// * `Some(Err(e))`: the request failed, with the errors of
    ///   [`Lock::acquire`](crate::Lock::acquire) (for example
    ///   [`ErrorKind::TimedOut`] or [`ErrorKind::NotFound`]); nothing is
    ///   locked because of the request.
    ///
    /// The answer is handed out once. Every later call returns
    /// `Some(Err(e))` with `e.kind() == ErrorKind::Io(ErrorCode::Invalid)`
    /// ([`ErrorCode`]: `wasip2::filesystem::types::ErrorCode`; "already
    /// collected"), never `None`, so a loop polling the request
    /// cannot mistake a collected request for a waiting one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::Lock;
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let request = Lock::new("app.lock").request()?;
    /// let guard = loop {
    ///     if let Some(answer) = request.try_take() {
    ///         break answer?;
    ///     }
    ///     // ... do a bit of other work ...
    /// };
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_take(&self) -> Option<Result<LockGuard, Error>> {
        Some(match self.pending.get()? {
            Ok(Ok(lock)) => {
                LockGuard::new(lock, self.path.clone()).map(|guard| guard.appending(self.append))
            }
            Ok(Err(e)) => Err(lock::lock_error(e, &self.path, self.mode)),
            Err(()) => Err(collected_error(Some(&self.path))),
        })
    }

    /// Waits for the answer (blocking on the [`subscribe`](Self::subscribe)
    /// pollable) and returns it, as [`try_take`](Self::try_take) would.
    ///
    /// # Errors
    ///
    /// The errors of [`try_take`](Self::try_take).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let request = portalocker_guest::Lock::new("app.lock").request()?;
    /// // ... start other work ...
    /// let guard = request.wait()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(self) -> Result<LockGuard, Error> {
        let ready = self.subscribe();
        loop {
            ready.block();
            if let Some(answer) = self.try_take() {
                return answer;
            }
        }
    }

    /// The path the lock was asked for with, as given to
    /// [`Lock::new`](crate::Lock::new).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let request = portalocker_guest::Lock::new("a.lock").request()?;
    /// assert_eq!(request.path(), "a.lock");
    /// # Ok(())
    /// # }
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The mode the lock was asked for in.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Lock, Mode};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// assert_eq!(Lock::new("a.lock").shared().request()?.mode(), Mode::Shared);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The raw WIT `pending-file-lock` resource behind this request.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let request = portalocker_guest::Lock::new("a.lock").request()?;
    /// let guard = request.try_take().expect("ready")?;
    /// // The answer was collected: the raw `get` says so with `some(err)`.
    /// assert!(matches!(request.as_pending_file_lock().get(), Some(Err(()))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn as_pending_file_lock(&self) -> &PendingFileLock {
        &self.pending
    }
}

impl fmt::Debug for LockRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockRequest")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The error for asking a request for its answer again after collecting it.
fn collected_error(path: Option<&str>) -> Error {
    Error::new(
        ErrorKind::Io(ErrorCode::Invalid),
        "collect the lock on",
        path,
    )
    .with_detail("the answer was already collected")
}
