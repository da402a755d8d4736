//! Named locks beyond one machine: [`NamedLock`], a lock on a name in a
//! namespace the host grants (a directory of lock files, Redis or
//! PostgreSQL, as the host configures it), with a fencing token per
//! acquisition and a pollable that tells when the lock is lost.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use portalocker_guest::NamedLock;
//!
//! # fn main() -> Result<(), portalocker_guest::NamedLockError> {
//! let guard = NamedLock::new("jobs", "invoice-42")
//!     .timeout(Duration::from_secs(5))
//!     .acquire()?;
//! let token = guard.fencing_token();
//! // ... write to the protected resource, stamped with `token` ...
//! guard.release()?;
//! # let _ = token;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::time::Duration;

use wasip2::io::poll::Pollable;

pub use crate::bindings::portalocker::filelock::named_lock::granted_namespaces;
use crate::bindings::portalocker::filelock::named_lock::{
    NamedLock as WitNamedLock, Namespace, PendingNamedLock,
};
use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError as WitError;
use crate::{Limit, Mode, duration_nanos};

/// What kind of failure a [`NamedLockError`] is: one variant per case of the
/// WIT `named-lock-error` variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedErrorKind {
    /// The name is held elsewhere in a conflicting mode (timeout zero).
    AlreadyLocked,
    /// The timeout passed before the lock could be taken.
    TimedOut,
    /// The host grants no namespace of that name.
    NoSuchNamespace,
    /// The lock name is empty, longer than 255 bytes, or has control
    /// characters.
    InvalidName,
    /// A limit the host sets on this instance was reached.
    LimitReached(Limit),
    /// The lock service cannot be reached or did not answer in time.
    Unavailable,
    /// The lock was lost while held (its lease expired, its connection
    /// broke, the server went away).
    Lost,
}

impl NamedErrorKind {
    /// The name of the WIT case, in kebab-case (`"already-locked"`,
    /// `"timed-out"`, `"no-such-namespace"`, `"invalid-name"`,
    /// `"limit-reached"`, `"unavailable"` or `"lost"`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(portalocker_guest::NamedErrorKind::Lost.name(), "lost");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            NamedErrorKind::AlreadyLocked => "already-locked",
            NamedErrorKind::TimedOut => "timed-out",
            NamedErrorKind::NoSuchNamespace => "no-such-namespace",
            NamedErrorKind::InvalidName => "invalid-name",
            NamedErrorKind::LimitReached(_) => "limit-reached",
            NamedErrorKind::Unavailable => "unavailable",
            NamedErrorKind::Lost => "lost",
        }
    }

    /// The closest [`io::ErrorKind`]: `WouldBlock` for `AlreadyLocked`,
    /// `TimedOut`, `NotFound` for `NoSuchNamespace`, `InvalidInput` for
    /// `InvalidName`, `QuotaExceeded`, `ConnectionRefused` for
    /// `Unavailable`, `ConnectionAborted` for `Lost`.
    ///
    /// # Examples
    ///
    /// ```
    /// use portalocker_guest::NamedErrorKind;
    ///
    /// assert_eq!(NamedErrorKind::AlreadyLocked.io_kind(), std::io::ErrorKind::WouldBlock);
    /// ```
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            NamedErrorKind::AlreadyLocked => io::ErrorKind::WouldBlock,
            NamedErrorKind::TimedOut => io::ErrorKind::TimedOut,
            NamedErrorKind::NoSuchNamespace => io::ErrorKind::NotFound,
            NamedErrorKind::InvalidName => io::ErrorKind::InvalidInput,
            NamedErrorKind::LimitReached(_) => io::ErrorKind::QuotaExceeded,
            NamedErrorKind::Unavailable => io::ErrorKind::ConnectionRefused,
            NamedErrorKind::Lost => io::ErrorKind::ConnectionAborted,
        }
    }
}

impl From<WitError> for NamedErrorKind {
    fn from(error: WitError) -> Self {
        match error {
            WitError::AlreadyLocked => NamedErrorKind::AlreadyLocked,
            WitError::TimedOut => NamedErrorKind::TimedOut,
            WitError::NoSuchNamespace => NamedErrorKind::NoSuchNamespace,
            WitError::InvalidName => NamedErrorKind::InvalidName,
            WitError::LimitReached(limit) => NamedErrorKind::LimitReached(limit),
            WitError::Unavailable => NamedErrorKind::Unavailable,
            WitError::Lost => NamedErrorKind::Lost,
        }
    }
}

