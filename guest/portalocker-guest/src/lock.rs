//! The path layer: [`Lock`], a builder that opens a file by path and locks it
//! in one step (portalocker's `Lock('somefile', timeout=1)`).

use std::time::Duration;

use wasip2::filesystem::types::Descriptor;

use crate::bindings::portalocker::filelock::path_lock::{self, FileLock};
use crate::bindings::portalocker::filelock::types::{LockError, LockOptions};
use crate::{Error, LockGuard, LockRequest, Mode, OpenMode, duration_nanos, preopens};

/// How to open and lock a file by path; [`acquire`](Lock::acquire) does it,
/// and [`request`](Lock::request) asks for it without waiting (for polling
/// together with timers and streams).
///
/// The defaults: an [exclusive](Lock::exclusive) lock, [waiting as long as it
/// takes](Lock::wait_forever), the file [created](Lock::create) when missing
/// and opened for [reading and writing](Lock::write), [not
/// truncated](Lock::truncate). A `Lock` can be acquired any number of times.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use std::time::Duration;
///
/// use portalocker_guest::Lock;
///
/// # fn main() -> std::io::Result<()> {
/// // portalocker's Lock('data/log.txt', 'w', timeout=1)
/// let mut guard = Lock::new("data/log.txt")
///     .exclusive()
///     .truncate(true)
///     .timeout(Duration::from_secs(1))
///     .acquire()?;
/// writeln!(guard, "only this instance writes here")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a `Lock` only describes a lock: call `acquire` or `request` to take it"]
pub struct Lock {
    path: String,
    mode: Mode,
    timeout: Option<Duration>,
    create: bool,
    write: bool,
    truncate: bool,
    append: bool,
    fail_when_locked: bool,
}

