//! [`Error`] and [`ErrorKind`]: why a lock operation failed.

use std::fmt;
use std::io;

use wasip2::filesystem::types::ErrorCode;

use crate::Holder;
pub use crate::bindings::portalocker::filelock::types::Limit;
use crate::bindings::portalocker::filelock::types::LockError;

/// What kind of failure an [`Error`] is: one variant per case of the WIT
/// `lock-error` variant.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{ErrorKind, Lock};
///
/// match Lock::new("app.lock").no_wait().acquire() {
///     Ok(_guard) => println!("we hold the lock"),
///     Err(e) if e.kind() == ErrorKind::AlreadyLocked => println!("busy"),
///     Err(e) => eprintln!("{e}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The lock is held by someone else in a conflicting mode (portalocker's
    /// `AlreadyLocked`): returned by the non-waiting calls, and by the waiting
    /// ones when their timeout is zero.
    AlreadyLocked,
    /// The timeout passed before the lock could be taken.
    TimedOut,
    /// The directory or file was not opened with the access the operation
    /// needs (for example `create` or `write` through a read-only preopen).
    NotPermitted,
    /// The object is not a regular file: directories, FIFOs, sockets and
    /// devices cannot be locked.
    NotLockable,
    /// The path cannot be used: it is empty, absolute where a relative path is
    /// needed, contains a NUL byte, leaves its directory (through `..` or a
    /// symbolic link pointing outside), names a symbolic link loop, or no
    /// preopened directory contains it.
    BadPath,
    /// The file does not exist and `create` was not requested.
    NotFound,
    /// The file exists and the call was asked not to replace it (an atomic
    /// write without `replace`).
    AlreadyExists,
    /// A reentrant lock was released more often than it was acquired.
    NotHeld,
    /// The options contradict each other: `truncate` without `write`, or
    /// `truncate` with a shared lock.
    InvalidOptions,
    /// The descriptor cannot serve this call: the path layer needs a directory
    /// descriptor, the handle layer a file descriptor.
    BadDescriptor,
    /// The host's policy does not allow this lock (locking is not enabled for
    /// the directory, or an exclusive lock was asked for through a read-only
    /// preopen).
    Denied,
    /// A limit of the host was reached: held locks, pending waits or the
    /// longest wait it allows this instance, or the files the host process
    /// may have open ([`Limit::OpenFiles`], "too many open files").
    LimitReached(Limit),
    /// Any other I/O failure, with the `wasi:filesystem` error code that
    /// describes it.
    Io(ErrorCode),
}

impl ErrorKind {
    /// The name of the WIT `lock-error` case, in kebab-case:
    /// `"already-locked"`, `"timed-out"`, `"not-permitted"`, `"not-lockable"`,
    /// `"bad-path"`, `"not-found"`, `"already-exists"`, `"not-held"`,
    /// `"invalid-options"`,
    /// `"bad-descriptor"`,
    /// `"denied"`, `"limit-reached"` or `"io"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use portalocker_guest::ErrorKind;
    ///
    /// assert_eq!(ErrorKind::AlreadyLocked.name(), "already-locked");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::AlreadyLocked => "already-locked",
            ErrorKind::TimedOut => "timed-out",
            ErrorKind::NotPermitted => "not-permitted",
            ErrorKind::NotLockable => "not-lockable",
            ErrorKind::BadPath => "bad-path",
            ErrorKind::NotFound => "not-found",
            ErrorKind::AlreadyExists => "already-exists",
            ErrorKind::NotHeld => "not-held",
            ErrorKind::InvalidOptions => "invalid-options",
            ErrorKind::BadDescriptor => "bad-descriptor",
            ErrorKind::Denied => "denied",
            ErrorKind::LimitReached(_) => "limit-reached",
            ErrorKind::Io(_) => "io",
        }
    }

    /// The closest [`std::io::ErrorKind`].
    ///
    /// `AlreadyLocked` is `WouldBlock`, `TimedOut` is `TimedOut`, `NotFound` is
    /// `NotFound`, `NotPermitted` is `PermissionDenied`; an `Io` error maps its
    /// error code where `std::io` has a matching kind; everything else is
    /// `Other`.
    ///
    /// # Examples
    ///
    /// ```
    /// use portalocker_guest::ErrorKind;
    ///
    /// assert_eq!(ErrorKind::AlreadyLocked.io_kind(), std::io::ErrorKind::WouldBlock);
    /// ```
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            ErrorKind::AlreadyLocked => io::ErrorKind::WouldBlock,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
            ErrorKind::NotPermitted | ErrorKind::Denied => io::ErrorKind::PermissionDenied,
            ErrorKind::LimitReached(_) => io::ErrorKind::QuotaExceeded,
            ErrorKind::Io(code) => io_kind_of(*code),
            ErrorKind::NotLockable
            | ErrorKind::NotHeld
            | ErrorKind::BadPath
            | ErrorKind::InvalidOptions
            | ErrorKind::BadDescriptor => io::ErrorKind::Other,
        }
    }
}

