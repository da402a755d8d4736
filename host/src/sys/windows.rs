//! Windows: file identity by volume serial number and file index, whole-file
//! locks with `LockFileEx` kept per handle, plain opens, and no open errors
//! with a meaning of their own. Waiting in the kernel is not used: a
//! `LockFileEx` that waits cannot be interrupted by a signal (waiters poll).
//!
//! # Whole-file locks
//!
//! `LockFileEx` is not `flock(2)`: its locks stack per handle and conflict
//! with the handle's own (an exclusive lock asked for again waits on itself,
//! a shared holder cannot upgrade, a downgrade adds a second lock that one
//! unlock does not end), and `UnlockFile` on a handle that holds nothing
//! fails. So this module remembers, per open file, the mode it holds, and
//! gives `flock`'s contract on top: locking again in the held mode changes
//! nothing, a conversion unlocks and then locks in the new mode (not atomic,
//! as `flock` conversions are not: another locker may come in between, and
//! a conversion that fails holds nothing), and unlocking a file that holds
//! nothing is fine.
//!
//! The record is keyed by the open file's `Arc` and holds a `Weak` of it, so
//! a handle that was closed (which released its lock) is never mistaken for
//! a new one that got the same handle value. A lock on the whole file is
//! `LockFileEx` on bytes `0..u64::MAX`, as Rust's `File::lock` and fs4 take
//! it, so other Windows programs that lock a file (or any part of it) see it;
//! a PID file's lock starts past the space of its record instead, so that
//! the record stays readable to other handles (Windows' locks are
//! mandatory), while the lock still overlaps every other whole-file lock
//! (Python portalocker's covers bytes `0..0xFFFF0000`).
//!
//! Locks are mandatory on Windows: while a handle holds an exclusive lock,
//! other handles cannot read or write the locked bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use cap_primitives::fs::{FollowSymlinks, OpenOptions, OpenOptionsExt};
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
    GetFileInformationByHandle,
};

use super::range;
use crate::backend::Attempt;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};

/// A file's identity: the serial number of its volume and its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    volume: u32,
    index: u64,
}

impl FileId {
    /// The identity of the open `file`.
    pub(crate) fn of(file: &File) -> Option<FileId> {
        // SAFETY: all zeroes is a valid BY_HANDLE_FILE_INFORMATION, which the
        // call fills in; the handle is open while `file` lives.
        let info = unsafe {
            let mut info: BY_HANDLE_FILE_INFORMATION = std::mem::zeroed();
            if GetFileInformationByHandle(file.as_raw_handle() as HANDLE, &mut info) == 0 {
                return None;
            }
            info
        };
        Some(FileId {
            volume: info.dwVolumeSerialNumber,
            index: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        })
    }
}

/// Whether `path` inside the directory `dir` names the open `file` now (the
/// same volume and file index; a symbolic link or junction at the path is
/// not followed). The path is opened without access rights, which neither
/// reads the file nor conflicts with its locks.
pub(crate) fn names(dir: &File, path: &Path, file: &File) -> bool {
    let mut options = OpenOptions::new();
    options
        .access_mode(0)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
        ._cap_fs_ext_follow(FollowSymlinks::No);
    let Ok(named) = cap_primitives::fs::open(dir, path, &options) else {
        return false;
    };
    match (FileId::of(&named), FileId::of(file)) {
        (Some(named), Some(held)) => named == held,
        _ => false,
    }
}

/// Directories are not flushed on Windows (NTFS journals its metadata, and
/// flushing needs a directory handle opened for writing).
pub(crate) fn sync_dir(_dir: &File, _path: &Path) -> io::Result<()> {
    Ok(())
}

/// Whether `err` says that a file open elsewhere holds the name for now,
/// which passes once that handle closes: a file removed while other handles
/// have it open is only pending deletion, and opening or creating its name
/// is refused (`ERROR_ACCESS_DENIED`, `ERROR_DELETE_PENDING`); a handle
/// opened without sharing write access refuses other writers
/// (`ERROR_SHARING_VIOLATION`: virus scanners and indexers do that); a
/// rename over a file that is open is refused. A real lack of access gives
/// `ERROR_ACCESS_DENIED` too, and is reported after the retries.
pub(crate) fn name_busy(err: &io::Error) -> bool {
    const ERROR_ACCESS_DENIED: i32 = 5;
    const ERROR_SHARING_VIOLATION: i32 = 32;
    const ERROR_DELETE_PENDING: i32 = 303;
    matches!(
        err.raw_os_error(),
        Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION | ERROR_DELETE_PENDING)
    )
}

/// Whether `err` is `ERROR_TOO_MANY_OPEN_FILES`.
pub(crate) fn too_many_files(err: &io::Error) -> bool {
    err.raw_os_error() == Some(4)
}

