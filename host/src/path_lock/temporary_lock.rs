//! The resource `temporary-lock`: portalocker's `TemporaryFileLock`, a lock
//! file that exists only while it is held.
//!
//! The protocol that keeps it safe with many contenders: a holder removes the
//! file *while still holding the lock*; a waiter that then gets the lock on
//! the removed file finds, on checking, that the path no longer names the
//! file it locked (or names a newer one), lets go and starts over. So a lock
//! is only ever held on the file the path names.

use std::fs::File;
use std::path::PathBuf;
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

/// The host side of WIT `temporary-lock`.
pub struct TemporaryLock {
    dir: filesystem::Dir,
    path: PathBuf,
    held: Option<FileLock>,
}

impl TemporaryLock {
    /// The release of this lock, to run where blocking work runs: `None`
    /// when it is released already.
    fn take_release(&mut self) -> Option<Release> {
        Some(Release {
            dir: Arc::clone(&self.dir.dir),
            path: self.path.clone(),
            lock: self.held.take()?,
        })
    }
}

impl Drop for TemporaryLock {
    fn drop(&mut self) {
        if let Some(release) = self.take_release()
            && let Err(err) = release.run()
        {
            tracing::warn!(?err, "removing a temporary lock file failed");
        }
    }
}

/// A held temporary lock taken out of its resource, to be released.
struct Release {
    dir: Arc<File>,
    path: PathBuf,
    lock: FileLock,
}

impl Release {
    /// Removes the lock file while still holding it, then unlocks.
    fn run(self) -> Result<(), LockError> {
        let removed = cap_primitives::fs::remove_file(&self.dir, &self.path);
        drop(self.lock);
        match removed {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(file_error(&err)),
            _ => Ok(()),
        }
    }
}

impl HostTemporaryLock for FileLockCtxView<'_> {
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        mut options: LockOptions,
    ) -> Result<Resource<TemporaryLock>, LockFailure> {
        let dir = self.directory(&dir)?.clone();
        if options.truncate {
            return Err(LockError::InvalidOptions.into());
        }
        options.create = true;
        options.write = true;
        let relative = open::check_relative(&path)?.to_path_buf();
        let deadline = options
            .timeout
            .filter(|&ns| ns > 0)
            .and_then(|ns| Instant::now().checked_add(Duration::from_nanos(ns)));
        for _ in 0..MAX_ROUNDS {
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(LockError::TimedOut.into());
                }
                options.timeout = Some(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX));
            }
            let lock = self.open_and_lock(&dir, &path, options)?.await?;
            if sys::names(&dir.dir, &relative, lock.open_file()) {
                let temporary = TemporaryLock {
                    dir,
                    path: relative,
                    held: Some(lock),
                };
                return Ok(self.table.push(temporary)?);
            }
            // The holder before us removed the file: ours is gone. Start over.
        }
        Err(open_error(&std::io::Error::other("the lock file kept being replaced")).into())
    }

    /// Removes the lock file while still holding it, then unlocks.
    async fn release(&mut self, lock: Resource<TemporaryLock>) -> Result<(), LockFailure> {
        if let Some(release) = self.table.get_mut(&lock)?.take_release() {
            self.ctx.blocking().run(move || release.run()).await?;
        }
        Ok(())
    }

    async fn drop(&mut self, lock: Resource<TemporaryLock>) -> wasmtime::Result<()> {
        self.table.delete(lock)?;
        Ok(())
    }
}
