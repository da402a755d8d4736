//! Where there is no `/proc`: no path of an open file is known (a policy
//! that restricts directories then denies every lock), and an open file
//! cannot be reopened by descriptor (waiters then rely on polling).

use std::fs::File;
use std::path::PathBuf;

/// The path an open file has now: not known here.
pub(crate) fn real_path(_file: &File) -> Option<PathBuf> {
    None
}

/// A new open file of the same inode: not possible here.
pub(crate) fn reopen(_file: &File) -> Option<File> {
    None
}
