//! The path layer: open a file inside a guest's directory and lock it in one
//! step, as a `file-lock` resource.

use std::fs::File;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{self, Descriptor};
use wasmtime_wasi::{FsPerms, OpenMode};
use wasmtime_wasi_io::poll::DynPollable;

use crate::bindings::portalocker::filelock::types::{LockError, LockMode, LockOptions};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error};
use crate::open::{self, OpenRequest};
use crate::os_lock;
use crate::policy::Usage;
use crate::request::{Collected, PendingFileLock, Request};
use crate::wait::{self, Patience};

/// A held lock on a file the host opened for a guest: the host side of the
/// WIT resource `file-lock`.
///
/// Dropping it releases the lock, whatever other handles to the open file are
/// still alive; this is what happens when the guest drops the resource and
/// when the store (and its resource table) is dropped.
#[derive(Debug)]
pub struct FileLock {
    file: Arc<File>,
    mode: LockMode,
    write: bool,
    held: bool,
    /// What the directory the file was opened in allows, for `lock`.
    dir_perms: FsPerms,
    allow_blocking_current_thread: bool,
    /// The instance's usage, which counts this lock while it is held.
    usage: Arc<Usage>,
}

impl FileLock {
    /// The mode the lock was last acquired or converted in.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The locked open file.
    pub(crate) fn open_file(&self) -> &File {
        &self.file
    }

    /// Whether the lock is held (acquired and not released since).
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Releases the lock; releasing twice does nothing.
    fn release(&mut self) -> Result<(), LockError> {
        if self.held {
            os_lock::unlock(&self.file).map_err(|err| file_error(&err))?;
            self.held = false;
            self.usage.path_released();
        }
        Ok(())
    }