/// A failed named-lock operation: what failed, on which lock, and why
/// ([`kind`](NamedLockError::kind)). Converts into [`io::Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedLockError {
    kind: NamedErrorKind,
    operation: &'static str,
    namespace: String,
    name: String,
}

impl NamedLockError {
    fn new(error: WitError, operation: &'static str, namespace: &str, name: &str) -> Self {
        NamedLockError {
            kind: error.into(),
            operation,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Why it failed.
    pub fn kind(&self) -> NamedErrorKind {
        self.kind
    }

    /// The namespace the lock is in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for NamedLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.kind {
            NamedErrorKind::AlreadyLocked => "already locked elsewhere in a conflicting mode",
            NamedErrorKind::TimedOut => "timed out waiting for the lock",
            NamedErrorKind::NoSuchNamespace => "the host grants no such namespace",
            NamedErrorKind::InvalidName => "invalid lock name",
            NamedErrorKind::LimitReached(_) => "a limit of the host was reached",
            NamedErrorKind::Unavailable => "the lock service is unavailable",
            NamedErrorKind::Lost => "the lock was lost while held",
        };
        write!(
            f,
            "{} `{}` in namespace `{}`: {why}",
            self.operation, self.name, self.namespace
        )
    }
}

impl std::error::Error for NamedLockError {}

impl From<NamedLockError> for io::Error {
    fn from(error: NamedLockError) -> Self {
        io::Error::new(error.kind.io_kind(), error)
    }
}

/// How to take a named lock: [`acquire`](NamedLock::acquire) takes it,
/// [`request`](NamedLock::request) asks for it without waiting.
///
/// The defaults: exclusive, waiting as long as it takes.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use portalocker_guest::{NamedErrorKind, NamedLock};
///
/// # fn main() -> Result<(), portalocker_guest::NamedLockError> {
/// // Readers share the report; the writer takes it alone.
/// let read = NamedLock::new("reports", "2026-q3").shared().timeout(Duration::from_secs(1));
/// match read.acquire() {
///     Ok(guard) => drop(guard),
///     Err(e) if e.kind() == NamedErrorKind::TimedOut => println!("still being written"),
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a `NamedLock` only describes a lock: call `acquire` or `request` to take it"]
pub struct NamedLock {
    namespace: String,
    name: String,
    mode: Mode,
    timeout: Option<Duration>,
}

impl NamedLock {
    /// Describes the lock on `name` in the host's namespace `namespace`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        NamedLock {
            namespace: namespace.into(),
            name: name.into(),
            mode: Mode::Exclusive,
            timeout: None,
        }
    }

    /// Take the lock shared with other shared holders.
    pub fn shared(self) -> Self {
        self.mode(Mode::Shared)
    }

    /// Take the lock alone (the default).
    pub fn exclusive(self) -> Self {
        self.mode(Mode::Exclusive)
    }

    /// Take the lock in `mode`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Wait at most `timeout` for holders to let go ([`NamedErrorKind::TimedOut`]
    /// after it); zero makes one attempt ([`NamedErrorKind::AlreadyLocked`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Make exactly one attempt (portalocker's `fail_when_locked=True`).
    pub fn no_wait(self) -> Self {
        self.timeout(Duration::ZERO)
    }

    /// Wait as long as it takes (the default).
    pub fn wait_forever(mut self) -> Self {
        self.timeout = None;
        self
    }

    fn error(&self, error: WitError, operation: &'static str) -> NamedLockError {
        NamedLockError::new(error, operation, &self.namespace, &self.name)
    }

    fn open(&self) -> Result<Namespace, NamedLockError> {
        Namespace::open(&self.namespace).map_err(|e| self.error(e, "opening the namespace of"))
    }

    /// Takes the lock, waiting as configured.
    ///
    /// # Errors
    ///
    /// Any [`NamedErrorKind`] but `Lost`: contention (`AlreadyLocked`,
    /// `TimedOut`), a namespace the host does not grant, an invalid name,
    /// a host limit, or a service that cannot be reached (`Unavailable`).
    pub fn acquire(&self) -> Result<NamedGuard, NamedLockError> {
        let namespace = self.open()?;
        let timeout = self.timeout.map(duration_nanos);
        let lock = namespace
            .acquire(&self.name, self.mode.into(), timeout)
            .map_err(|e| self.error(e, "locking"))?;
        Ok(NamedGuard {
            lock,
            namespace: self.namespace.clone(),
            released: false,
        })
    }

    /// Asks for the lock without waiting; poll the request's
    /// [`subscribe`](NamedRequest::subscribe) with other pollables, then take
    /// the answer. The timeout counts from this call.
    ///
    /// # Errors
    ///
    /// `NoSuchNamespace` when the host grants no such namespace; other
    /// errors come with the answer.
    pub fn request(&self) -> Result<NamedRequest, NamedLockError> {
        let namespace = self.open()?;
        let timeout = self.timeout.map(duration_nanos);
        let pending = namespace.request(&self.name, self.mode.into(), timeout);
        Ok(NamedRequest {
            pending,
            lock: self.clone(),
        })
    }
}

