//! The WIT interface `atomic-write`: portalocker's `open_atomic`. New
//! contents go into a temporary file next to the target and move into place,
//! flushed, only on commit.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_primitives::fs::{FollowSymlinks, OpenOptions};
use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{self, Descriptor};
use wasmtime_wasi::{FsPerms, OpenMode};

use crate::bindings::portalocker::filelock::atomic_write::{self, HostAtomicFile};
use crate::bindings::portalocker::filelock::types::LockError;
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error, open_error};
use crate::open;

/// Temporary files made by this process so far (part of their names).
static TEMPORARIES: AtomicU64 = AtomicU64::new(0);

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
    /// Flushes the temporary file and moves it to the target.
    fn run(self) -> Result<(), LockError> {
        let moved = self
            .file
            .sync_all()
            .map_err(|err| file_error(&err))
            .and_then(|()| self.move_into_place(&self.temporary));
        // Whatever happened, the temporary name is not needed any more (after
        // a rename it no longer exists).
        let _ = cap_primitives::fs::remove_file(&self.dir, &self.temporary);
        moved
    }

    fn move_into_place(&self, temporary: &Path) -> Result<(), LockError> {
        if self.replace {
            cap_primitives::fs::rename(&self.dir, temporary, &self.dir, &self.target)
                .map_err(|err| open_error(&err))
        } else {
            // A hard link fails if the target exists: no-replace, atomically.
            cap_primitives::fs::hard_link(&self.dir, temporary, &self.dir, &self.target).map_err(
                |err| match err.kind() {
                    std::io::ErrorKind::AlreadyExists => LockError::AlreadyExists,
                    _ => open_error(&err),
                },
            )
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(temporary) = self.temporary.take()
            && let Err(err) = cap_primitives::fs::remove_file(&self.dir, &temporary)
        {
            tracing::warn!(?err, "removing an uncommitted temporary file failed");
        }
    }
}

/// Checks the target of an atomic write and creates its temporary file.
fn start(dir: &File, target: &Path, temporary: &Path, replace: bool) -> Result<File, LockError> {
    match cap_primitives::fs::stat(dir, target, FollowSymlinks::No) {
        Ok(metadata) if metadata.file_type().is_symlink() => return Err(LockError::BadPath),
        Ok(metadata) if !metadata.file_type().is_file() => return Err(LockError::NotLockable),
        Ok(_) if !replace => return Err(LockError::AlreadyExists),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(open_error(&err)),
    }
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .create_new(true)
        ._cap_fs_ext_follow(FollowSymlinks::No);
    cap_primitives::fs::open(dir, temporary, &options).map_err(|err| open_error(&err))
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
        let name = target
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or(LockError::BadPath)?;
        let temporary = target.with_file_name(format!(
            ".{name}.{}-{}.tmp",
            std::process::id(),
            TEMPORARIES.fetch_add(1, Ordering::Relaxed)
        ));
        let dir_file = Arc::clone(&dir.dir);
        let (checked, named) = (target.clone(), temporary.clone());
        let file = self
            .ctx
            .blocking()
            .run(move || start(&dir_file, &checked, &named, replace))
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
