//! The resource `reentrant-lock`: portalocker's `RLock`. Acquisitions are
//! counted; the file is locked by the first and unlocked by the last.

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{self, Descriptor};

use super::FileLock;
use crate::bindings::portalocker::filelock::path_lock::HostReentrantLock;
use crate::bindings::portalocker::filelock::types::{LockError, LockOptions};
use crate::ctx::FileLockCtxView;
use crate::error::LockFailure;
use crate::open;

/// The host side of WIT `reentrant-lock`. Dropping it releases the lock,
/// whatever the count.
pub struct ReentrantLock {
    dir: filesystem::Dir,
    path: String,
    options: LockOptions,
    held: Option<FileLock>,
    count: u32,
}

impl HostReentrantLock for FileLockCtxView<'_> {
    async fn open(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<ReentrantLock>, LockFailure> {
        let dir = self.directory(&dir)?.clone();
        open::check_relative(&path)?;
        let lock = ReentrantLock {
            dir,
            path,
            options,
            held: None,
            count: 0,
        };
        Ok(self.table.push(lock)?)
    }

    /// Acquires once more: locks the file the first time.
    async fn acquire(&mut self, lock: Resource<ReentrantLock>) -> Result<(), LockFailure> {
        let reentrant = self.table.get_mut(&lock)?;
        if reentrant.count > 0 {
            reentrant.count = reentrant
                .count
                .checked_add(1)
                .ok_or(LockError::InvalidOptions)?;
            return Ok(());
        }
        let (dir, path, options) = (
            reentrant.dir.clone(),
            reentrant.path.clone(),
            reentrant.options,
        );
        let held = self.open_and_lock(&dir, &path, options)?.await?;
        let reentrant = self.table.get_mut(&lock)?;
        reentrant.held = Some(held);
        reentrant.count = 1;
        Ok(())
    }

    /// Gives back one acquisition; the last unlocks and closes the file.
    async fn release(&mut self, lock: Resource<ReentrantLock>) -> Result<(), LockFailure> {
        let reentrant = self.table.get_mut(&lock)?;
        reentrant.count = reentrant.count.checked_sub(1).ok_or(LockError::NotHeld)?;
        if reentrant.count == 0 {
            // Dropping the lock unlocks it and closes the file.
            drop(reentrant.held.take());
        }
        Ok(())
    }

    async fn count(&mut self, lock: Resource<ReentrantLock>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&lock)?.count)
    }

    async fn drop(&mut self, lock: Resource<ReentrantLock>) -> wasmtime::Result<()> {
        self.table.delete(lock)?;
        Ok(())
    }
}
