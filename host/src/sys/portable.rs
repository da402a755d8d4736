//! Where there is no `/proc`: no path of an open file is known (a policy
//! that restricts directories then denies every lock), nor whether an open
//! file holds a lock; and no interrupting signal is chosen by default.

use std::fs::File;
use std::path::PathBuf;

/// The path an open file has now: not known here.
pub(crate) fn real_path(_file: &File) -> Option<PathBuf> {
    None
}

/// Whether the open file holds a lock now: not known here.
pub(crate) fn holds_flock(_file: &File) -> Option<bool> {
    None
}

/// No signal is taken by default here: an embedder that wants waiters
/// blocked in the kernel names one (`FileLockCtxBuilder::interrupt_signal`);
/// otherwise waiters poll.
pub(crate) fn default_interrupt_signal() -> Option<i32> {
    None
}
