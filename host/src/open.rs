//! Opening a lock file by path inside a guest's directory, under the sandbox
//! rules of `wasi:filesystem`.
//!
//! The path is checked lexically first (empty, absolute, NUL bytes, `..`
//! climbing above the directory), then opened with cap-primitives, the
//! resolver wasmtime-wasi itself is built on, which refuses symbolic links
//! that lead outside the directory. A symbolic link at the lock path itself
//! is never followed (the class of filelock's CVE-2025-68146: a planted link
//! turning a lock-file open into the truncation of another file). The file is opened without blocking, so
//! a FIFO at the path never hangs the host, and it must turn out to be a
//! regular file.

use std::fs::File;
use std::path::{Component, Path};

use cap_primitives::fs::{FollowSymlinks, OpenOptions};

use crate::bindings::portalocker::filelock::types::LockError;
use crate::error::open_error;
use crate::sys;

/// What to open, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenRequest {
    /// Create the file when it is missing.
    pub create: bool,
    /// Open for writing too.
    pub write: bool,
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

/// Opens `path` relative to the directory `dir` and checks that it is a
/// regular file.
pub(crate) fn open_lock_file(
    dir: &File,
    path: &Path,
    request: OpenRequest,
) -> Result<File, LockError> {
    // Refuse what is not a regular file before opening it: opening a device
    // can have effects of its own. (The check after the open below is the
    // one that counts if the path changes in between.)
    match cap_primitives::fs::stat(dir, path, FollowSymlinks::No) {
        // A symbolic link planted at the lock path is never followed: it
        // could point at a file the guest must not truncate or lock.
        Ok(metadata) if metadata.file_type().is_symlink() => return Err(LockError::BadPath),
        Ok(metadata) if !metadata.file_type().is_file() => return Err(LockError::NotLockable),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(open_error(&err)),
    }
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(request.write || request.create)
        .create(request.create)
        ._cap_fs_ext_follow(FollowSymlinks::No);
    sys::never_block(&mut options);
    let file = cap_primitives::fs::open(dir, path, &options).map_err(|err| open_error(&err))?;
    let metadata = file.metadata().map_err(|err| open_error(&err))?;
    if !metadata.file_type().is_file() {
        return Err(LockError::NotLockable);
    }
    Ok(file)
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
