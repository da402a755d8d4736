//! Opening a lock file by path inside a guest's directory, under the sandbox
//! rules of `wasi:filesystem`.
//!
//! The path is checked lexically first (empty, absolute, NUL bytes, `..`
//! climbing above the directory), then opened with cap-primitives, the
//! resolver wasmtime-wasi itself is built on, which refuses symbolic links
//! that lead outside the directory. A symbolic link at the lock path itself
//! is never followed (the class of filelock's CVE-2025-68146: a planted link
//! turning a lock-file open into the truncation of another file). The file
//! is opened without blocking, so a FIFO at the path never hangs the host,
//! and it must turn out to be a regular file. A file is only created
//! exclusively (`O_EXCL`), so the caller knows whether it is its own, and
//! can remove it again when the call fails after all; lock files are only
//! ever removed while their path still names the file held.

use std::fs::File;
use std::io;
use std::path::{Component, Path};
use std::time::Duration;

use cap_primitives::fs::{FollowSymlinks, OpenOptions};

use crate::bindings::portalocker::filelock::types::LockError;
use crate::error::open_error;
use crate::sys;

/// How many times an open that meets a file appearing (or disappearing)
/// meanwhile is tried before it gives up.
const MAX_OPEN_ATTEMPTS: u32 = 100;

/// How many times an open or a rename refused because a file open elsewhere
/// holds the name for now (see [`sys::name_busy`]) is tried again.
const MAX_NAME_BUSY_RETRIES: u32 = 20;

/// What to open, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct OpenRequest {
    /// Create the file when it is missing.
    pub create: bool,
    /// Open for writing too.
    pub write: bool,
    /// Open for appending (`O_APPEND`): writes go to the end of the file.
    pub append: bool,
}

/// A lock file just opened, and whether this open created it.
#[derive(Debug)]
pub(crate) struct OpenedLockFile {
    /// The open file.
    pub file: File,
    /// Whether the file did not exist before (so a call that fails after
    /// the open removes it again: nothing is created when a call fails).
    pub created: bool,
}

/// Checks that `path` names something inside the directory it is relative to,
/// without touching the filesystem.
pub(crate) fn check_relative(path: &str) -> Result<&Path, LockError> {
    if path.is_empty() || path.contains('\0') {
        return Err(LockError::BadPath);
    }
    let path = Path::new(path);
    let mut depth: usize = 0;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1).ok_or(LockError::BadPath)?,
            Component::RootDir | Component::Prefix(_) => return Err(LockError::BadPath),
        }
    }
    if depth == 0 {
        // The directory itself: never a lockable file.
        return Err(LockError::NotLockable);
    }
    Ok(path)
}

/// The guest path of the file `name` beside the file a checked guest
/// `path` names (in the same directory), joined with `/` as WASI paths are
/// on every host: `run/app.pid` and `app.pid.lock` give `run/app.pid.lock`.
pub(crate) fn sibling(path: &Path, name: &str) -> Result<String, LockError> {
    match path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        Some(parent) => {
            let parent = parent.to_str().ok_or(LockError::BadPath)?;
            Ok(format!("{parent}/{name}"))
        }
        None => Ok(name.to_owned()),
    }
}

/// Runs `op`, and runs it again after a pause while it fails only because a
/// file open elsewhere holds the name for now (Windows; see
/// [`sys::name_busy`]): 1 ms doubling to 16 ms, about a quarter of a second
/// in all, before the refusal is reported. On Unix it runs `op` once.
pub(crate) fn retry_busy<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut retry = 0;
    loop {
        match op() {
            Err(err) if sys::name_busy(&err) && retry < MAX_NAME_BUSY_RETRIES => {
                std::thread::sleep(Duration::from_millis(1 << retry.min(4)));
                retry += 1;
            }
            done => return done,
        }
    }
}

