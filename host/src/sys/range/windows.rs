//! Windows: `LockFileEx`/`UnlockFileEx` regions on the file handle, planned
//! by [`super::pieces`], which remembers what each handle locked because
//! Windows cannot split, merge or convert a region. Windows' locks are
//! mandatory: while a range is locked, other handles cannot read or write
//! those bytes (SQLite's lock bytes at 1 GiB hold no data, by design).

use std::fs::File;
use std::io;
use std::os::windows::io::AsRawHandle;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use windows_sys::Win32::Foundation::{ERROR_LOCK_VIOLATION, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{
    LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, UnlockFileEx,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::Conflict;
use super::pieces::{Pieces, RegionLocks};
use crate::backend::Attempt;
use crate::backend::span::{Span, conflicts};
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::sys::Blocked;

/// The regions one open handle holds.
type Entry = (Weak<File>, Pieces);

/// The regions every open handle of this process holds.
static TABLE: LazyLock<Mutex<Vec<Entry>>> = LazyLock::new(Default::default);

/// One handle's region calls.
struct Handle<'a>(&'a File);

/// The `OVERLAPPED` that carries a region's offset.
fn at(offset: u64) -> OVERLAPPED {
    // SAFETY: OVERLAPPED is a plain C struct for which all zeroes is valid.
    let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
    overlapped.Anonymous.Anonymous.Offset = offset as u32;
    overlapped.Anonymous.Anonymous.OffsetHigh = (offset >> 32) as u32;
    overlapped
}

/// `LockFileEx` on the `len` bytes of `file` at `start` in `mode`, failing
/// at once when another handle holds a conflicting lock: `Ok(false)` then.
/// The whole-file locks of `sys::windows` are regions too.
pub(crate) fn lock_region(file: &File, start: u64, len: u64, mode: LockMode) -> io::Result<bool> {
    let mut flags = LOCKFILE_FAIL_IMMEDIATELY;
    if mode == LockMode::Exclusive {
        flags |= LOCKFILE_EXCLUSIVE_LOCK;
    }
    let mut overlapped = at(start);
    // SAFETY: the handle is open while `file` lives; `overlapped` lives
    // through the call, which never completes asynchronously here (the
    // handle is synchronous and the call fails immediately).
    let done = unsafe {
        LockFileEx(
            file.as_raw_handle() as HANDLE,
            flags,
            0,
            len as u32,
            (len >> 32) as u32,
            &mut overlapped,
        )
    };
    if done != 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) {
        return Ok(false);
    }
    Err(err)
}

/// `UnlockFileEx` of the region of `len` bytes at `start` that
/// [`lock_region`] locked on `file`.
pub(crate) fn unlock_region(file: &File, start: u64, len: u64) -> io::Result<()> {
    let mut overlapped = at(start);
    // SAFETY: as for `lock_region`.
    let done = unsafe {
        UnlockFileEx(
            file.as_raw_handle() as HANDLE,
            0,
            len as u32,
            (len >> 32) as u32,
            &mut overlapped,
        )
    };
    if done != 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl RegionLocks for Handle<'_> {
    fn lock_region(&self, span: Span, mode: LockMode) -> io::Result<bool> {
        lock_region(self.0, span.start, span.len(), mode)
    }

    fn unlock_region(&self, span: Span) -> io::Result<()> {
        unlock_region(self.0, span.start, span.len())
    }
}

/// Runs `f` on the regions of `file`'s handle (dropping closed handles'
/// entries: Windows released their locks when they were closed).
fn with_pieces<T>(file: &Arc<File>, f: impl FnOnce(&mut Pieces) -> T) -> T {
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    table.retain(|(weak, pieces)| weak.strong_count() > 0 && !pieces.is_empty());
    let place = match table
        .iter()
        .position(|(weak, _)| std::ptr::eq(weak.as_ptr(), Arc::as_ptr(file)))
    {
        Some(place) => place,
        None => {
            table.push((Arc::downgrade(file), Pieces::default()));
            table.len() - 1
        }
    };
    f(&mut table[place].1)
}

pub(crate) fn try_lock(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Attempt> {
    with_pieces(file, |pieces| pieces.lock(&Handle(file), span, mode))
}

pub(crate) fn unlock(file: &Arc<File>, span: Span) -> io::Result<()> {
    with_pieces(file, |pieces| pieces.unlock(&Handle(file), span))
}

/// Windows reports no holders: the free bytes of `span` (those this handle
/// does not hold) are probed with a lock that is released at once. A probe
/// that is refused reports that part of `span`, with the mode a shared probe
/// tells apart; bytes this handle holds shared cannot be probed for an
/// exclusive request and are not reported.
pub(crate) fn test(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Option<Conflict>> {
    let handle = Handle(file);
    let held: Vec<(Span, LockMode)> = with_pieces(file, |pieces| pieces.regions().to_vec());
    let mut next = span.start;
    let mut free = Vec::new();
    for (region, _) in held.iter().filter(|(region, _)| region.overlaps(span)) {
        if region.start > next {
            free.push(Span::new(next, region.start));
        }
        next = next.max(region.end);
    }
    if next < span.end {
        free.push(Span::new(next, span.end));
    }
    for part in free {
        if handle.lock_region(part, mode)? {
            handle.unlock_region(part)?;
            continue;
        }
        let holder = if mode == LockMode::Exclusive && handle.lock_region(part, LockMode::Shared)? {
            handle.unlock_region(part)?;
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        debug_assert!(conflicts(holder, mode));
        return Ok(Some(Conflict {
            mode: holder,
            span: part,
            pid: None,
        }));
    }
    Ok(None)
}

/// A `LockFileEx` wait cannot be interrupted by a signal: waiters poll.
pub(crate) const WAITS_IN_KERNEL: bool = false;

/// Never called: [`WAITS_IN_KERNEL`] is false.
pub(crate) fn lock_blocking(
    _file: &Arc<File>,
    _span: Span,
    _mode: LockMode,
) -> io::Result<Blocked> {
    Err(io::ErrorKind::Unsupported.into())
}
