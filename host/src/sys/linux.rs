//! Linux: what `/proc` tells about open files, and a real-time signal for
//! interrupting waiters.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// The path an open file has now, as the kernel reports it.
pub(crate) fn real_path(file: &File) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// Whether the open file itself holds a `flock(2)` lock now, as the
/// kernel reports it (`/proc/self/fdinfo` lists the locks an open file
/// holds, not those it waits for); `None` if the kernel does not say.
pub(crate) fn holds_flock(file: &File) -> Option<bool> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", file.as_raw_fd())).ok()?;
    Some(
        info.lines()
            .any(|line| line.starts_with("lock:") && line.contains(" FLOCK ")),
    )
}

/// The signal that interrupts waiters blocked in the kernel unless the
/// embedder chooses another: a real-time signal nothing else in a Rust or
/// wasmtime process uses.
pub(crate) fn default_interrupt_signal() -> Option<i32> {
    Some(libc::SIGRTMIN() + 6)
}
