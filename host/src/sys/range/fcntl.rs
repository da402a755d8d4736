//! `fcntl(2)` record-lock calls shared by the open-file-description
//! ([`super::ofd`]) and classic ([`super::classic`]) backends: they differ
//! only in the commands they pass.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use super::Conflict;
use crate::backend::Attempt;
use crate::backend::span::{Span, TO_END};
use crate::bindings::portalocker::filelock::types::LockMode;
#[cfg(target_os = "linux")]
use crate::sys::Blocked;

/// The lock commands of one family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Commands {
    /// Set or clear a lock without waiting (`F_SETLK`, `F_OFD_SETLK`).
    pub(crate) set: libc::c_int,
    /// Ask for a conflicting lock (`F_GETLK`, `F_OFD_GETLK`).
    pub(crate) get: libc::c_int,
}

/// The `l_type` of a lock in `mode`, or of an unlock.
fn lock_type(mode: Option<LockMode>) -> libc::c_short {
    let kind = match mode {
        Some(LockMode::Shared) => libc::F_RDLCK,
        Some(LockMode::Exclusive) => libc::F_WRLCK,
        None => libc::F_UNLCK,
    };
    // F_RDLCK, F_WRLCK and F_UNLCK are 0..=2 everywhere.
    kind as libc::c_short
}

/// The `struct flock` for `span` (from the start of the file; a span to the
/// end has length zero, which POSIX reads as "to the end, however far").
fn record(span: Span, mode: Option<LockMode>) -> io::Result<libc::flock> {
    let too_far = || io::Error::from_raw_os_error(libc::EOVERFLOW);
    // SAFETY: `flock` is a plain C struct for which all zeroes is valid (and
    // `l_pid` must be zero for open-file-description locks).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = lock_type(mode);
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = libc::off_t::try_from(span.start).map_err(|_| too_far())?;
    lock.l_len = if span.end == TO_END {
        0
    } else {
        libc::off_t::try_from(span.len()).map_err(|_| too_far())?
    };
    Ok(lock)
}

/// One `fcntl` call with `lock`.
fn call_once(file: &File, command: libc::c_int, lock: &mut libc::flock) -> io::Result<()> {
    // SAFETY: the descriptor is open for as long as `file` lives, and `lock`
    // is a valid `struct flock` for the duration of the call.
    let done = unsafe { libc::fcntl(file.as_raw_fd(), command, lock as *mut libc::flock) };
    if done == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `fcntl` call with `lock`, retried when a signal interrupts it.
fn call(file: &File, command: libc::c_int, lock: &mut libc::flock) -> io::Result<()> {
    loop {
        match call_once(file, command, lock) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            done => return done,
        }
    }
}

/// Sets `span` to `mode` with the waiting command `wait` (`F_OFD_SETLKW`):
/// blocks until the open file holds it, or until a signal whose handler was
/// installed without `SA_RESTART` interrupts the wait (the old lock on the
/// bytes, if any, is kept meanwhile). Only open-file-description locks
/// (Linux) wait in the kernel.
#[cfg(target_os = "linux")]
pub(crate) fn set_waiting(
    file: &File,
    wait: libc::c_int,
    span: Span,
    mode: LockMode,
) -> io::Result<Blocked> {
    let mut lock = record(span, Some(mode))?;
    match call_once(file, wait, &mut lock) {
        Ok(()) => Ok(Blocked::Acquired),
        Err(err) if err.raw_os_error() == Some(libc::EINTR) => Ok(Blocked::Interrupted),
        Err(err) => Err(err),
    }
}

/// Sets `span` to `mode` (`None`: unlocks it) without waiting.
pub(crate) fn set(
    file: &File,
    commands: Commands,
    span: Span,
    mode: Option<LockMode>,
) -> io::Result<Attempt> {
    let mut lock = record(span, mode)?;
    match call(file, commands.set, &mut lock) {
        Ok(()) => Ok(Attempt::Acquired),
        // POSIX allows either for "held elsewhere".
        Err(err) if matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {
            Ok(Attempt::Contended)
        }
        Err(err) => Err(err),
    }
}

/// The first lock that conflicts with locking `span` in `mode`, as the
/// kernel reports it.
pub(crate) fn get(
    file: &File,
    commands: Commands,
    span: Span,
    mode: LockMode,
) -> io::Result<Option<Conflict>> {
    let mut lock = record(span, Some(mode))?;
    call(file, commands.get, &mut lock)?;
    // `l_type` is a `c_short`, the constants a `c_int` or a `c_short`
    // depending on the system: compare in `l_type`'s terms.
    let mode = match lock.l_type {
        held if held == lock_type(Some(LockMode::Shared)) => LockMode::Shared,
        held if held == lock_type(Some(LockMode::Exclusive)) => LockMode::Exclusive,
        _ => return Ok(None),
    };
    let start = u64::try_from(lock.l_start).unwrap_or(0).min(TO_END - 1);
    let end = match u64::try_from(lock.l_len) {
        Ok(0) | Err(_) => TO_END,
        Ok(length) => start.saturating_add(length).min(TO_END),
    };
    Ok(Some(Conflict {
        mode,
        span: Span::new(start, end),
        // Open-file-description locks belong to no process: -1.
        pid: u32::try_from(lock.l_pid).ok().filter(|pid| *pid > 0),
    }))
}