impl Lock {
    /// Describes a lock on the file at the guest path `path`, with the
    /// defaults: exclusive, wait forever, create, write, no truncate.
    ///
    /// The path is only looked at by [`acquire`](Lock::acquire) and
    /// [`request`](Lock::request) (a guest path, resolved against the
    /// preopened directories) or [`acquire_in`](Lock::acquire_in) and
    /// [`request_in`](Lock::request_in) (a path relative to a directory).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let _guard = portalocker_guest::Lock::new("app.lock").acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(path: impl Into<String>) -> Self {
        Lock {
            path: path.into(),
            mode: Mode::Exclusive,
            timeout: None,
            create: true,
            write: true,
            truncate: false,
            append: false,
            fail_when_locked: false,
        }
    }

    /// The path this lock is for, as given to [`Lock::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(portalocker_guest::Lock::new("a.lock").path(), "a.lock");
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Takes a shared lock: other shared holders may hold it at the same time
    /// (portalocker's `LOCK_SH`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("config.toml").shared().write(false).acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn shared(self) -> Self {
        self.mode(Mode::Shared)
    }

    /// Takes an exclusive lock, the default: one holder at a time
    /// (portalocker's `LOCK_EX`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("state.json").exclusive().acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn exclusive(self) -> Self {
        self.mode(Mode::Exclusive)
    }

    /// Takes the lock in `mode`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Lock, Mode};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = Lock::new("state.json").mode(Mode::Shared).acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Waits at most `timeout` for conflicting holders to let go; a zero
    /// timeout makes exactly one attempt (as [`no_wait`](Lock::no_wait)).
    /// [`fail_when_locked`](Lock::fail_when_locked) wins over any timeout,
    /// whichever was set first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("a.lock").timeout(Duration::from_secs(1)).acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// portalocker's `fail_when_locked`: with `true`, the first attempt that
    /// finds the lock held fails at once with
    /// [`ErrorKind::AlreadyLocked`](crate::ErrorKind::AlreadyLocked), whatever
    /// [timeout](Lock::timeout) was set, before or after (Python's keyword
    /// arguments have no order, and neither have these); with `false` (the
    /// default), waits as the timeout says (forever when none was set).
    ///
    /// There is no `check_interval`: a waiting lock is woken by the release
    /// itself, not by polling at an interval.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use portalocker_guest::Lock;
    ///
    /// // portalocker.Lock('a.lock', timeout=5, fail_when_locked=True)
    /// let result = Lock::new("a.lock")
    ///     .timeout(Duration::from_secs(5))
    ///     .fail_when_locked(true)
    ///     .acquire();
    /// if let Err(e) = result {
    ///     assert!(e.is_contention() || !e.is_timeout());
    /// }
    /// ```
    pub fn fail_when_locked(mut self, fail: bool) -> Self {
        self.fail_when_locked = fail;
        self
    }

    /// Opens the file as portalocker's mode string would: `'a'`
    /// (portalocker's default), `'w'`, `'r+'` or `'r'` (see [`OpenMode`]).
    /// Sets [`create`](Lock::create), [`write`](Lock::write) and
    /// [`truncate`](Lock::truncate) together; `'a'` opens the file for
    /// appending (`O_APPEND`, so it also works on an append-only file), and
    /// every write through the guard goes to the end of the file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Lock, OpenMode};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// // portalocker.Lock('config.toml', 'r', flags=LOCK_SH)
    /// let config = Lock::new("config.toml").shared().open_mode(OpenMode::Read).acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_mode(mut self, mode: OpenMode) -> Self {
        self.create = mode.creates();
        self.write = mode.writes();
        self.truncate = mode.truncates();
        self.append = mode.appends();
        self
    }

    /// Makes exactly one attempt: [`acquire`](Lock::acquire) fails with
    /// [`ErrorKind::AlreadyLocked`](crate::ErrorKind::AlreadyLocked) when the
    /// lock is held elsewhere. The same as a zero timeout.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// match portalocker_guest::Lock::new("a.lock").no_wait().acquire() {
    ///     Ok(_guard) => println!("ours"),
    ///     Err(e) if e.is_contention() => println!("busy"),
    ///     Err(e) => panic!("{e}"),
    /// }
    /// ```
    pub fn no_wait(self) -> Self {
        self.timeout(Duration::ZERO)
    }

    /// Waits as long as it takes, the default.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let lock = portalocker_guest::Lock::new("a.lock").timeout(Duration::from_secs(1));
    /// let guard = lock.wait_forever().acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_forever(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Whether to create the file, empty, when it does not exist (default:
    /// true). Needs a directory that allows writes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{ErrorKind, Lock};
    ///
    /// let err = Lock::new("missing.lock").create(false).acquire().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// ```
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Whether to open the file for writing as well as reading (default:
    /// true). Needs a directory that allows writes; without it the file is
    /// read-only.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("config.toml").shared().write(false).acquire()?;
    /// println!("{}", guard.contents_string()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn write(mut self, write: bool) -> Self {
        self.write = write;
        self
    }

    /// Whether to truncate the file to zero length once the lock is held,
    /// never before, so a holder's data is never disturbed by a waiter
    /// (default: false; portalocker's `'w'` mode). Needs
    /// [`write`](Lock::write) and an [exclusive](Lock::exclusive) lock.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut guard = portalocker_guest::Lock::new("out.txt").truncate(true).acquire()?;
    /// guard.write_all(b"fresh")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn truncate(mut self, truncate: bool) -> Self {
        self.truncate = truncate;
        self
    }

    /// Opens and locks the file at the guest path, resolved against the
    /// preopened directories like `std::fs` does (see [`preopens`]).
    ///
    /// # Errors
    ///
    /// One [`ErrorKind`](crate::ErrorKind) per WIT `lock-error` case:
    /// `AlreadyLocked` (no wait, held elsewhere), `TimedOut`, `NotPermitted`,
    /// `NotLockable` (not a regular file), `BadPath` (empty, no preopen
    /// contains it, leaves the directory), `NotFound` (missing, without
    /// `create`), `InvalidOptions` (`truncate` without `write` or with a
    /// shared lock), `Io`. Nothing is created, truncated or locked when
    /// acquiring fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("/data/app.lock").acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire(&self) -> Result<LockGuard, Error> {
        let (dir, relative) = preopens::resolve(&self.path)?;
        self.acquire_at(&dir, &relative)
    }

    /// Opens and locks the file at this lock's path taken relative to the
    /// directory descriptor `dir`, under the sandbox rules of
    /// `wasi:filesystem`: the path is passed to the host as it is, and must be
    /// relative and stay inside `dir`.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Lock::acquire); also `BadPath` for an absolute path and
    /// `BadDescriptor` when `dir` is not a directory.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Lock, preopens};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let (data, _) = preopens::resolve("/data")?;
    /// let guard = Lock::new("cache/app.lock").acquire_in(&data)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_in(&self, dir: &Descriptor) -> Result<LockGuard, Error> {
        self.acquire_at(dir, &self.path)
    }

    /// Asks for the lock [`acquire`](Lock::acquire) would take, without
    /// waiting for it: the guest path is resolved against the preopened
    /// directories and the host opens the file at once, but the answer comes
    /// later, through the returned [`LockRequest`].
    ///
    /// Wait for the answer with [`LockRequest::wait`], or poll
    /// [`LockRequest::subscribe`] together with other pollables (timers,
    /// streams, sockets) and collect it with [`LockRequest::try_take`].
    /// Dropping the request before its answer is collected cancels it: no lock
    /// is held because of it afterwards. The lock's [timeout](Lock::timeout)
    /// applies as for `acquire`.
    ///
    /// # Errors
    ///
    /// Only [`ErrorKind::BadPath`](crate::ErrorKind::BadPath) when the path is
    /// empty or no preopened directory contains it. Every other failure of
    /// [`acquire`](Lock::acquire) is the request's answer instead (errors that
    /// need no waiting, such as `NotFound`, make it ready at once).
    ///
    /// # Examples
    ///
    /// Wait for the lock or for a timer, whichever comes first:
    ///
    /// ```no_run
    /// use portalocker_guest::Lock;
    /// use wasip2::clocks::monotonic_clock::subscribe_duration;
    /// use wasip2::io::poll::poll;
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let request = Lock::new("app.lock").exclusive().request()?;
    /// let lock_ready = request.subscribe();
    /// let timer = subscribe_duration(250_000_000); // nanoseconds: 250 ms
    /// let ready = poll(&[&lock_ready, &timer]);
    /// // A pollable is a child of the resource it watches: drop it first.
    /// drop((lock_ready, timer));
    /// if ready.contains(&0) {
    ///     let guard = request.wait()?; // ready: returns at once
    ///     println!("locked {}", guard.path());
    /// } else {
    ///     println!("still busy after 250 ms; working on something else");
    ///     drop(request); // cancels the request
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn request(&self) -> Result<LockRequest, Error> {
        let (dir, relative) = preopens::resolve(&self.path)?;
        Ok(self.request_at(&dir, &relative))
    }

    /// Asks for the lock [`acquire_in`](Lock::acquire_in) would take, without
    /// waiting for it: this lock's path is taken relative to the directory
    /// descriptor `dir`. See [`request`](Lock::request).
    ///
    /// Never fails here: every failure (including `BadPath` and
    /// `BadDescriptor`) is the request's answer, ready at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Lock, preopens};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let (data, _) = preopens::resolve("/data")?;
    /// let request = Lock::new("cache/app.lock").request_in(&data);
    /// let guard = request.wait()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn request_in(&self, dir: &Descriptor) -> LockRequest {
        self.request_at(dir, &self.path)
    }

    fn acquire_at(&self, dir: &Descriptor, relative: &str) -> Result<LockGuard, Error> {
        let lock = FileLock::acquire(dir, relative, self.options())
            .map_err(|e| lock_error(e, &self.path, self.mode))?;
        Ok(LockGuard::new(lock, self.path.clone())?.appending(self.append))
    }

    /// A reentrant lock (portalocker's `RLock`) with this lock's path and
    /// options: see [`ReentrantLock`](crate::ReentrantLock).
    ///
    /// # Errors
    ///
    /// `BadPath` when the path is not inside a preopen or cannot be used.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let rlock = portalocker_guest::Lock::new("app.lock").reentrant()?;
    /// rlock.acquire()?;
    /// rlock.acquire()?; // the same object again: only counts
    /// rlock.release()?;
    /// rlock.release()?; // the last release unlocks
    /// # Ok(())
    /// # }
    /// ```
    pub fn reentrant(&self) -> Result<crate::ReentrantLock, Error> {
        let (dir, relative) = preopens::resolve(&self.path)?;
        crate::ReentrantLock::open(&dir, &relative, self.options(), &self.path, self.mode)
    }

    /// Acquires this lock on a temporary lock file (portalocker's
    /// `TemporaryFileLock`): the file is created, locked, and removed again
    /// on release. `create` and `write` are implied; `truncate` is refused.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let lock = portalocker_guest::Lock::new("job.lock").no_wait().acquire_temporary()?;
    /// // ... the job runs; job.lock exists meanwhile ...
    /// lock.release()?; // job.lock is gone
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_temporary(&self) -> Result<crate::TemporaryLock, Error> {
        let (dir, relative) = preopens::resolve(&self.path)?;
        let inner = path_lock::TemporaryLock::acquire(&dir, &relative, self.options())
            .map_err(|e| lock_error(e, &self.path, self.mode))?;
        Ok(crate::TemporaryLock::new(inner, &self.path, self.mode))
    }

    fn request_at(&self, dir: &Descriptor, relative: &str) -> LockRequest {
        let pending = FileLock::request(dir, relative, self.options());
        LockRequest::new(pending, self.path.clone(), self.mode).appending(self.append)
    }

    /// The WIT `lock-options` of this lock.
    fn options(&self) -> LockOptions {
        let timeout = if self.fail_when_locked {
            Some(Duration::ZERO)
        } else {
            self.timeout
        };
        LockOptions {
            mode: self.mode.into(),
            timeout: timeout.map(duration_nanos),
            create: self.create,
            write: self.write,
            truncate: self.truncate,
            append: self.append,
        }
    }
}

/// The error of a failed path-layer lock on `path` in `mode`.
pub(crate) fn lock_error(error: LockError, path: &str, mode: Mode) -> Error {
    Error::new(error, "lock", Some(path)).with_detail(mode.as_str())
}
