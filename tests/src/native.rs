//! Native probes and holders: the same files seen from outside the guests.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// The lock modes native probes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `LOCK_SH`.
    Shared,
    /// `LOCK_EX`.
    Exclusive,
}

/// Opens `path` for reading and writing, creating it if needed: an open
/// file of its own, as a separate process would have.
pub fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap_or_else(|err| panic!("open {}: {err}", path.display()))
}

/// Whether this process could lock `path` in `mode` right now, through a
/// separately opened file (a `try_clone` would share the lock and never
/// conflict). The probe lock is released at once.
pub fn can_lock(path: &Path, mode: Mode) -> bool {
    let file = open(path);
    let attempt = match mode {
        Mode::Shared => fs4::FileExt::try_lock_shared(&file),
        Mode::Exclusive => fs4::FileExt::try_lock(&file),
    };
    match attempt {
        Ok(()) => true,
        Err(fs4::TryLockError::WouldBlock) => false,
        Err(fs4::TryLockError::Error(err)) => panic!("probe lock {}: {err}", path.display()),
    }
}

/// Whether util-linux `flock -n FILE true`, a separate process, gets an
/// exclusive lock on `path` right now.
#[cfg(unix)]
pub fn flock_n(path: &Path) -> bool {
    let status = std::process::Command::new("flock")
        .arg("-n")
        .arg(path)
        .arg("true")
        .status()
        .expect("run flock(1) from util-linux");
    status.success()
}

/// Whether another locker gets an exclusive lock on `path` right now.
/// Windows has no `flock(1)`, and needs none: `LockFileEx` locks belong to
/// the handle, so a handle this process opens separately is excluded exactly
/// as another process would be.
#[cfg(windows)]
pub fn flock_n(path: &Path) -> bool {
    can_lock(path, Mode::Exclusive)
}

/// A native lock held by this process until dropped or released.
pub struct Holder {
    file: Option<File>,
}

impl Holder {
    /// Locks `path` in `mode`, waiting if needed.
    pub fn lock(path: &Path, mode: Mode) -> Holder {
        let file = open(path);
        match mode {
            Mode::Shared => fs4::FileExt::lock_shared(&file),
            Mode::Exclusive => fs4::FileExt::lock(&file),
        }
        .expect("native lock");
        Holder { file: Some(file) }
    }

    /// Releases the lock now.
    pub fn release(&mut self) {
        if let Some(file) = self.file.take() {
            fs4::FileExt::unlock(&file).expect("native unlock");
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.release();
    }
}
