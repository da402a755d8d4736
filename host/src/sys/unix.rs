//! Every Unix: file identity by device and inode, non-blocking opens, and
//! the open errors with a meaning of their own.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use cap_primitives::fs::{FollowSymlinks, MetadataExt as _, OpenOptions, OpenOptionsExt};

use crate::backend::Attempt;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};

/// A file's identity: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the open `file`.
    pub(crate) fn of(file: &File) -> Option<FileId> {
        let metadata = file.metadata().ok()?;
        Some(FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }
}

/// Whether `path` inside the directory `dir` names the open `file` now (the
/// same device and inode; a symbolic link at the path is not followed).
pub(crate) fn names(dir: &File, path: &Path, file: &File) -> bool {
    let (Ok(named), Some(held)) = (
        cap_primitives::fs::stat(dir, path, FollowSymlinks::No),
        FileId::of(file),
    ) else {
        return false;
    };
    named.dev() == held.dev && named.ino() == held.ino
}

/// Flushes the directory `path` inside `dir` (`.` for `dir` itself) to
/// disk, so that a name just created or renamed in it survives a crash. The
/// directory is opened for reading for that (`fsync` refuses the `O_PATH`
/// descriptors preopens often are).
pub(crate) fn sync_dir(dir: &File, path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        ._cap_fs_ext_maybe_dir(true)
        .custom_flags(libc::O_DIRECTORY);
    cap_primitives::fs::open(dir, path, &options)?.sync_all()
}

/// Whether `err` says that a file open elsewhere holds the name for now:
/// never on Unix, where opens, creates and renames never wait for one.
pub(crate) fn name_busy(_err: &io::Error) -> bool {
    false
}

/// Whether `err` says that no file descriptor is left: the process's
/// (`EMFILE`) or the system's (`ENFILE`).
pub(crate) fn too_many_files(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Opens FIFOs and devices without waiting for a peer, and never makes a
/// terminal the host's controlling terminal. For regular files these flags
/// change nothing.
pub(crate) fn never_block(options: &mut OpenOptions) {
    options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
}

/// The guest's error for an open that failed with an error only Unix gives
/// a meaning of its own.
pub(crate) fn open_error(err: &io::Error) -> Option<LockError> {
    match err.raw_os_error()? {
        // A symbolic link loop, or a final symbolic link when following is off.
        libc::ELOOP => Some(LockError::BadPath),
        // Opening a FIFO for writing without blocking, with no reader.
        libc::ENXIO => Some(LockError::NotLockable),
        _ => None,
    }
}

/// Whether `file` is a regular file: only those get a waiter blocked in the
/// kernel (a FIFO, a device or a socket is only ever tried without waiting).
pub(crate) fn is_regular(file: &File) -> bool {
    file.metadata().is_ok_and(|metadata| metadata.is_file())
}

/// Tries once to `flock(2)` the open `file` in `mode`, never waiting. Held
/// already, the lock is converted (`flock` itself keeps one lock per open
/// file). `flock` locks the open file, not bytes: `_start` (where a
/// platform that locks bytes starts) does not apply.
///
/// fs4's method names collide with `std::fs::File`'s inherent lock methods
/// (Rust 1.89+), which win in method-call syntax; fs4 is called by its trait
/// path so it is always clear which one runs.
pub(crate) fn try_lock_file(file: &Arc<File>, mode: LockMode, _start: u64) -> io::Result<Attempt> {
    let attempt = match mode {
        LockMode::Shared => fs4::FileExt::try_lock_shared(&**file),
        LockMode::Exclusive => fs4::FileExt::try_lock(&**file),
    };
    match attempt {
        Ok(()) => Ok(Attempt::Acquired),
        Err(fs4::TryLockError::WouldBlock) => Ok(Attempt::Contended),
        Err(fs4::TryLockError::Error(err)) => Err(err),
    }
}

/// Releases the `flock(2)` lock of the open `file` (none held is fine).
pub(crate) fn unlock_file(file: &Arc<File>) -> io::Result<()> {
    fs4::FileExt::unlock(&**file)
}

/// What a lock call that may block came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// The lock is held.
    Acquired,
    /// A signal interrupted the wait (`EINTR`); nothing is held.
    Interrupted,
}

/// `flock(2)` without `LOCK_NB`: blocks until the open file holds the lock
/// in the mode asked for, or until a signal whose handler was installed
/// without `SA_RESTART` interrupts it.
pub(crate) fn flock_blocking(file: &File, exclusive: bool) -> io::Result<Blocked> {
    use std::os::fd::AsRawFd;
    let operation = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: `file` is an open file for the whole call.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
        return Ok(Blocked::Acquired);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINTR) {
        Ok(Blocked::Interrupted)
    } else {
        Err(err)
    }
}

