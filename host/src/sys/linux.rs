//! Linux: what `/proc` tells about open files.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// The path an open file has now, as the kernel reports it.
pub(crate) fn real_path(file: &File) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// A new open file (a separate open file description) of the inode `file`
/// is open on, for reading.
pub(crate) fn reopen(file: &File) -> Option<File> {
    File::open(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}