/// A held named lock; dropping it releases the lock.
#[must_use = "if unused the lock will immediately unlock"]
pub struct NamedGuard {
    lock: WitNamedLock,
    namespace: String,
    released: bool,
}

impl fmt::Debug for NamedGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedGuard")
            .field("namespace", &self.namespace)
            .field("name", &self.lock.name())
            .field("fencing_token", &self.lock.fencing_token())
            .finish()
    }
}

impl NamedGuard {
    /// The lock's name.
    pub fn name(&self) -> String {
        self.lock.name()
    }

    /// The namespace the lock is in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The mode the lock is held in.
    pub fn mode(&self) -> Mode {
        self.lock.mode().into()
    }

    /// The fencing token of this acquisition: larger than every earlier
    /// acquisition's of the same name. Stamp writes to the protected
    /// resource with it, and let the resource refuse tokens older than one
    /// it has seen. `None` where the service gives no token (shared locks of
    /// a portalocker-compatible Redis namespace).
    pub fn fencing_token(&self) -> Option<u64> {
        self.lock.fencing_token()
    }

    /// Whether the lock is still held (not released, not known lost).
    pub fn is_held(&self) -> bool {
        self.lock.is_held()
    }

    /// A pollable that becomes ready if the lock is lost while held. Drop it
    /// before the guard.
    pub fn lost(&self) -> Pollable {
        self.lock.subscribe_lost()
    }

    /// Releases the lock now.
    ///
    /// # Errors
    ///
    /// `Lost` if the lock was lost before (it is released all the same);
    /// `Unavailable` if the service could not be told.
    pub fn release(mut self) -> Result<(), NamedLockError> {
        self.released = true;
        let name = self.lock.name();
        self.lock
            .release()
            .map_err(|e| NamedLockError::new(e, "releasing", &self.namespace, &name))
    }

    /// The raw WIT `named-lock` resource.
    pub fn as_wit(&self) -> &WitNamedLock {
        &self.lock
    }
}

impl Drop for NamedGuard {
    fn drop(&mut self) {
        if !self.released {
            // Dropping the resource releases the lock in the host too; an
            // explicit release reports nothing here either way.
            let _ = self.lock.release();
        }
    }
}

/// A named lock asked for with [`NamedLock::request`] and not collected yet.
/// Dropping it cancels the request.
#[must_use = "dropping a `NamedRequest` cancels the request"]
pub struct NamedRequest {
    pending: PendingNamedLock,
    lock: NamedLock,
}

impl NamedRequest {
    /// A pollable that is ready once the request has an answer. Drop it
    /// before the request.
    pub fn subscribe(&self) -> Pollable {
        self.pending.subscribe()
    }

    /// The answer, if there is one yet; never waits. `None` while waiting;
    /// once collected, later calls give an error of kind `Unavailable`.
    pub fn try_take(&self) -> Option<Result<NamedGuard, NamedLockError>> {
        Some(match self.pending.get()? {
            Ok(Ok(lock)) => Ok(NamedGuard {
                lock,
                namespace: self.lock.namespace.clone(),
                released: false,
            }),
            Ok(Err(e)) => Err(self.lock.error(e, "locking")),
            Err(()) => Err(self
                .lock
                .error(WitError::Unavailable, "collecting the answer for")),
        })
    }

    /// Waits for the answer and takes it.
    ///
    /// # Errors
    ///
    /// The errors of [`NamedLock::acquire`].
    pub fn wait(self) -> Result<NamedGuard, NamedLockError> {
        let ready = self.subscribe();
        loop {
            ready.block();
            if let Some(answer) = self.try_take() {
                return answer;
            }
        }
    }
}