/// The [`io::ErrorKind`] of a `wasi:filesystem` error code.
fn io_kind_of(code: ErrorCode) -> io::ErrorKind {
    match code {
        ErrorCode::Access | ErrorCode::NotPermitted => io::ErrorKind::PermissionDenied,
        ErrorCode::WouldBlock => io::ErrorKind::WouldBlock,
        ErrorCode::Exist => io::ErrorKind::AlreadyExists,
        ErrorCode::Interrupted => io::ErrorKind::Interrupted,
        ErrorCode::Invalid => io::ErrorKind::InvalidInput,
        ErrorCode::IllegalByteSequence => io::ErrorKind::InvalidData,
        ErrorCode::NoEntry => io::ErrorKind::NotFound,
        ErrorCode::IsDirectory => io::ErrorKind::IsADirectory,
        ErrorCode::NotDirectory => io::ErrorKind::NotADirectory,
        ErrorCode::ReadOnly => io::ErrorKind::ReadOnlyFilesystem,
        ErrorCode::InsufficientSpace => io::ErrorKind::StorageFull,
        ErrorCode::Unsupported => io::ErrorKind::Unsupported,
        _ => io::ErrorKind::Other,
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::AlreadyLocked => {
                f.write_str("already locked elsewhere in a conflicting mode")
            }
            ErrorKind::TimedOut => f.write_str("timed out waiting for the lock"),
            ErrorKind::NotPermitted => {
                f.write_str("not permitted: the directory or file lacks the access this needs")
            }
            ErrorKind::NotLockable => f.write_str("not lockable: not a regular file"),
            ErrorKind::BadPath => f.write_str("bad path"),
            ErrorKind::NotFound => f.write_str("not found"),
            ErrorKind::AlreadyExists => f.write_str("already exists"),
            ErrorKind::NotHeld => f.write_str("not held: released more often than acquired"),
            ErrorKind::InvalidOptions => f.write_str("invalid options: they contradict each other"),
            ErrorKind::BadDescriptor => f.write_str("bad descriptor for this call"),
            ErrorKind::Denied => f.write_str("denied by the host's policy"),
            ErrorKind::LimitReached(Limit::OpenFiles) => {
                f.write_str("too many open files: the host cannot open another file")
            }
            ErrorKind::LimitReached(limit) => {
                write!(f, "the host's limit on {} was reached", limit_name(*limit))
            }
            ErrorKind::Io(code) => write!(f, "I/O error `{}`", code.name()),
        }
    }
}

impl From<LockError> for ErrorKind {
    fn from(error: LockError) -> Self {
        match error {
            LockError::AlreadyLocked => ErrorKind::AlreadyLocked,
            LockError::TimedOut => ErrorKind::TimedOut,
            LockError::NotPermitted => ErrorKind::NotPermitted,
            LockError::NotLockable => ErrorKind::NotLockable,
            LockError::BadPath => ErrorKind::BadPath,
            LockError::NotFound => ErrorKind::NotFound,
            LockError::AlreadyExists => ErrorKind::AlreadyExists,
            LockError::NotHeld => ErrorKind::NotHeld,
            LockError::InvalidOptions => ErrorKind::InvalidOptions,
            LockError::BadDescriptor => ErrorKind::BadDescriptor,
            LockError::Denied => ErrorKind::Denied,
            LockError::LimitReached(limit) => ErrorKind::LimitReached(limit),
            LockError::Io(code) => ErrorKind::Io(code),
        }
    }
}

