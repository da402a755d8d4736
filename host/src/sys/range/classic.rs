//! Unix without open-file-description locks: classic `fcntl` record locks
//! (`F_SETLK`, `F_GETLK`) plus a process table.
//!
//! Classic locks belong to the process, not to the open file: the kernel
//! never lets two open files of one process conflict, merges all their
//! ranges into one lock set, and releases all of them when the process
//! closes *any* descriptor of the file. The table below restores what the
//! WIT promises as far as a process can (the way SQLite's `unixInodeInfo`
//! does): each open file's ranges are kept per file (by device and inode),
//! a lock that conflicts with another open file of this process is
//! contention, and an unlock keeps in the kernel whatever the other open
//! files still hold. What it cannot restore is the last point: when a guest
//! drops a descriptor, the kernel releases every range this process holds
//! on the file. The table notices the dropped file at its next call for that
//! file and locks the survivors' ranges again, but another process may have
//! taken them in between.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::Conflict;
use super::fcntl::{self, Commands};
use crate::backend::Attempt;
use crate::backend::span::{RangeSet, Span, conflicts};
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::sys::Blocked;

/// `F_SETLK` and `F_GETLK`.
const CLASSIC: Commands = Commands {
    set: libc::F_SETLK,
    get: libc::F_GETLK,
};

/// A file's identity: device and inode.
type FileId = (u64, u64);

fn file_id(file: &File) -> io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let metadata = file.metadata()?;
    Ok((metadata.dev(), metadata.ino()))
}

/// One open file of this process and the ranges it holds.
struct Owner {
    file: Weak<File>,
    held: RangeSet,
}

impl Owner {
    fn is(&self, file: &Arc<File>) -> bool {
        std::ptr::eq(self.file.as_ptr(), Arc::as_ptr(file))
    }
}

/// Every file this process holds ranges of, with their owners.
static TABLE: LazyLock<Mutex<HashMap<FileId, Vec<Owner>>>> = LazyLock::new(Default::default);

/// The owners of `file`'s inode, with closed files dropped. When one was
/// dropped, the kernel released every lock of the process on the file:
/// the survivors' ranges are locked again (best effort).
fn owners<'t>(
    table: &'t mut HashMap<FileId, Vec<Owner>>,
    id: FileId,
    file: &Arc<File>,
) -> &'t mut Vec<Owner> {
    let owners = table.entry(id).or_default();
    let closed = owners.iter().any(|owner| owner.file.strong_count() == 0);
    owners.retain(|owner| owner.file.strong_count() > 0 && !owner.held.is_empty());
    if closed {
        for owner in owners.iter() {
            for &(span, mode) in owner.held.ranges() {
                if !matches!(
                    fcntl::set(file, CLASSIC, span, Some(mode)),
                    Ok(Attempt::Acquired)
                ) {
                    tracing::warn!(
                        ?span,
                        "a range lost when another descriptor of the file was closed could not be locked again"
                    );
                }
            }
        }
    }
    owners
}

fn table() -> std::sync::MutexGuard<'static, HashMap<FileId, Vec<Owner>>> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn try_lock(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Attempt> {
    let id = file_id(file)?;
    let mut table = table();
    let owners = owners(&mut table, id, file);
    let blocked = owners.iter().filter(|owner| !owner.is(file)).any(|owner| {
        owner
            .held
            .overlapping(span)
            .any(|(_, held)| conflicts(held, mode))
    });
    if blocked {
        return Ok(Attempt::Contended);
    }
    // No other open file of this process holds a conflicting lock on
    // `span`, so the process as a whole holds `span` in `mode` from now on.
    let attempt = fcntl::set(file, CLASSIC, span, Some(mode))?;
    if attempt == Attempt::Acquired {
        match owners.iter_mut().find(|owner| owner.is(file)) {
            Some(owner) => owner.held.lock(span, mode),
            None => {
                let mut held = RangeSet::default();
                held.lock(span, mode);
                owners.push(Owner {
                    file: Arc::downgrade(file),
                    held,
                });
            }
        }
    }
    Ok(attempt)
}

