//! Advisory file locks for WebAssembly components: portalocker for WASI.
//!
//! ```no_run
//! use std::io::{Seek, SeekFrom, Write};
//! use std::time::Duration;
//!
//! use portalocker_guest::Lock;
//!
//! # fn main() -> std::io::Result<()> {
//! // Open (creating it if needed) and lock a file by its guest path, waiting
//! // at most one second for other holders to let go.
//! let mut guard = Lock::new("data/log.txt")
//!     .exclusive()
//!     .timeout(Duration::from_secs(1))
//!     .acquire()?;
//! let lines = guard.contents_string()?.lines().count();
//! guard.seek(SeekFrom::End(0))?;
//! writeln!(guard, "entry {lines}")?;
//! // Dropping the guard releases the lock too; `release` reports errors.
//! guard.release()?;
//! # Ok(())
//! # }
//! ```
//!
//! This crate is the guest side of the `portalocker:filelock` WIT package. The
//! host (a wasmtime embedding) takes the locks on real files, so a guest's lock
//! excludes other guests, other instances and native processes using
//! `flock(2)` alike. The locks are *advisory*: they exclude other lockers, not
//! readers or writers that do not lock.
//!
//! There are two layers, as in Python's portalocker:
//!
//! * The **path layer**, [`Lock`]: a builder that resolves a guest path
//!   against the preopened directories (as `std::fs` does), opens the file and
//!   locks it in one step, and hands back a [`LockGuard`] that reads, writes
//!   and seeks the locked file and releases the lock when dropped.
//! * The **handle layer**, [`lock`], [`lock_timeout`], [`try_lock`],
//!   [`request_lock`] and [`unlock`]: lock the open file behind a
//!   [`wasip2::filesystem::types::Descriptor`] the guest already holds (see
//!   [`preopens::open_file`] to open one by path).
//!
//! Locks belong to the *open file*, as with `flock(2)`: two descriptors opened
//! separately on the same file conflict with each other like two processes do.
//!
//! Besides whole-file locks there are **byte-range locks**, [`lock_range`]
//! and [`test_range`]: POSIX record locks on part of a file, per open file,
//! which exclude native programs that lock the same bytes with `fcntl`
//! (SQLite, Python's `fcntl.lockf`). They are a separate family from the
//! whole-file locks: on Unix hosts the two never conflict.
//!
//! # Waiting for a lock together with other events
//!
//! Both layers can also *ask* for a lock without waiting for it:
//! [`Lock::request`] returns a [`LockRequest`] and [`request_lock`] a
//! [`PendingLock`]. Their `subscribe` gives a `wasi:io/poll`
//! [`Pollable`](wasip2::io::poll::Pollable) that becomes ready once the
//! request has an answer, so a guest can wait for a lock, a timer, a stream
//! and a socket in one [`poll`](wasip2::io::poll::poll), and react to
//! whichever comes first. Dropping a request whose answer was not collected
//! cancels it, and no lock stays held because of it.
//!
//! This is the piece WASI itself lacks: `wasi:filesystem` had lock functions
//! in its drafts, and they were removed before WASI 0.2 partly because the
//! blocking lock calls had no integration with `pollable`
//! ([WebAssembly/wasi-filesystem#136](https://github.com/WebAssembly/wasi-filesystem/pull/136)).
//!
//! ```no_run
//! use portalocker_guest::Lock;
//! use wasip2::clocks::monotonic_clock::subscribe_duration;
//! use wasip2::io::poll::poll;
//!
//! # fn main() -> Result<(), portalocker_guest::Error> {
//! let request = Lock::new("data/cache.json").exclusive().request()?;
//! let lock_ready = request.subscribe();
//! let timer = subscribe_duration(500_000_000); // nanoseconds: 500 ms
//! let ready = poll(&[&lock_ready, &timer]);
//! // Pollables are children of what they watch: drop them first.
//! drop((lock_ready, timer));
//! if ready.contains(&0) {
//!     // The answer is there: `wait` returns at once.
//!     let guard = request.wait()?;
//!     println!("{} bytes cached", guard.size()?);
//! } else {
//!     // The timer won. Dropping the request cancels it.
//!     println!("the cache is busy; going on without it");
//!     drop(request);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # portalocker's classes
//!
//! | portalocker | here |
//! |---|---|
//! | `Lock('f', 'a', timeout=1, fail_when_locked=False)` | [`Lock`] with [`OpenMode`], [`Lock::timeout`], [`Lock::fail_when_locked`] |
//! | `lock(fh, LOCK_EX \| LOCK_NB)` | [`lock_with_flags`] with [`LockFlags`] |
//! | `RLock` | [`Lock::reentrant`] → [`ReentrantLock`] |
//! | `TemporaryFileLock` | [`Lock::acquire_temporary`] → [`TemporaryLock`] |
//! | `BoundedSemaphore` | [`BoundedSemaphore`] |
//! | `PidFileLock` | [`PidFileLock`] |
//! | `open_atomic` | [`open_atomic`] |
//! | `fcntl.lockf(fh, LOCK_EX, length, start)` (byte ranges) | [`lock_range`] → [`RangeGuard`], [`test_range`] |
//! | `RedisLock` (and locks beyond one machine) | [`NamedLock`] |
//!
//! ```no_run
//! use std::io::Write;
//! use std::time::Duration;
//!
//! use portalocker_guest::{
//!     BoundedSemaphore, Lock, LockFlags, Mode, OpenMode, PidFileLock, lock_with_flags,
//!     open_atomic, preopens,
//! };
//!
//! # fn main() -> std::io::Result<()> {
//! // with portalocker.Lock('log.txt', 'a', timeout=1) as fh: fh.write(...)
//! let mut log = Lock::new("log.txt")
//!     .open_mode(OpenMode::Append)
//!     .timeout(Duration::from_secs(1))
//!     .acquire()?;
//! writeln!(log, "started")?;
//! // fh.flush(); lock(fh, LOCK_SH): downgrade to let readers in
//! log.relock(Mode::Shared, None)?;
//! drop(log);
//!
//! // portalocker.lock(fh, LockFlags.EXCLUSIVE | LockFlags.NON_BLOCKING)
//! let fh = preopens::open_file("data.bin", true, true)?;
//! lock_with_flags(&fh, LockFlags::EXCLUSIVE | LockFlags::NON_BLOCKING)?;
//! lock_with_flags(&fh, LockFlags::UNBLOCK)?;
//!
//! // rlock = portalocker.RLock('tree.lock'); rlock.acquire(); rlock.acquire()
//! let rlock = Lock::new("tree.lock").reentrant()?;
//! rlock.acquire()?;
//! rlock.acquire()?;
//! rlock.release()?;
//! rlock.release()?; // unlocked only now
//!
//! // portalocker.TemporaryFileLock('job.lock'): the file is gone after release
//! let job = Lock::new("job.lock").no_wait().acquire_temporary()?;
//! job.release()?;
//!
//! // portalocker.BoundedSemaphore(2, 'workers', timeout=5)
//! let slot = BoundedSemaphore::new("workers", 2).timeout(Duration::from_secs(5)).acquire()?;
//! drop(slot);
//!
//! // portalocker.PidFileLock('app.pid'), telling who is in the way
//! match PidFileLock::new("app.pid").label("indexer").no_wait().acquire() {
//!     Ok(pid) => drop(pid),
//!     Err(e) => println!("busy: {:?}", e.holder()),
//! }
//!
//! // with portalocker.open_atomic('config.json') as fh: fh.write(...)
//! let mut config = open_atomic("config.json").replace(true).create()?;
//! config.write_all(b"{}")?;
//! config.commit()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Existing code: `std::fs::File`
//!
//! [`FileLockExt`] locks a `std::fs::File` the guest already has, through
//! the handle layer, so code built on std's files keeps them
//! (`file.lock_file(Mode::Exclusive)`, `try_lock_file`, `lock_file_timeout`,
//! `unlock_file`); [`fs4`] has fs4's `FileExt` names for code written
//! against fs4. Both need the `std-file` feature (on by default) and a
//! checked wasi-libc (see [`std_file`]).
//!
//! Every failure is an [`Error`] whose [`ErrorKind`] names the WIT
//! `lock-error` case; it converts into [`std::io::Error`], so `?` works in
//! functions returning `std::io::Result`.

