//! Byte ranges of a file (WIT `range-lock`): POSIX record locks on part of
//! the open file behind a guest's descriptor, through `sys::range` (Linux's
//! open-file-description locks, which the classic `fcntl` locks of native
//! programs such as SQLite see).
//!
//! Every range of one file queues under one key ([`LockKey::Ranges`]), and a
//! waiter lines up only behind earlier waiters for bytes it wants in a
//! conflicting mode ([`Lockable::bytes`]), so a reader waiting for SQLite's
//! shared range never waits behind a writer waiting for its reserved byte.
//! On Linux the front of each line blocks in `F_OFD_SETLKW` on the guest's
//! own open file: the kernel grants it the range the moment it is free, and
//! nothing else ever holds the range on the guest's behalf.

use std::fs::File;
use std::io;
use std::sync::Arc;

use super::span::Span;
use super::{Attempt, Blocked, LockKey, Lockable};
use crate::bindings::portalocker::filelock::types::LockMode;
pub(crate) use crate::sys::range::Conflict;
use crate::sys::{self, FileId};

/// One range lock asked for on one open file: what the wait engine waits
/// for.
pub(crate) struct ByteRangeLock {
    file: Arc<File>,
    span: Span,
    /// What the open file held on the bytes of `span` when the lock was
    /// asked for (sorted, inside `span`), to put back if a cancelled wait is
    /// granted the lock in that instant.
    before: Vec<(Span, LockMode)>,
}

impl ByteRangeLock {
    /// The bytes `span` of `file`, which holds `before` of them now.
    pub(crate) fn new(file: Arc<File>, span: Span, before: Vec<(Span, LockMode)>) -> Self {
        ByteRangeLock { file, span, before }
    }

    /// The bytes `span` of `file`, to release or to test.
    pub(crate) fn bytes_of(file: Arc<File>, span: Span) -> Self {
        ByteRangeLock::new(file, span, Vec::new())
    }

    /// A lock of another open file that stands in the way of locking these
    /// bytes in `mode`, if there is one now.
    pub(crate) fn test(&self, mode: LockMode) -> io::Result<Option<Conflict>> {
        sys::range::test(&self.file, self.span, mode)
    }

    /// The open file.
    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// The bytes.
    pub(crate) fn span(&self) -> Span {
        self.span
    }
}

impl Lockable for ByteRangeLock {
    fn key(&self) -> Option<LockKey> {
        FileId::of(&self.file).map(LockKey::Ranges)
    }

    fn bytes(&self) -> Option<Span> {
        Some(self.span)
    }

    fn try_lock(&self, mode: LockMode) -> io::Result<Attempt> {
        sys::range::try_lock(&self.file, self.span, mode)
    }

    /// On Linux, regular files: the kernel keeps every open file's ranges.
    fn blocks_in_kernel(&self) -> bool {
        sys::range::waits_in_kernel(&self.file)
    }

    fn lock_blocking(&self, mode: LockMode) -> io::Result<Blocked> {
        sys::range::lock_blocking(&self.file, self.span, mode)
    }

    fn unlock(&self) -> io::Result<()> {
        sys::range::unlock(&self.file, self.span)
    }

    /// Puts back what the open file held on the bytes before the request:
    /// bytes it held shared become shared again (a downgrade of its own
    /// lock, which nobody can be in the way of), bytes it held exclusively
    /// are locked exclusively again (which fails, with a warning, only if
    /// the request was a downgrade and another open file took the bytes
    /// shared meanwhile), and the bytes it did not hold are unlocked.
    fn give_back(&self) -> io::Result<()> {
        let mut next = self.span.start;
        for &(piece, mode) in &self.before {
            if piece.start > next {
                sys::range::unlock(&self.file, Span::new(next, piece.start))?;
            }
            if sys::range::try_lock(&self.file, piece, mode)? == Attempt::Contended {
                tracing::warn!(
                    ?piece,
                    "another open file took part of a range while a cancelled wait was undone"
                );
            }
            next = piece.end;
        }
        if next < self.span.end {
            sys::range::unlock(&self.file, Span::new(next, self.span.end))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::span::TO_END;

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

    /// What another open file meets on `span` when it asks for it
    /// exclusively: the mode and range of the first lock in the way. Windows
    /// reports no holder's range, only the bytes it probed (see
    /// `sys::range::windows::test`), so there the range is `span` itself.
    fn seen(probe: &Arc<File>, start: u64, end: u64) -> Option<(LockMode, Span)> {
        ByteRangeLock::bytes_of(Arc::clone(probe), Span::new(start, end))
            .test(LockMode::Exclusive)
            .unwrap()
            .map(|conflict| (conflict.mode, conflict.span))
    }

    /// The range [`seen`] reports for a lock over `held` when asked about
    /// `start..end`.
    fn reported(held: Span, start: u64, end: u64) -> Span {
        if cfg!(windows) {
            Span::new(start, end)
        } else {
            held
        }
    }

    #[test]
    fn giving_back_a_granted_conversion_restores_what_was_held_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (file, probe) = (open(&path), open(&path));
        let shared = ByteRangeLock::bytes_of(Arc::clone(&file), Span::new(0, 10));
        assert_eq!(
            shared.try_lock(LockMode::Shared).unwrap(),
            Attempt::Acquired
        );
        let before = vec![(Span::new(0, 10), LockMode::Shared)];
        let upgrade = ByteRangeLock::new(Arc::clone(&file), Span::new(0, 20), before);
        assert_eq!(
            upgrade.try_lock(LockMode::Exclusive).unwrap(),
            Attempt::Acquired
        );
        assert_eq!(
            seen(&probe, 0, 1),
            Some((LockMode::Exclusive, reported(Span::new(0, 20), 0, 1)))
        );
        upgrade.give_back().unwrap();
        assert_eq!(
            seen(&probe, 0, TO_END),
            Some((LockMode::Shared, reported(Span::new(0, 10), 0, TO_END)))
        );
        assert_eq!(
            seen(&probe, 10, TO_END),
            None,
            "the new bytes are free again"
        );
    }
}
