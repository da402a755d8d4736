//! The resource `temporary-lock`: portalocker's `TemporaryFileLock`, a lock
//! file that exists only while it is held.
//!
//! The protocol that keeps it safe with many contenders (portalocker's, so
//! each excludes the other): a holder removes the file *while still holding
//! the lock*; a waiter that then gets the lock on the removed file finds, on
//! checking, that the path no longer names the file it locked (or names a
//! newer one), lets go and starts over. So a lock is only ever held on the
//! file the path names.
//!
//! A release removes the file only if the path still names the file held
//! (see [`open::remove_own`]): a file somebody else created at the path
//! after a cleanup job removed ours, or moved over the path, belongs to
//! whoever holds it now. The PID-file lock takes its sidecar lock file the
//! same way ([`TemporaryFile`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{self, Descriptor};

use super::FileLock;
use crate::bindings::portalocker::filelock::path_lock::HostTemporaryLock;
use crate::bindings::portalocker::filelock::types::{LockError, LockOptions};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error, open_error};
use crate::open;
use crate::sys;

/// How many times a holder that keeps finding its file replaced starts over
/// before giving up with `io`.
const MAX_ROUNDS: u32 = 10_000;

/// A held lock on a lock file that is removed on release: what a
/// `temporary-lock` holds, and the sidecar of a PID-file lock.
#[derive(Debug)]
pub(crate) struct TemporaryFile {
    dir: Arc<File>,
    path: PathBuf,
    lock: FileLock,
}

impl TemporaryFile {
    /// The held lock.
    pub(crate) fn lock(&self) -> &FileLock {
        &self.lock
    }

    /// The directory the lock file is in.
    pub(crate) fn dir(&self) -> &Arc<File> {
        &self.dir
    }

    /// Removes `also` (other files of the lock, in the same directory) and
    /// then the lock file, while still holding the lock, but only if the
    /// lock file's path still names the file held; then unlocks. Files
    /// already gone are no error.
    pub(crate) fn release(self, also: &[&Path]) -> Result<(), LockError> {
        let removed = self.remove(also);
        drop(self.lock);
        removed
    }

    fn remove(&self, also: &[&Path]) -> Result<(), LockError> {
        if !sys::names(&self.dir, &self.path, self.lock.open_file()) {
            tracing::warn!(
                path = %self.path.display(),
                "not removing a temporary lock file: it no longer is the file this lock holds"
            );
            return Ok(());
        }
        for path in also {
            match cap_primitives::fs::remove_file(&self.dir, path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(file_error(&err));
                }
                _ => {}
            }
        }
        open::remove_own(&self.dir, &self.path, self.lock.open_file())
            .map(drop)
            .map_err(|err| file_error(&err))
    }
}

/// The host side of WIT `temporary-lock`.
pub struct TemporaryLock {
    held: Option<TemporaryFile>,
}

impl Drop for TemporaryLock {
    fn drop(&mut self) {
        if let Some(held) = self.held.take()
            && let Err(err) = held.release(&[])
        {
            tracing::warn!(?err, "removing a temporary lock file failed");
        }
    }
}

impl FileLockCtxView<'_> {
    /// Creates (if needed) and locks `path` inside `dir` as `options` say,
    /// until the lock is held on the file the path names; the timeout covers
    /// all the attempts. The lock starts at byte `first_byte` where the
    /// platform locks bytes (0: the whole file; see `WholeFile::from`).
    pub(crate) async fn lock_temporary_file(
        &mut self,
        dir: &filesystem::Dir,
        path: &str,
        mut options: LockOptions,
        first_byte: u64,
    ) -> Result<TemporaryFile, LockError> {
        if options.truncate || options.append {
            return Err(LockError::InvalidOptions);
        }
        options.create = true;
        options.write = true;
        let relative = open::check_relative(path)?.to_path_buf();
        let deadline = options
            .timeout
            .filter(|&ns| ns > 0)
            .and_then(|ns| Instant::now().checked_add(Duration::from_nanos(ns)));
        for _ in 0..MAX_ROUNDS {
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(LockError::TimedOut);
                }
                options.timeout = Some(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX));
            }
            let lock = self
                .open_and_lock_from(dir, path, options, first_byte)?
                .await?;
            let (dir_file, named) = (Arc::clone(&dir.dir), relative.clone());
            let file = lock.shared_file();
            let still_named = self
                .ctx
                .blocking()
                .run(move || sys::names(&dir_file, &named, &file))
                .await;
            if still_named {
                return Ok(TemporaryFile {
                    dir: Arc::clone(&dir.dir),
                    path: relative,
                    lock,
                });
            }
            // The holder before us removed the file: ours is gone. Start over.
        }
        Err(open_error(&std::io::Error::other(
            "the lock file kept being replaced",
        )))
    }
}

impl HostTemporaryLock for FileLockCtxView<'_> {
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<TemporaryLock>, LockFailure> {
        let dir = self.directory(&dir)?.clone();
        let held = self.lock_temporary_file(&dir, &path, options, 0).await?;
        Ok(self.table.push(TemporaryLock { held: Some(held) })?)
    }

    /// Removes the lock file, if it is still the one held, while still
    /// holding it; then unlocks.
    async fn release(&mut self, lock: Resource<TemporaryLock>) -> Result<(), LockFailure> {
        if let Some(held) = self.table.get_mut(&lock)?.held.take() {
            self.ctx.blocking().run(move || held.release(&[])).await?;
        }
        Ok(())
    }

    async fn drop(&mut self, lock: Resource<TemporaryLock>) -> wasmtime::Result<()> {
        self.table.delete(lock)?;
        Ok(())
    }
}
