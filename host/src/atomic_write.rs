//! The WIT interface `atomic-write`: portalocker's `open_atomic`. New
//! contents go into a temporary file next to the target and move into place,
//! flushed, only on commit; the directory is flushed after the move.
//!
//! The temporary file has an unpredictable name that fits the file system's
//! limit whatever the target's length ([`temporary_name`]), and it is only
//! ever removed while its name still names it: a write never removes
//! another writer's file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_primitives::fs::FollowSymlinks;
use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{self, Descriptor};
use wasmtime_wasi::{FsPerms, OpenMode};

use crate::bindings::portalocker::filelock::atomic_write::{self, HostAtomicFile};
use crate::bindings::portalocker::filelock::types::LockError;
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error, open_error};
use crate::{open, sys, temporary_name};

/// A file being written atomically: the host side of WIT `atomic-file`.
/// Dropped before a commit, it removes its temporary file.
pub struct AtomicFile {
    dir: Arc<File>,
    target: PathBuf,
    temporary: Option<PathBuf>,
    file: Arc<File>,
    replace: bool,
    allow_blocking_current_thread: bool,
}

impl AtomicFile {
    /// The commit of this write, to run where blocking work runs; the write
    /// no longer owns its temporary file from here on. A second commit is
    /// `invalid-options`.
    fn take_commit(&mut self) -> Result<Commit, LockError> {
        let temporary = self.temporary.take().ok_or(LockError::InvalidOptions)?;
        Ok(Commit {
            dir: Arc::clone(&self.dir),
            target: self.target.clone(),
            temporary,
            file: Arc::clone(&self.file),
            replace: self.replace,
        })
    }
}

/// A commit taken out of an [`AtomicFile`].
struct Commit {
    dir: Arc<File>,
    target: PathBuf,
    temporary: PathBuf,
    file: Arc<File>,
    replace: bool,
}

impl Commit {
    /// Flushes the temporary file, moves it to the target and flushes the
    /// directory.
    fn run(self) -> Result<(), LockError> {
        let moved = self
            .file
            .sync_all()
            .map_err(|err| file_error(&err))
            .and_then(|()| self.move_into_place());
        // A rename leaves nothing at the temporary name (and what may be
        // there now is somebody else's); a link or a failure leaves our file.
        if (moved.is_err() || !self.replace)
            && let Err(err) = open::remove_own(&self.dir, &self.temporary, &self.file)
        {
            tracing::warn!(?err, "removing a temporary file failed");
        }
        moved?;
        let parent = match self.target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        sys::sync_dir(&self.dir, parent).map_err(|err| file_error(&err))
    }

    fn move_into_place(&self) -> Result<(), LockError> {
        if self.replace {
            // A reader of the old file can hold its name for a moment
            // (Windows).
            open::retry_busy(|| {
                cap_primitives::fs::rename(&self.dir, &self.temporary, &self.dir, &self.target)
            })
            .map_err(|err| open_error(&err))
        } else {
            // A hard link fails if the target exists: no-replace, atomically.
            cap_primitives::fs::hard_link(&self.dir, &self.temporary, &self.dir, &self.target)
                .map_err(|err| match err.kind() {
                    std::io::ErrorKind::AlreadyExists => LockError::AlreadyExists,
                    _ => open_error(&err),
                })
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(temporary) = self.temporary.take()
            && let Err(err) = open::remove_own(&self.dir, &temporary, &self.file)
        {
            tracing::warn!(?err, "removing an uncommitted temporary file failed");
        }
    }
}

/// Checks the target of an atomic write and creates its temporary file.
fn start(dir: &File, target: &Path, replace: bool) -> Result<(PathBuf, File), LockError> {
    match cap_primitives::fs::stat(dir, target, FollowSymlinks::No) {
        Ok(metadata) if metadata.file_type().is_symlink() => return Err(LockError::BadPath),
        Ok(metadata) if !metadata.file_type().is_file() => return Err(LockError::NotLockable),
        Ok(_) if !replace => return Err(LockError::AlreadyExists),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(open_error(&err)),
    }
    temporary_name::create(dir, target)
}

impl atomic_write::Host for FileLockCtxView<'_> {}

impl HostAtomicFile for FileLockCtxView<'_> {
    /// Starts an atomic write of `path` inside `dir`.
    async fn create(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        replace: bool,
    ) -> Result<Resource<AtomicFile>, LockFailure> {
        let dir = self.directory(&dir)?;
        if dir.perms.write_not_permitted() {
            return Err(LockError::NotPermitted.into());
        }
        let target = open::check_relative(&path)?.to_path_buf();
        // The name must have a last component (not `a/..`).
        temporary_name::next_to(&target)?;
        let dir_file = Arc::clone(&dir.dir);
        let checked = target.clone();
        let (temporary, file) = self
            .ctx
            .blocking()
            .run(move || start(&dir_file, &checked, replace))
            .await?;
        let atomic = AtomicFile {
            dir: Arc::clone(&dir.dir),
            target,
            temporary: Some(temporary),
            file: Arc::new(file),
            replace,
            allow_blocking_current_thread: self.ctx.allow_blocking_current_thread,
        };
        Ok(self.table.push(atomic)?)
    }

    /// A new descriptor of the temporary file.
    async fn file(
        &mut self,
        atomic: Resource<AtomicFile>,
    ) -> Result<Resource<Descriptor>, LockFailure> {
        let atomic = self.table.get(&atomic)?;
        let file = atomic.file.try_clone().map_err(|err| file_error(&err))?;
        let descriptor = Descriptor::File(filesystem::File::new(
            file,
            FsPerms::ReadWrite,
            OpenMode::READ | OpenMode::WRITE,
            atomic.allow_blocking_current_thread,
        ));
        Ok(self.table.push(descriptor)?)
    }

    /// Flushes and moves the temporary file into place, off the executor.
    async fn commit(&mut self, atomic: Resource<AtomicFile>) -> Result<(), LockFailure> {
        let commit = self.table.get_mut(&atomic)?.take_commit()?;
        self.ctx.blocking().run(move || commit.run()).await?;
        Ok(())
    }

    /// Removes the temporary file if the write was not committed.
    async fn drop(&mut self, atomic: Resource<AtomicFile>) -> wasmtime::Result<()> {
        self.table.delete(atomic)?;
        Ok(())
    }
}