/// Opens on Windows never wait for a peer: nothing to add.
pub(crate) fn never_block(_options: &mut OpenOptions) {}

/// No Windows open error has a meaning beyond its kind.
pub(crate) fn open_error(_err: &io::Error) -> Option<LockError> {
    None
}

/// Whether `file` is a regular file.
pub(crate) fn is_regular(file: &File) -> bool {
    file.metadata().is_ok_and(|metadata| metadata.is_file())
}

/// The lock each open file holds, by the address of its `Arc` (which the
/// `Weak` keeps from being reused). A descriptor `file-lock.file()` hands
/// out shares its lock's `Arc`, and so its slot.
static HELD: LazyLock<Mutex<Held>> = LazyLock::new(Default::default);

/// What one open file holds: its mode, and the first byte of its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WholeLock {
    mode: LockMode,
    start: u64,
}

/// The lock of one open file and its duplicates (only ever used under
/// [`HELD`]'s lock).
type Slot = Arc<Mutex<Option<WholeLock>>>;

#[derive(Default)]
struct Held {
    files: HashMap<usize, (Weak<File>, Slot)>,
    /// The number of records above which closed files' records are dropped.
    prune_at: usize,
}

impl Held {
    /// The slot of `file`, made when missing.
    fn slot(&mut self, file: &Arc<File>) -> Slot {
        if let Some((weak, slot)) = self.files.get(&key(file))
            && weak.strong_count() > 0
        {
            return Arc::clone(slot);
        }
        if self.files.len() >= self.prune_at {
            // A closed handle's lock ended with it; its record only keeps
            // the `Arc`'s memory.
            self.files.retain(|_, (weak, _)| weak.strong_count() > 0);
            self.prune_at = (self.files.len() * 2).max(64);
        }
        let slot = Slot::default();
        self.files
            .insert(key(file), (Arc::downgrade(file), Arc::clone(&slot)));
        slot
    }
}

fn key(file: &Arc<File>) -> usize {
    Arc::as_ptr(file) as usize
}

fn held() -> MutexGuard<'static, Held> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

fn lock_slot(slot: &Slot) -> MutexGuard<'_, Option<WholeLock>> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tries once to lock `file` in `mode` from byte `start` to the end of the
/// largest file (`start` is 0 but for a PID file, whose record before it
/// stays readable), never waiting. Held so already, nothing changes; held
/// otherwise, the lock is released and then taken anew (not atomic; when
/// that fails, `file` holds nothing, as after a failed `flock` conversion).
pub(crate) fn try_lock_file(file: &Arc<File>, mode: LockMode, start: u64) -> io::Result<Attempt> {
    let slot = held().slot(file);
    let mut current = lock_slot(&slot);
    let wanted = WholeLock { mode, start };
    match *current {
        Some(lock) if lock == wanted => return Ok(Attempt::Acquired),
        Some(lock) => {
            *current = None;
            range::unlock_region(file, lock.start, u64::MAX - lock.start)?;
        }
        None => {}
    }
    if range::lock_region(file, start, u64::MAX - start, mode)? {
        *current = Some(wanted);
        Ok(Attempt::Acquired)
    } else {
        Ok(Attempt::Contended)
    }
}

/// Releases the lock `file` holds; a file that holds none is fine.
pub(crate) fn unlock_file(file: &Arc<File>) -> io::Result<()> {
    let slot = {
        let held = held();
        match held.files.get(&key(file)) {
            Some((weak, slot)) if weak.strong_count() > 0 => Arc::clone(slot),
            _ => return Ok(()),
        }
    };
    let mut current = lock_slot(&slot);
    match current.take() {
        Some(lock) => range::unlock_region(file, lock.start, u64::MAX - lock.start),
        None => Ok(()),
    }
}

/// What a lock call that may block came back with.
#[expect(
    dead_code,
    reason = "the wait engine's answer type; nothing waits in the kernel on Windows"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// The lock is held.
    Acquired,
    /// The wait was interrupted; nothing is held.
    Interrupted,
}

/// Waiting in the kernel is not used on Windows: a `LockFileEx` that waits
/// cannot be interrupted at a deadline (and under Wine one on an overlapped
/// handle never completes). Waiters poll.
pub(crate) fn flock_blocking(_file: &File, _exclusive: bool) -> io::Result<Blocked> {
    Err(io::ErrorKind::Unsupported.into())
}

/// A thread that could be interrupted; never used on Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thread;

impl Thread {
    /// The calling thread.
    pub(crate) fn current() -> Thread {
        Thread
    }
}

/// There are no signals to take on Windows.
pub(crate) fn take_signal(_signal: i32) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Never reached: no signal is ever taken on Windows.
pub(crate) fn prepare_thread(_signal: i32, _own: bool) -> bool {
    false
}

/// Never reached: no signal is ever taken on Windows.
pub(crate) fn interrupt(_thread: Thread, _signal: i32) {}
