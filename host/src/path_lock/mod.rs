//! The WIT interface `path-lock`, the path layer: the host opens a file
//! inside a guest's directory and locks it, as one of portalocker's lock
//! classes. One module per resource:
//!
//! - [`file_lock`]: `file-lock`, the plain lock (portalocker's `Lock`);
//! - [`pending_file_lock`]: `pending-file-lock`, a `file-lock` asked for now
//!   and answered later;
//! - [`reentrant_lock`]: `reentrant-lock` (`RLock`);
//! - [`temporary_lock`]: `temporary-lock` (`TemporaryFileLock`);
//! - [`semaphore_slot`]: `semaphore-slot` (`BoundedSemaphore`).
//!
//! What they share lives here: opening a lock file by path under the host's
//! policy, and the wait that turns the opened file into a held
//! [`FileLock`].

mod file_lock;
mod pending_file_lock;
mod reentrant_lock;
mod semaphore_slot;
mod temporary_lock;

use std::fs::File;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{self, Descriptor};

pub use self::file_lock::FileLock;
pub use self::pending_file_lock::PendingFileLock;
pub use self::reentrant_lock::ReentrantLock;
pub use self::semaphore_slot::SemaphoreSlot;
pub use self::temporary_lock::TemporaryLock;
use crate::bindings::portalocker::filelock::path_lock;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode, LockOptions};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error};
use crate::open::{self, OpenRequest};
use crate::wait::{self, Patience};

impl path_lock::Host for FileLockCtxView<'_> {}

/// A file the path layer opened for locking, not locked yet.
pub(crate) struct OpenedFile {
    file: File,
    /// What the directory it was opened in allows.
    dir_perms: FsPerms,
}

impl OpenedFile {
    /// The open file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

/// Rejects option combinations that contradict each other.
fn check_options(options: &LockOptions) -> Result<(), LockError> {
    if options.truncate && (!options.write || options.mode != LockMode::Exclusive) {
        return Err(LockError::InvalidOptions);
    }
    Ok(())
}

impl FileLockCtxView<'_> {
    /// The directory behind the guest's descriptor `dir`; a file descriptor
    /// is `bad-descriptor`.
    pub(crate) fn directory(
        &self,
        dir: &Resource<Descriptor>,
    ) -> Result<&filesystem::Dir, LockFailure> {
        match self.table.get(dir)? {
            Descriptor::Dir(dir) => Ok(dir),
            Descriptor::File(_) => Err(LockError::BadDescriptor.into()),
        }
    }

    /// Opens `path` inside the directory `dir` for the lock `options` ask
    /// for, without locking it yet. Nothing here waits.
    pub(crate) fn open_in_dir(
        &self,
        dir: &filesystem::Dir,
        path: &str,
        options: &LockOptions,
    ) -> Result<OpenedFile, LockError> {
        check_options(options)?;
        let modifies = options.write || options.create || options.truncate;
        if modifies && dir.perms.write_not_permitted() {
            return Err(LockError::NotPermitted);
        }
        self.ctx.policy.admit_mode(dir.perms, options.mode)?;
        self.ctx
            .usage
            .check_room(self.ctx.policy.max_held_locks, None)?;
        let path = open::check_relative(path)?;
        self.ctx.policy.admit_in_dir(&dir.dir, path)?;
        let request = OpenRequest {
            create: options.create,
            write: options.write,
        };
        let file = open::open_lock_file(&dir.dir, path, request)?;
        // Symbolic links inside the directory may lead elsewhere in it.
        self.ctx.policy.admit_file(&file)?;
        Ok(OpenedFile {
            file,
            dir_perms: dir.perms,
        })
    }

    /// The wait that turns an opened file into a held [`FileLock`]: the same
    /// future for `acquire`, for `request` and for every lock class built on
    /// `file-lock`.
    pub(crate) fn lock_opened(
        &self,
        opened: OpenedFile,
        options: LockOptions,
    ) -> impl Future<Output = Result<FileLock, LockError>> + Send + 'static {
        let policy = self.ctx.wait;
        let budget = self.ctx.wait_budget();
        let max_held = self.ctx.policy.max_held_locks;
        let allow_blocking_current_thread = self.ctx.allow_blocking_current_thread;
        // The timeout counts from the call, not from the first poll.
        let patience = Patience::from_timeout(options.timeout, self.ctx.policy.max_wait);
        let OpenedFile { file, dir_perms } = opened;
        let file = Arc::new(file);
        async move {
            let usage = Arc::clone(&budget.usage);
            wait::acquire(&file, options.mode, patience, policy, budget, false).await?;
            if let Err(full) = usage.take_room(&file, max_held) {
                wait::release(&*file)?;
                return Err(full);
            }
            let lock = FileLock::held(
                file,
                options,
                dir_perms,
                allow_blocking_current_thread,
                usage,
            );
            // Only now, with the lock held, may the old contents go.
            if options.truncate {
                lock.open_file()
                    .set_len(0)
                    .map_err(|err| file_error(&err))?;
            }
            Ok(lock)
        }
    }
}
