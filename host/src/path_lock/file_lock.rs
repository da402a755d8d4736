//! The resource `file-lock`: portalocker's `Lock`, a held lock on a file the
//! host opened for the guest.

use std::fs::File;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{self, Descriptor};
use wasmtime_wasi::{FsPerms, OpenMode};

use super::PendingFileLock;
use crate::backend::whole_file::WholeFile;
use crate::bindings::portalocker::filelock::path_lock::HostFileLock;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode, LockOptions};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error};
use crate::policy::Usage;
use crate::request::Request;
use crate::sys;
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
    /// A lock just taken on `file` as `options` asked.
    pub(crate) fn held(
        file: Arc<File>,
        options: LockOptions,
        dir_perms: FsPerms,
        allow_blocking_current_thread: bool,
        usage: Arc<Usage>,
    ) -> Self {
        FileLock {
            file,
            mode: options.mode,
            write: options.write,
            held: true,
            dir_perms,
            allow_blocking_current_thread,
            usage,
        }
    }

    /// The mode the lock was last acquired or converted in.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// Whether the lock is held (acquired and not released since).
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// The locked open file.
    pub(crate) fn open_file(&self) -> &File {
        &self.file
    }

    /// The locked open file, shared (for work done elsewhere).
    pub(crate) fn shared_file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// Releases the lock; releasing twice does nothing.
    pub(crate) fn release(&mut self) -> Result<(), LockError> {
        if self.held {
            self.held = false;
            self.usage.released(&self.file);
            wait::release(&WholeFile::of(&self.file))?;
        }
        Ok(())
    }

    /// A new wasmtime-wasi descriptor of this lock's open file. Like a
    /// descriptor the guest opens itself, it carries the permissions of the
    /// directory the file was reached through (what the host's policy looks
    /// at), and the open file's own access decides what it can do. It shares
    /// the lock's `Arc<File>` (not a duplicate file descriptor), so that the
    /// instance's usage, which counts locks per `Arc<File>`, counts a lock
    /// taken through the descriptor for as long as the open file stays
    /// open, whichever of the two handles is dropped first.
    fn descriptor(&self) -> Result<Descriptor, LockError> {
        // `filesystem::File::new` wraps a `File` of its own; the placeholder
        // duplicate is closed at once, when the shared one replaces it.
        let placeholder = self.file.try_clone().map_err(|err| file_error(&err))?;
        let open_mode = if self.write {
            OpenMode::READ | OpenMode::WRITE
        } else {
            OpenMode::READ
        };
        let mut descriptor = filesystem::File::new(
            placeholder,
            self.dir_perms,
            open_mode,
            self.allow_blocking_current_thread,
        );
        descriptor.file = Arc::clone(&self.file);
        Ok(Descriptor::File(descriptor))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if let Err(err) = self.release() {
            tracing::warn!(?err, "releasing a file lock on drop failed");
        }
    }
}

impl HostFileLock for FileLockCtxView<'_> {
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<FileLock>, LockFailure> {
        let lock = self.open_and_lock(self.directory(&dir)?, &path, options)?;
        let lock = lock.await?;
        Ok(self.table.push(lock)?)
    }

    async fn request(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> wasmtime::Result<Resource<PendingFileLock>> {
        // The file is opened now (what fails without waiting is answered at
        // once); only the wait is left to the request.
        let lock = self.lock_opened(options, 0);
        let open = self
            .directory(&dir)
            .and_then(|dir| Ok(self.open_in_dir(dir, &path, &options)?));
        let opened = match open {
            Ok(open) => open.await,
            Err(LockFailure::Guest(err)) => Err(err),
            Err(LockFailure::Trap(trap)) => return Err(trap),
        };
        let request = match opened {
            Ok(opened) => Request::waiting(lock(opened)),
            Err(err) => Request::answered(Err(err)),
        };
        Ok(self.table.push(PendingFileLock::new(request))?)
    }

    async fn mode(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<LockMode> {
        Ok(self.table.get(&lock)?.mode())
    }

    async fn is_held(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&lock)?.is_held())
    }

    /// Locks the resource's open file again in `mode`. Nothing happens when
    /// it is held in `mode` already; held in the other mode it is converted
    /// (not atomically, as `flock(2)` converts); released, it is locked anew.
    async fn lock(
        &mut self,
        lock: Resource<FileLock>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<(), LockFailure> {
        let current = self.table.get(&lock)?;
        if current.held && current.mode == mode {
            return Ok(());
        }
        self.ctx.policy.admit_mode(current.dir_perms, mode)?;
        let max = self.ctx.policy.max_held_locks;
        let current = self.table.get_mut(&lock)?;
        let converting = current.held;
        if converting {
            // A conversion that does not succeed at once gives up the old
            // lock (see the WIT): from here on the resource does not claim
            // it, so a cancelled wait leaves it telling the truth.
            current.held = false;
            current.usage.released(&current.file);
        } else {
            current.usage.check_room(max, None)?;
        }
        let file = Arc::clone(&current.file);
        let patience = Patience::from_timeout(timeout, self.ctx.policy.max_wait);
        let budget = self.ctx.wait_budget();
        let outcome = wait::acquire(
            &WholeFile::shared(&file),
            mode,
            patience,
            self.ctx.wait,
            budget,
            converting,
        )
        .await;
        let current = self.table.get_mut(&lock)?;
        match outcome {
            Ok(()) => {
                if let Err(full) = current.usage.take_room(&file, max) {
                    wait::release(&WholeFile::of(&file))?;
                    return Err(full.into());
                }
                current.held = true;
                current.mode = mode;
                Ok(())
            }
            Err(err) => {
                if converting {
                    wait::release(&WholeFile::of(&file))?;
                } else if current.usage.holds(&file) && sys::holds_flock(&file) != Some(true) {
                    // A lock taken through a `file()` descriptor of this
                    // open file, given up by the failed attempt.
                    current.usage.released(&file);
                }
                Err(err.into())
            }
        }
    }

    async fn file(
        &mut self,
        lock: Resource<FileLock>,
    ) -> Result<Resource<Descriptor>, LockFailure> {
        let descriptor = self.table.get(&lock)?.descriptor()?;
        Ok(self.table.push(descriptor)?)
    }

    async fn release(&mut self, lock: Resource<FileLock>) -> Result<(), LockFailure> {
        self.table.get_mut(&lock)?.release()?;
        Ok(())
    }

    async fn drop(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<()> {
        self.table.delete(lock)?;
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests;
