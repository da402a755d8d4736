//! What differs between operating systems, behind a few primitives; the rest
//! of the crate never sees a `cfg`.
//!
//! - whole-file locks: [`try_lock_file`] and [`unlock_file`] (`flock(2)`;
//!   on Windows `LockFileEx` with the held mode kept per open file);
//! - [`FileId`]: which file an open file is (the wait queue's key), and
//!   [`names`]: whether a path still names an open file (the temporary
//!   lock's identity check);
//! - [`never_block`]: open flags that keep an open from waiting (FIFOs,
//!   devices, terminals);
//! - [`name_busy`]: whether an open or a rename was refused only because a
//!   file open elsewhere holds the name for now (Windows);
//! - [`open_error`]: the errors only this platform reports for an open, and
//!   [`too_many_files`]: whether an error says no descriptor is left;
//! - [`sync_dir`]: flushing a directory after a rename in it;
//! - [`real_path`]: the path an open file has now, and [`holds_flock`]:
//!   whether an open file holds a lock now, where the kernel says;
//! - waiting in the kernel: [`is_regular`] (only regular files get a waiter
//!   blocked in the kernel), [`flock_blocking`], and interrupting a blocked
//!   [`Thread`] with a signal ([`take_signal`], [`prepare_thread`],
//!   [`interrupt`], [`default_interrupt_signal`]);
//! - [`range`]: byte-range locks (Linux open-file-description locks, classic
//!   `fcntl` locks with a process table on other Unix, `LockFileEx` regions
//!   on Windows).
//!
//! `unix` serves every Unix; `linux` adds what only Linux offers (`/proc`),
//! and `portable` stands in for it elsewhere; `windows` serves Windows.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod portable;
pub(crate) mod range;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;
#[cfg(all(test, windows))]
mod windows_tests;

#[cfg(target_os = "linux")]
pub(crate) use linux::{default_interrupt_signal, holds_flock, real_path};
#[cfg(not(target_os = "linux"))]
pub(crate) use portable::{default_interrupt_signal, holds_flock, real_path};
#[cfg(unix)]
pub(crate) use unix::{
    Blocked, FileId, Thread, flock_blocking, interrupt, is_regular, name_busy, names, never_block,
    open_error, prepare_thread, sync_dir, take_signal, too_many_files, try_lock_file, unlock_file,
};
#[cfg(windows)]
pub(crate) use windows::{
    Blocked, FileId, Thread, flock_blocking, interrupt, is_regular, name_busy, names, never_block,
    open_error, prepare_thread, sync_dir, take_signal, too_many_files, try_lock_file, unlock_file,
};