pub(crate) fn unlock(file: &Arc<File>, span: Span) -> io::Result<()> {
    let id = file_id(file)?;
    let mut table = table();
    let owners = owners(&mut table, id, file);
    if let Some(owner) = owners.iter_mut().find(|owner| owner.is(file)) {
        owner.held.unlock(span);
    }
    // What the process must keep on `span`: the other owners' ranges. They
    // do not conflict with each other, so an overlap is shared by all.
    let mut kept = RangeSet::default();
    for owner in owners.iter() {
        for (held, mode) in owner.held.overlapping(span) {
            if let Some(part) = held.intersection(span) {
                kept.lock(part, mode);
            }
        }
    }
    // Clear the gaps and downgrade the shared parts; the exclusive parts are
    // the process's already. Nothing kept is ever released in between.
    let mut next = span.start;
    for &(part, mode) in kept.ranges() {
        if part.start > next {
            fcntl::set(file, CLASSIC, Span::new(next, part.start), None)?;
        }
        if mode == LockMode::Shared {
            fcntl::set(file, CLASSIC, part, Some(LockMode::Shared))?;
        }
        next = part.end;
    }
    if next < span.end {
        fcntl::set(file, CLASSIC, Span::new(next, span.end), None)?;
    }
    Ok(())
}

pub(crate) fn test(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Option<Conflict>> {
    let id = file_id(file)?;
    let mut table = table();
    let owners = owners(&mut table, id, file);
    let local = owners
        .iter()
        .filter(|owner| !owner.is(file))
        .flat_map(|owner| owner.held.overlapping(span))
        .find(|(_, held)| conflicts(*held, mode));
    if let Some((held, held_mode)) = local {
        return Ok(Some(Conflict {
            mode: held_mode,
            span: held,
            pid: Some(std::process::id()),
        }));
    }
    fcntl::get(file, CLASSIC, span, mode)
}

/// Classic locks belong to the process, so the kernel cannot tell this
/// process's guests apart while one waits: waiters poll (through the table).
#[cfg_attr(
    all(target_os = "linux", test),
    expect(dead_code, reason = "the tests on Linux check the table only")
)]
pub(crate) const WAITS_IN_KERNEL: bool = false;

/// Never called: [`WAITS_IN_KERNEL`] is false.
#[cfg_attr(
    all(target_os = "linux", test),
    expect(dead_code, reason = "the tests on Linux check the table only")
)]
pub(crate) fn lock_blocking(
    _file: &Arc<File>,
    _span: Span,
    _mode: LockMode,
) -> io::Result<Blocked> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    //! The classic backend runs on Linux too: these tests check that its
    //! table makes open files of one process exclude each other, which the
    //! kernel's classic locks alone do not.

    use super::*;

    fn open(path: &std::path::Path) -> Arc<File> {
        Arc::new(
            File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .unwrap(),
        )
    }

    #[test]
    fn open_files_of_one_process_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (a, b) = (open(&path), open(&path));
        let x = LockMode::Exclusive;
        let s = LockMode::Shared;
        assert_eq!(
            try_lock(&a, Span::new(0, 10), x).unwrap(),
            Attempt::Acquired
        );
        assert_eq!(
            try_lock(&b, Span::new(5, 6), s).unwrap(),
            Attempt::Contended
        );
        assert_eq!(
            try_lock(&b, Span::new(10, 20), x).unwrap(),
            Attempt::Acquired
        );
        let conflict = test(&b, Span::new(0, 100), s).unwrap().unwrap();
        assert_eq!(conflict.span, Span::new(0, 10));
        assert_eq!(conflict.pid, Some(std::process::id()));
        // Shared holders coexist; one unlocking keeps the other's lock in
        // the kernel.
        unlock(&a, Span::new(0, 10)).unwrap();
        assert_eq!(
            try_lock(&a, Span::new(30, 40), s).unwrap(),
            Attempt::Acquired
        );
        assert_eq!(
            try_lock(&b, Span::new(30, 40), s).unwrap(),
            Attempt::Acquired
        );
        unlock(&a, Span::new(30, 40)).unwrap();
        assert_eq!(
            try_lock(&a, Span::new(30, 40), x).unwrap(),
            Attempt::Contended
        );
        assert_eq!(
            kernel_lock(&path, Span::new(30, 40)),
            Some(LockMode::Shared),
            "b's shared range must stay locked in the kernel"
        );
        unlock(&b, Span::new(0, crate::backend::span::TO_END)).unwrap();
        assert_eq!(kernel_lock(&path, Span::new(0, 100)), None);
    }

    /// What another open file sees on `span`: an open-file-description
    /// probe, which (unlike this process's own classic probes) conflicts
    /// with the classic locks of this process.
    fn kernel_lock(path: &std::path::Path, span: Span) -> Option<LockMode> {
        let probe = open(path);
        super::super::ofd::test(&probe, span, LockMode::Exclusive)
            .unwrap()
            .map(|conflict| conflict.mode)
    }
}