/// A failed lock or file operation: what failed, on which path, and why.
///
/// [`kind`](Error::kind) tells why (one case per WIT `lock-error` case); the
/// [`Display`](fmt::Display) message names the operation and the path, for
/// example ``failed to lock `data/cache.json` (exclusive): timed out waiting
/// for the lock``.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use portalocker_guest::{ErrorKind, Lock};
///
/// let err = Lock::new("app.lock")
///     .timeout(Duration::from_millis(100))
///     .acquire()
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::TimedOut);
/// assert_eq!(err.path(), Some("app.lock"));
/// eprintln!("{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    op: &'static str,
    detail: Option<&'static str>,
    path: Option<String>,
    holder: Option<Holder>,
}

impl Error {
    /// An error of `kind` while doing `op` on `path` (`None`: a descriptor).
    pub(crate) fn new(kind: impl Into<ErrorKind>, op: &'static str, path: Option<&str>) -> Self {
        Error {
            kind: kind.into(),
            op,
            detail: None,
            path: path.map(str::to_owned),
            holder: None,
        }
    }

    /// Names the holder that was in the way.
    pub(crate) fn with_holder(mut self, holder: Option<Holder>) -> Self {
        self.holder = holder;
        self
    }

    /// Who holds the lock, for contention on a [`PidFileLock`](crate::PidFileLock)
    /// whose holder published itself; `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::PidFileLock;
    ///
    /// if let Err(e) = PidFileLock::new("app.pid").no_wait().acquire() {
    ///     if let Some(holder) = e.holder() {
    ///         eprintln!("app.pid is held by process {}", holder.pid);
    ///     }
    /// }
    /// ```
    pub fn holder(&self) -> Option<&Holder> {
        self.holder.as_ref()
    }

    /// Adds a parenthesized detail after the path in the message.
    pub(crate) fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Why the operation failed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{ErrorKind, Lock};
    ///
    /// let err = Lock::new("missing.lock").create(false).acquire().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The path the failed operation was given, as the caller wrote it, or
    /// `None` when it worked on a descriptor (the handle layer).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let err = portalocker_guest::Lock::new("").acquire().unwrap_err();
    /// assert_eq!(err.path(), Some(""));
    /// ```
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Whether the lock is held elsewhere in a conflicting mode
    /// ([`ErrorKind::AlreadyLocked`]): the caller may try again later.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::Lock;
    ///
    /// if let Err(e) = Lock::new("app.lock").no_wait().acquire() {
    ///     if e.is_contention() {
    ///         println!("another instance is running");
    ///     }
    /// }
    /// ```
    pub fn is_contention(&self) -> bool {
        self.kind == ErrorKind::AlreadyLocked
    }

    /// Whether the timeout passed before the lock could be taken
    /// ([`ErrorKind::TimedOut`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use portalocker_guest::Lock;
    ///
    /// let result = Lock::new("app.lock").timeout(Duration::from_millis(10)).acquire();
    /// if let Err(e) = result {
    ///     assert!(e.is_timeout() || !e.is_contention());
    /// }
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::TimedOut
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to {} ", self.op)?;
        match &self.path {
            Some(path) => write!(f, "`{}`", path.escape_debug())?,
            None => f.write_str("descriptor")?,
        }
        if let Some(detail) = self.detail {
            write!(f, " ({detail})")?;
        }
        write!(f, ": {}", self.kind)?;
        if let Some(holder) = &self.holder {
            write!(f, " (held by {holder})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// Converts to an [`io::Error`] of kind [`ErrorKind::io_kind`], keeping
    /// the [`Error`] as its inner error.
    fn from(error: Error) -> Self {
        io::Error::new(error.kind.io_kind(), error)
    }
}

/// The WIT name of a host limit.
fn limit_name(limit: Limit) -> &'static str {
    match limit {
        Limit::HeldLocks => "held locks",
        Limit::PendingWaits => "pending waits",
        Limit::WaitTime => "wait time",
        Limit::OpenFiles => "open files",
    }
}
