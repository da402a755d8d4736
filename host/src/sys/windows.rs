//! Windows: no file identity yet (waiters then poll, and the temporary
//! lock's identity check only sees that the path exists), plain opens, and
//! no open errors with a meaning of their own.

use std::fs::File;
use std::io;
use std::path::Path;

use cap_primitives::fs::{FollowSymlinks, OpenOptions};

use crate::bindings::portalocker::filelock::types::LockError;

/// A file's identity; none is read on Windows yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId(());

impl FileId {
    /// The identity of the open `file`: not known here.
    pub(crate) fn of(_file: &File) -> Option<FileId> {
        None
    }
}

/// Whether `path` inside `dir` names the open file: without identities to
/// compare, only whether the path still exists.
pub(crate) fn names(dir: &File, path: &Path, _file: &File) -> bool {
    cap_primitives::fs::stat(dir, path, FollowSymlinks::No).is_ok()
}

/// Opens on Windows never wait for a peer: nothing to add.
pub(crate) fn never_block(_options: &mut OpenOptions) {}

/// No Windows open error has a meaning beyond its kind.
pub(crate) fn open_error(_err: &io::Error) -> Option<LockError> {
    None
}