pub(crate) use self::signals::{Thread, interrupt, prepare_thread, take_signal};

mod signals {
    //! Interrupting a thread blocked in the kernel: a thread-directed signal
    //! whose handler does nothing and is installed without `SA_RESTART`, so
    //! the blocked call returns `EINTR` (how util-linux `flock -w` times
    //! out). The handler is only ever installed on a signal nobody else
    //! handles.

    use std::collections::BTreeSet;
    use std::io;
    use std::sync::Mutex;

    /// A thread that can be interrupted.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Thread(libc::pthread_t);

    // SAFETY: a `pthread_t` is an identifier, valid on any thread; the
    // callers of `interrupt` make sure the thread is alive.
    unsafe impl Send for Thread {}

    impl Thread {
        /// The calling thread.
        pub(crate) fn current() -> Thread {
            // SAFETY: always safe to call.
            Thread(unsafe { libc::pthread_self() })
        }
    }

    /// The signals whose handler this crate installed.
    static TAKEN: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

    /// The handler: its only job is to exist, so that the signal interrupts
    /// a blocked system call instead of ending the process.
    extern "C" fn interrupted(_signal: libc::c_int) {}

    /// Installs the interrupting handler on `signal`, unless it is installed
    /// already. Refuses a signal that has a handler or disposition of
    /// someone else's (anything but the default).
    pub(crate) fn take_signal(signal: i32) -> io::Result<()> {
        let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        if taken.contains(&signal) {
            return Ok(());
        }
        // SAFETY: plain sigaction calls with initialized structures; the
        // handler is async-signal-safe (it does nothing).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut old) != 0 {
                return Err(io::Error::last_os_error());
            }
            if old.sa_sigaction != libc::SIG_DFL {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("signal {signal} already has a handler or is ignored"),
                ));
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = interrupted as extern "C" fn(libc::c_int) as usize;
            // No SA_RESTART: a blocked call returns EINTR.
            action.sa_flags = 0;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        taken.insert(signal);
        Ok(())
    }

    /// Makes sure the calling thread can receive `signal`: unblocks it in a
    /// thread of the crate's own (`own`), or tells whether it is unblocked
    /// in the caller's thread, whose signal mask is not ours to change.
    pub(crate) fn prepare_thread(signal: i32, own: bool) -> bool {
        // SAFETY: sigset operations on initialized sets.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            if own {
                return libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) == 0;
            }
            let mut current: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut current) == 0
                && libc::sigismember(&current, signal) == 0
        }
    }

    /// Sends `signal` to `thread`. The caller guarantees that the thread is
    /// still running.
    pub(crate) fn interrupt(thread: Thread, signal: i32) {
        // SAFETY: the thread is alive (the caller's guarantee) and the
        // signal's handler is ours.
        unsafe {
            libc::pthread_kill(thread.0, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;
    use crate::open::{self, OpenRequest};

    /// The open file's status flags, as `fcntl(F_GETFL)` reports them.
    fn status_flags(file: &File) -> libc::c_int {
        // SAFETY: `file` is open for the whole call.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) }
    }

    #[test]
    fn append_opens_with_o_append_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let dir = File::open(dir.path()).unwrap();
        for append in [true, false] {
            let request = OpenRequest {
                create: true,
                write: true,
                append,
            };
            let opened = open::open_lock_file(&dir, Path::new("a.log"), request).unwrap();
            let flags = status_flags(&opened.file);
            assert_eq!(flags & libc::O_APPEND != 0, append, "{flags:o}");
            assert_eq!(flags & libc::O_ACCMODE, libc::O_RDWR, "{flags:o}");
        }
    }

    #[test]
    fn only_a_file_the_open_created_counts_as_created() {
        let dir = tempfile::tempdir().unwrap();
        let dir = File::open(dir.path()).unwrap();
        let request = OpenRequest {
            create: true,
            write: true,
            append: false,
        };
        let first = open::open_lock_file(&dir, Path::new("x.lock"), request).unwrap();
        assert!(first.created);
        let second = open::open_lock_file(&dir, Path::new("x.lock"), request).unwrap();
        assert!(!second.created);
        // Removed only while the path names the file: not after a swap.
        cap_primitives::fs::remove_file(&dir, Path::new("x.lock")).unwrap();
        let third = open::open_lock_file(&dir, Path::new("x.lock"), request).unwrap();
        assert!(third.created);
        assert!(!open::remove_own(&dir, Path::new("x.lock"), &first.file).unwrap());
        assert!(open::remove_own(&dir, Path::new("x.lock"), &third.file).unwrap());
        assert!(!open::remove_own(&dir, Path::new("x.lock"), &third.file).unwrap());
    }
}
