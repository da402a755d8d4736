//! PID-file locks, portalocker's `PidFileLock`: an exclusive lock that tells
//! contenders who holds it.

use std::fmt;
use std::time::Duration;

use crate::bindings::portalocker::filelock::pid_lock;
use crate::bindings::portalocker::filelock::types::{self, LockMode, LockOptions};
use crate::{Error, duration_nanos, preopens};

/// Who holds a PID-file lock: the host process, the instance (as the host
/// names it) and the label the holder gave.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder {
    /// The process id of the host running the holder.
    pub pid: u32,
    /// The identity the host assigned to the holding instance; empty when
    /// the holder published its process id alone (Python's portalocker, or
    /// any program that writes a plain PID file).
    pub instance: String,
    /// The holder's label, if it gave one.
    pub label: Option<String>,
}

impl From<types::Holder> for Holder {
    fn from(holder: types::Holder) -> Self {
        Holder {
            pid: holder.pid,
            instance: holder.instance,
            label: holder.label,
        }
    }
}

impl fmt::Display for Holder {
    /// `pid 4242, instance 7 (worker-a)`, or `pid 4242` for a holder that
    /// published its process id alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.pid)?;
        if !self.instance.is_empty() {
            write!(f, ", instance {}", self.instance.escape_debug())?;
        }
        if let Some(label) = &self.label {
            write!(f, " ({})", label.escape_debug())?;
        }
        Ok(())
    }
}

/// Whether a PID file is locked now, and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// Nobody holds the lock.
    Free,
    /// Somebody holds it: who, when they published it (a native `flock`
    /// holder publishes nothing).
    Held(Option<Holder>),
}

/// A PID-file lock (portalocker's `PidFileLock`, laid out on disk as
/// portalocker lays it out, so that each excludes the other): an exclusive
/// lock that, while held, publishes the holder's identity, so that a
/// contender learns who is in the way ([`Error::holder`]) and anyone can ask
/// ([`state`](PidFileLock::state)).
///
/// For the PID file `NAME`, the lock is an ordinary file lock on the sidecar
/// `NAME.lock` (`flock -n NAME.lock` sees it held), and `NAME` holds the
/// host's process id alone, as in any PID file (and as portalocker's
/// `read_pid` expects), replaced whole, never empty. The WIT `pid-lock`
/// interface documents the record with the rest of the identity. Releasing
/// removes both files.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::PidFileLock;
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let daemon = PidFileLock::new("run/indexer.pid").label("indexer").no_wait();
/// match daemon.acquire() {
///     Ok(guard) => {
///         println!("running as {}", guard.holder());
///         // ... work; dropping the guard removes the files and unlocks ...
///     }
///     Err(e) if e.is_contention() => match e.holder() {
///         Some(holder) => println!("already running: {holder}"),
///         None => println!("already running (holder unknown)"),
///     },
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a `PidFileLock` only describes a lock: call `acquire` to take it"]
pub struct PidFileLock {
    path: String,
    label: Option<String>,
    timeout: Option<Duration>,
}

impl PidFileLock {
    /// A PID-file lock on the guest path `path`: no label, waiting as long
    /// as it takes.
    pub fn new(path: impl Into<String>) -> Self {
        PidFileLock {
            path: path.into(),
            label: None,
            timeout: None,
        }
    }

    /// Publishes `label` with the holder's identity (at most 256 bytes, no
    /// control characters).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Waits at most `timeout` for the holder to let go; zero is one
    /// attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// One attempt only (portalocker's `fail_when_locked`).
    pub fn no_wait(self) -> Self {
        self.timeout(Duration::ZERO)
    }

    /// Takes the lock and publishes this instance as its holder.
    ///
    /// # Errors
    ///
    /// `AlreadyLocked` (no wait) or `TimedOut`, with
    /// [`Error::holder`] naming the holder in the way when it published
    /// itself; `InvalidOptions` for a bad label; otherwise as
    /// [`Lock::acquire`](crate::Lock::acquire).
    pub fn acquire(&self) -> Result<PidGuard, Error> {
        let (dir, relative) = preopens::resolve(&self.path)?;
        let options = LockOptions {
            mode: LockMode::Exclusive,
            timeout: self.timeout.map(duration_nanos),
            create: true,
            write: true,
            truncate: false,
            append: false,
        };
        let inner = pid_lock::PidFileLock::acquire(&dir, &relative, self.label.as_deref(), options)
            .map_err(|e| {
                Error::new(e.error, "lock the PID file", Some(&self.path))
                    .with_holder(e.holder.map(Holder::from))
            })?;
        let holder = inner.holder().into();
        Ok(PidGuard {
            inner,
            holder,
            path: self.path.clone(),
        })
    }

    /// Whether the PID file is locked now, and by whom ([`LockState::Free`]
    /// when its sidecar `NAME.lock` does not exist).
    ///
    /// # Errors
    ///
    /// `BadPath` and the other path errors of
    /// [`Lock::acquire`](crate::Lock::acquire).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{LockState, PidFileLock};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// match PidFileLock::new("run/indexer.pid").state()? {
    ///     LockState::Free => println!("not running"),
    ///     LockState::Held(Some(holder)) => println!("running: {holder}"),
    ///     LockState::Held(None) => println!("locked by someone unnamed"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn state(&self) -> Result<LockState, Error> {
        let (dir, relative) = preopens::resolve(&self.path)?;
        let state = pid_lock::PidFileLock::state(&dir, &relative)
            .map_err(|e| Error::new(e, "read the holder of", Some(&self.path)))?;
        Ok(match state {
            types::LockState::Free => LockState::Free,
            types::LockState::Held(holder) => LockState::Held(holder.map(Holder::from)),
        })
    }
}

/// A held PID-file lock; dropping it removes the PID file and its sidecar
/// and unlocks.
#[must_use = "if unused the lock will immediately unlock"]
#[derive(Debug)]
pub struct PidGuard {
    inner: pid_lock::PidFileLock,
    holder: Holder,
    path: String,
}

impl PidGuard {
    /// The identity this lock published.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Removes the PID file and its sidecar and releases the lock now,
    /// reporting errors.
    pub fn release(self) -> Result<(), Error> {
        self.inner
            .release()
            .map_err(|e| Error::new(e, "release the PID file", Some(&self.path)))
    }
}