/// Opens `path` relative to the directory `dir` and checks that it is a
/// regular file; tells whether the open created it. An open refused only
/// because a file open elsewhere holds the name for now is tried again for
/// a while ([`retry_busy`]).
pub(crate) fn open_lock_file(
    dir: &File,
    path: &Path,
    request: OpenRequest,
) -> Result<OpenedLockFile, LockError> {
    // Refuse what is not a regular file before opening it: opening a device
    // can have effects of its own. (The check after the open below is the
    // one that counts if the path changes in between.)
    let exists = match retry_busy(|| cap_primitives::fs::stat(dir, path, FollowSymlinks::No)) {
        // A symbolic link planted at the lock path is never followed: it
        // could point at a file the guest must not truncate or lock.
        Ok(metadata) if metadata.file_type().is_symlink() => return Err(LockError::BadPath),
        Ok(metadata) if !metadata.file_type().is_file() => return Err(LockError::NotLockable),
        Ok(_) => true,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
        Err(err) => return Err(open_error(&err)),
    };
    // Create only with `O_EXCL`, so that the call knows whether the file is
    // its own; a file that appears meanwhile is opened as it is.
    let mut create_new = request.create && !exists;
    let mut attempts = 0;
    let opened = loop {
        attempts += 1;
        match retry_busy(|| cap_primitives::fs::open(dir, path, &options(request, create_new))) {
            Ok(file) if create_new && !request.write && !request.append => {
                // Creating takes write access, which this lock file was not
                // asked to have: open the new file again, read-only.
                let reader =
                    retry_busy(|| cap_primitives::fs::open(dir, path, &options(request, false)))
                        .map_err(|err| open_error(&err))?;
                match (sys::FileId::of(&file), sys::FileId::of(&reader)) {
                    (Some(created), Some(read)) if created != read => {
                        // Replaced in between: start over.
                        if attempts >= MAX_OPEN_ATTEMPTS {
                            return Err(open_error(&std::io::Error::other(
                                "the lock file kept being replaced",
                            )));
                        }
                        create_new = false;
                    }
                    _ => {
                        break OpenedLockFile {
                            file: reader,
                            created: true,
                        };
                    }
                }
            }
            Ok(file) => {
                break OpenedLockFile {
                    file,
                    created: create_new,
                };
            }
            // The file keeps appearing and disappearing: give up.
            Err(err) if attempts >= MAX_OPEN_ATTEMPTS => return Err(open_error(&err)),
            Err(err) if create_new && err.kind() == std::io::ErrorKind::AlreadyExists => {
                create_new = false;
            }
            Err(err)
                if request.create && !create_new && err.kind() == std::io::ErrorKind::NotFound =>
            {
                create_new = true;
            }
            Err(err) => return Err(open_error(&err)),
        }
    };
    let metadata = opened.file.metadata().map_err(|err| open_error(&err))?;
    if !metadata.file_type().is_file() {
        return Err(LockError::NotLockable);
    }
    Ok(opened)
}

/// The open options of `request`; `create_new` creates the file, failing if
/// it exists (which takes write access), and nothing else creates it.
fn options(request: OpenRequest, create_new: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(request.write || create_new)
        .append(request.append)
        .create_new(create_new)
        ._cap_fs_ext_follow(FollowSymlinks::No);
    sys::never_block(&mut options);
    options
}

/// Removes `path` inside `dir` if it still names the open `file` (checked on
/// the descriptor, by device and inode, right before the removal); tells
/// whether it did. A path that names another file now (somebody removed
/// ours and created one, or moved one over it) is left alone. Still racy: a
/// file moved over the path between the check and the removal is removed.
pub(crate) fn remove_own(dir: &File, path: &Path, file: &File) -> std::io::Result<bool> {
    if !sys::names(dir, path, file) {
        return Ok(false);
    }
    match cap_primitives::fs::remove_file(dir, path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_inside_are_accepted() {
        for path in [
            "a.lock",
            "sub/a.lock",
            "./a.lock",
            "sub/../a.lock",
            "a/b/../../c",
        ] {
            assert!(check_relative(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn escaping_or_malformed_paths_are_bad_paths() {
        for path in ["", "/etc/passwd", "../a.lock", "sub/../../a.lock", "a\0b"] {
            assert!(
                matches!(check_relative(path), Err(LockError::BadPath)),
                "{path:?}"
            );
        }
    }

    #[test]
    fn the_directory_itself_is_not_lockable() {
        for path in [".", "sub/..", "./"] {
            assert!(
                matches!(check_relative(path), Err(LockError::NotLockable)),
                "{path:?}"
            );
        }
    }
}
