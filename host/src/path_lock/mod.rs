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
use std::pin::Pin;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{self, Descriptor};

pub use self::file_lock::FileLock;
pub use self::pending_file_lock::PendingFileLock;
pub use self::reentrant_lock::ReentrantLock;
pub use self::semaphore_slot::SemaphoreSlot;
pub(crate) use self::temporary_lock::TemporaryFile;
pub use self::temporary_lock::TemporaryLock;
use crate::backend::whole_file::WholeFile;
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

/// Rejects option combinations that contradict each other.
fn check_options(options: &LockOptions) -> Result<(), LockError> {
    if options.truncate && (!options.write || options.mode != LockMode::Exclusive) {
        return Err(LockError::InvalidOptions);
    }
    if options.append && (!options.write || options.truncate) {
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

    /// Checks a lock on `path` inside the directory `dir` as far as that is
    /// possible without touching the file system, and returns the future
    /// that opens the file for the lock `options` ask for (off the executor,
    /// unless blocking the current thread is allowed), without locking it
    /// yet.
    pub(crate) fn open_in_dir(
        &self,
        dir: &filesystem::Dir,
        path: &str,
        options: &LockOptions,
    ) -> Result<impl Future<Output = Result<OpenedFile, LockError>> + Send + use<>, LockError> {
        check_options(options)?;
        let modifies = options.write || options.create || options.truncate || options.append;
        if modifies && dir.perms.write_not_permitted() {
            return Err(LockError::NotPermitted);
        }
        self.ctx.policy.admit_mode(dir.perms, options.mode)?;
        self.ctx
            .usage
            .check_room(self.ctx.policy.max_held_locks, None)?;
        let path = open::check_relative(path)?.to_path_buf();
        let request = OpenRequest {
            create: options.create,
            write: options.write,
            append: options.append,
        };
        let policy = Arc::clone(&self.ctx.policy);
        let dir_file = Arc::clone(&dir.dir);
        let dir_perms = dir.perms;
        Ok(self.ctx.blocking().run(move || {
            policy.admit_in_dir(&dir_file, &path)?;
            let opened = open::open_lock_file(&dir_file, &path, request)?;
            // Symbolic links inside the directory may lead elsewhere in it:
            // the lock is judged by where the file really is, and a file
            // this call created is removed again when it is refused.
            if let Err(denied) = policy.admit_file(&opened.file) {
                if opened.created
                    && let Err(err) = open::remove_own(&dir_file, &path, &opened.file)
                {
                    tracing::warn!(
                        ?err,
                        "removing a lock file created for a denied lock failed"
                    );
                }
                return Err(denied);
            }
            Ok(OpenedFile {
                file: opened.file,
                dir_perms,
            })
        }))
    }

    /// [`Self::open_in_dir`] and [`Self::lock_opened`] in one future: what
    /// `acquire`, `request` and every lock class built on `file-lock` wait
    /// for.
    pub(crate) fn open_and_lock(
        &self,
        dir: &filesystem::Dir,
        path: &str,
        options: LockOptions,
    ) -> Result<impl Future<Output = Result<FileLock, LockError>> + Send + use<>, LockError> {
        self.open_and_lock_from(dir, path, options, 0)
    }

    /// [`Self::open_and_lock`], with the lock starting at byte `first_byte`
    /// where the platform locks bytes (see [`WholeFile::from`]).
    pub(crate) fn open_and_lock_from(
        &self,
        dir: &filesystem::Dir,
        path: &str,
        options: LockOptions,
        first_byte: u64,
    ) -> Result<impl Future<Output = Result<FileLock, LockError>> + Send + use<>, LockError> {
        let open = self.open_in_dir(dir, path, &options)?;
        let lock = self.lock_opened(options, first_byte);
        Ok(async move { lock(open.await?).await })
    }

    /// The wait that turns an opened file into a held [`FileLock`], as a
    /// function of the opened file; the timeout counts from this call. The
    /// lock starts at byte `first_byte` where the platform locks bytes (0:
    /// the whole file).
    pub(crate) fn lock_opened(
        &self,
        options: LockOptions,
        first_byte: u64,
    ) -> impl FnOnce(OpenedFile) -> Pin<Box<dyn Future<Output = Result<FileLock, LockError>> + Send>>
    + Send
    + use<> {
        let policy = self.ctx.wait;
        let budget = self.ctx.wait_budget();
        let max_held = self.ctx.policy.max_held_locks;
        let allow_blocking_current_thread = self.ctx.allow_blocking_current_thread;
        let blocking = self.ctx.blocking();
        // The timeout counts from the call, not from the first poll.
        let patience = Patience::from_timeout(options.timeout, self.ctx.policy.max_wait);
        move |opened: OpenedFile| {
            Box::pin(async move {
                let OpenedFile { file, dir_perms } = opened;
                let file = Arc::new(file);
                let usage = Arc::clone(&budget.usage);
                wait::acquire(
                    &Arc::new(WholeFile::from(&file, first_byte)),
                    options.mode,
                    patience,
                    policy,
                    budget,
                    false,
                )
                .await?;
                if let Err(full) = usage.take_room(&file, max_held) {
                    wait::release(&WholeFile::of(&file))?;
                    return Err(full);
                }
                let lock = FileLock::held(
                    Arc::clone(&file),
                    options,
                    dir_perms,
                    allow_blocking_current_thread,
                    usage,
                );
                // Only now, with the lock held, may the old contents go.
                if options.truncate {
                    blocking
                        .run(move || file.set_len(0))
                        .await
                        .map_err(|err| file_error(&err))?;
                }
                Ok(lock)
            })
        }
    }
}