mod atomic;
mod bindings;
mod error;
mod flags;
#[cfg(all(target_env = "p2", portalocker_std_file))]
pub mod fs4;
mod guard;
mod handle;
mod lock;
mod mode;
mod named;
mod open_mode;
mod pid;
pub mod preopens;
mod range;
mod reentrant;
mod request;
mod semaphore;
#[cfg(all(target_env = "p2", portalocker_std_file))]
pub mod std_file;
mod temporary;

pub use atomic::{AtomicFile, AtomicWrite, open_atomic};
pub use error::{Error, ErrorKind, Limit};
pub use flags::{LockFlags, lock_with_flags};
pub use guard::LockGuard;
pub use handle::{lock, lock_timeout, request_lock, try_lock, unlock};
pub use lock::Lock;
pub use mode::Mode;
pub use named::{
    NamedErrorKind, NamedGuard, NamedLock, NamedLockError, NamedRequest, granted_namespaces,
};
pub use open_mode::{OpenMode, ParseOpenModeError};
pub use pid::{Holder, LockState, PidFileLock, PidGuard};
pub use range::{
    RangeConflict, RangeGuard, lock_range, lock_range_timeout, test_range, try_lock_range,
    unlock_range,
};
pub use reentrant::ReentrantLock;
pub use request::{LockRequest, PendingLock};
pub use semaphore::{BoundedSemaphore, SemaphoreGuard};
#[cfg(all(target_env = "p2", portalocker_std_file))]
pub use std_file::FileLockExt;
pub use temporary::TemporaryLock;

/// The raw bindings of the `portalocker:filelock` WIT interfaces, for callers
/// who want the host's functions and resources exactly as the WIT declares
/// them.
///
/// The WASI types in them are the [`wasip2`] crate's own.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::wit::path_lock::FileLock;
/// use portalocker_guest::wit::types::{LockMode, LockOptions};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let (dir, relative) = portalocker_guest::preopens::resolve("app.lock")?;
/// let options = LockOptions {
///     mode: LockMode::Exclusive,
///     timeout: None,
///     create: true,
///     write: true,
///     truncate: false,
///     append: false,
/// };
/// let lock = FileLock::acquire(&dir, &relative, options).map_err(|e| {
///     portalocker_guest::ErrorKind::from(e)
/// });
/// assert!(lock.is_ok());
/// # Ok(())
/// # }
/// ```
pub mod wit {
    pub use crate::bindings::portalocker::filelock::{
        atomic_write, descriptor_lock, named_lock, named_lock_types, path_lock, pid_lock,
        range_lock, types,
    };
}

/// Converts a [`std::time::Duration`] to the WIT `duration` (nanoseconds),
/// saturating at `u64::MAX` (about 584 years, as good as forever).
fn duration_nanos(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