    /// A new wasmtime-wasi descriptor sharing this lock's open file.
    fn descriptor(&self) -> Result<Descriptor, LockError> {
        let file = self.file.try_clone().map_err(|err| file_error(&err))?;
        let (perms, open_mode) = if self.write {
            (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE)
        } else {
            (FsPerms::ReadOnly, OpenMode::READ)
        };
        Ok(Descriptor::File(filesystem::File::new(
            file,
            perms,
            open_mode,
            self.allow_blocking_current_thread,
        )))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if let Err(err) = self.release() {
            tracing::warn!(?err, "releasing a file lock on drop failed");
        }
    }
}

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
    /// Opens `path` inside the directory `dir` for the lock `options` ask for,
    /// without locking it yet. Nothing here waits.
    fn open_for_lock(
        &self,
        dir: &Resource<Descriptor>,
        path: &str,
        options: &LockOptions,
    ) -> Result<OpenedFile, LockFailure> {
        let dir = match self.table.get(dir)? {
            Descriptor::Dir(dir) => dir,
            Descriptor::File(_) => return Err(LockError::BadDescriptor.into()),
        };
        Ok(self.open_in_dir(dir, path, options)?)
    }

    /// [`Self::open_for_lock`] in a directory the caller already has.
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
    /// future for `acquire` and for `request`.
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
        async move {
            let usage = Arc::clone(&budget.usage);
            wait::acquire(&file, options.mode, patience, policy, budget, false).await?;
            if let Err(full) = usage.take_path_room(max_held) {
                os_lock::unlock(&file).map_err(|err| file_error(&err))?;
                return Err(full);
            }
            let lock = FileLock {
                file: Arc::new(file),
                mode: options.mode,
                write: options.write,
                held: true,
                dir_perms,
                allow_blocking_current_thread,
                usage,
            };
            // Only now, with the lock held, may the old contents go.
            if options.truncate {
                lock.file.set_len(0).map_err(|err| file_error(&err))?;
            }
            Ok(lock)
        }
    }

    /// Opens `path` inside the directory `dir` and locks it as `options` say.
    pub(crate) async fn acquire_path(
        &mut self,
        dir: &Resource<Descriptor>,
        path: &str,
        options: LockOptions,
    ) -> Result<Resource<FileLock>, LockFailure> {
        let file = self.open_for_lock(dir, path, &options)?;
        let lock = self.lock_opened(file, options).await?;
        Ok(self.table.push(lock)?)
    }

    /// Asks for the lock [`Self::acquire_path`] would take, answered later.
    pub(crate) fn request_path(
        &mut self,
        dir: &Resource<Descriptor>,
        path: &str,
        options: LockOptions,
    ) -> wasmtime::Result<Resource<PendingFileLock>> {
        let request = match self.open_for_lock(dir, path, &options) {
            Ok(file) => Request::waiting(self.lock_opened(file, options)),
            Err(LockFailure::Guest(err)) => Request::answered(Err(err)),
            Err(LockFailure::Trap(trap)) => return Err(trap),
        };
        Ok(self.table.push(PendingFileLock::new(request))?)
    }

    /// A pollable for a path-layer request.
    pub(crate) fn subscribe_path_request(
        &mut self,
        request: Resource<PendingFileLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, request)
    }

    /// The WIT `pending-file-lock.get`.
    pub(crate) fn collect_path_request(
        &mut self,
        request: &Resource<PendingFileLock>,
    ) -> wasmtime::Result<Collected<Resource<FileLock>>> {
        match self.table.get_mut(request)?.collect() {
            Some(Ok(Ok(lock))) => Ok(Some(Ok(Ok(self.table.push(lock)?)))),
            Some(Ok(Err(err))) => Ok(Some(Ok(Err(err)))),
            Some(Err(())) => Ok(Some(Err(()))),
            None => Ok(None),
        }
    }

    /// Drops a path-layer request, cancelling it if it is still waiting.
    pub(crate) fn drop_path_request(
        &mut self,
        request: Resource<PendingFileLock>,
    ) -> wasmtime::Result<()> {
        self.table.delete(request)?;
        Ok(())
    }

    /// The mode of a held lock resource.
    pub(crate) fn lock_mode(&self, lock: &Resource<FileLock>) -> wasmtime::Result<LockMode> {
        Ok(self.table.get(lock)?.mode())
    }

    /// Whether a lock resource still holds its lock.
    pub(crate) fn lock_is_held(&self, lock: &Resource<FileLock>) -> wasmtime::Result<bool> {
        Ok(self.table.get(lock)?.is_held())
    }

    /// A new descriptor of the lock resource's open file, owned by the guest.
    pub(crate) fn lock_file(
        &mut self,
        lock: &Resource<FileLock>,
    ) -> Result<Resource<Descriptor>, LockFailure> {
        let descriptor = self.table.get(lock)?.descriptor()?;
        Ok(self.table.push(descriptor)?)
    }

    /// The WIT `file-lock.lock`: locks the resource's open file again in
    /// `mode`. Nothing happens when it is held in `mode` already; held in the
    /// other mode it is converted (not atomically, as `flock(2)` converts);
    /// released, it is locked anew.
    pub(crate) async fn relock(
        &mut self,
        lock: &Resource<FileLock>,
        mode: LockMode,
        timeout_ns: Option<u64>,
    ) -> Result<(), LockFailure> {
        let current = self.table.get(lock)?;
        if current.held && current.mode == mode {
            return Ok(());
        }
        self.ctx.policy.admit_mode(current.dir_perms, mode)?;
        let converting = current.held;
        if !converting {
            self.ctx
                .usage
                .check_room(self.ctx.policy.max_held_locks, None)?;
        }
        let file = Arc::clone(&current.file);
        let patience = Patience::from_timeout(timeout_ns, self.ctx.policy.max_wait);
        let budget = self.ctx.wait_budget();
        let outcome = wait::acquire(&file, mode, patience, self.ctx.wait, budget, converting).await;
        let current = self.table.get_mut(lock)?;
        match outcome {
            Ok(()) => {
                if !current.held {
                    if let Err(full) = current.usage.take_path_room(self.ctx.policy.max_held_locks)
                    {
                        os_lock::unlock(&file).map_err(|err| file_error(&err))?;
                        return Err(full.into());
                    }
                    current.held = true;
                }
                current.mode = mode;
                Ok(())
            }
            Err(err) => {
                // A failed conversion gives up the old lock (see the WIT).
                if current.held {
                    current.held = false;
                    current.usage.path_released();
                    os_lock::unlock(&file).map_err(|err| file_error(&err))?;
                }
                Err(err.into())
            }
        }
    }

    /// Releases a lock resource's lock, keeping the resource.
    pub(crate) fn release_lock(&mut self, lock: &Resource<FileLock>) -> Result<(), LockFailure> {
        self.table.get_mut(lock)?.release()?;
        Ok(())
    }

    /// Drops a lock resource, releasing its lock.
    pub(crate) fn drop_lock(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<()> {
        self.table.delete(lock)?;
        Ok(())
    }
}
