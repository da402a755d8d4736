//! What differs between operating systems, behind a few primitives; the rest
//! of the crate never sees a `cfg`.
//!
//! - [`FileId`]: which file an open file is (the wait queue's key), and
//!   [`names`]: whether a path still names an open file (the temporary
//!   lock's identity check);
//! - [`never_block`]: open flags that keep an open from waiting (FIFOs,
//!   devices, terminals);
//! - [`open_error`]: the errors only this platform reports for an open;
//! - [`real_path`]: the path an open file has now, where the kernel says;
//! - [`reopen`]: a second open file of the same inode, for a kernel-side
//!   waiter.
//!
//! `unix` serves every Unix; `linux` adds what only Linux offers (`/proc`),
//! and `portable` stands in for it elsewhere; `windows` serves Windows.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod portable;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(target_os = "linux")]
pub(crate) use linux::{real_path, reopen};
#[cfg(not(target_os = "linux"))]
pub(crate) use portable::{real_path, reopen};
#[cfg(unix)]
pub(crate) use unix::{FileId, names, never_block, open_error};
#[cfg(windows)]
pub(crate) use windows::{FileId, names, never_block, open_error};
