//! Byte-range locks (WIT `range-lock`) on the open file itself: one
//! non-blocking call per attempt, and where the kernel keeps each open
//! file's ranges, one call that waits in the kernel.
//!
//! - **Linux** (`ofd`): open-file-description locks (`F_OFD_SETLK`,
//!   `F_OFD_SETLKW`, `F_OFD_GETLK`). They belong to the open file, as the
//!   WIT promises, and conflict with the classic `fcntl` locks of other
//!   processes (native SQLite), so the kernel keeps all the state, and a
//!   waiter blocks in the kernel on the guest's own open file.
//! - **Other Unix** (`classic`): classic `fcntl` locks (`F_SETLK`,
//!   `F_GETLK`), which belong to the whole process. A process table keeps
//!   each open file's ranges so that open files of this process (guests)
//!   exclude each other, which the kernel does not do; closing any
//!   descriptor of a file still releases every lock the process holds on it.
//!   Waiters poll.
//! - **Windows** (`windows`): `LockFileEx`/`UnlockFileEx` on the file
//!   handle. Windows cannot split, merge or convert a locked region and
//!   unlocks only exactly what was locked, so `pieces` remembers the regions
//!   each handle locked and plans every change in those terms. Waiters poll.

#[cfg(unix)]
#[cfg_attr(
    all(target_os = "linux", not(test)),
    expect(dead_code, reason = "tested on Linux, used on other Unix")
)]
mod classic;
#[cfg(unix)]
mod fcntl;
#[cfg(target_os = "linux")]
mod ofd;
#[cfg_attr(
    all(not(windows), not(test)),
    expect(dead_code, reason = "tested everywhere, used on Windows")
)]
mod pieces;
#[cfg(windows)]
mod windows;

use std::fs::File;
use std::io;
use std::sync::Arc;

#[cfg(all(unix, not(target_os = "linux")))]
use classic as platform;
#[cfg(target_os = "linux")]
use ofd as platform;
#[cfg(windows)]
use windows as platform;

#[cfg(windows)]
pub(crate) use windows::{lock_region, unlock_region};

use super::Blocked;
use crate::backend::Attempt;
use crate::backend::span::Span;
use crate::bindings::portalocker::filelock::types::LockMode;

/// A lock of another open file that stands in the way (WIT `conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conflict {
    /// Its mode.
    pub(crate) mode: LockMode,
    /// Its range, as the system reports it.
    pub(crate) span: Span,
    /// The holding process, when the system says.
    pub(crate) pid: Option<u32>,
}

/// Tries once to set the bytes of `span` to `mode` for `file`'s open file,
/// without waiting. A conversion that cannot be granted leaves the ranges as
/// they were (on Windows, see `pieces`).
pub(crate) fn try_lock(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Attempt> {
    platform::try_lock(file, span, mode)
}

/// Releases whatever `file`'s open file holds on the bytes of `span`.
pub(crate) fn unlock(file: &Arc<File>, span: Span) -> io::Result<()> {
    platform::unlock(file, span)
}

/// A lock of another open file that conflicts with locking `span` in
/// `mode`, if there is one now.
pub(crate) fn test(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Option<Conflict>> {
    platform::test(file, span, mode)
}

/// Whether a range of `file` can be waited for in the kernel with
/// [`lock_blocking`]: on Linux, for regular files.
pub(crate) fn waits_in_kernel(file: &File) -> bool {
    platform::WAITS_IN_KERNEL && super::is_regular(file)
}

/// Sets the bytes of `span` to `mode`, blocking in the kernel until the open
/// file holds them or a signal interrupts the wait; a conversion keeps the
/// old lock while it waits. Only where [`waits_in_kernel`] says so.
pub(crate) fn lock_blocking(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Blocked> {
    platform::lock_blocking(file, span, mode)
}
