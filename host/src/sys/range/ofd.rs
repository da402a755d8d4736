//! Linux: open-file-description locks. The kernel keeps every range of every
//! open file (merging, splitting and converting them atomically), and these
//! locks conflict with the classic `fcntl` locks of native programs, so this
//! backend is four system calls and no state. A waiter blocks in
//! `F_OFD_SETLKW` on the guest's own open file: the kernel grants it the
//! range the moment it is free, and a signal interrupts the wait.

use std::fs::File;
use std::io;
use std::sync::Arc;

use super::Conflict;
use super::fcntl::{self, Commands};
use crate::backend::Attempt;
use crate::backend::span::Span;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::sys::Blocked;

/// `F_OFD_SETLK` and `F_OFD_GETLK` (Linux 3.15).
const OFD: Commands = Commands {
    set: libc::F_OFD_SETLK,
    get: libc::F_OFD_GETLK,
};

pub(crate) fn try_lock(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Attempt> {
    fcntl::set(file, OFD, span, Some(mode))
}

pub(crate) fn unlock(file: &Arc<File>, span: Span) -> io::Result<()> {
    fcntl::set(file, OFD, span, None).map(drop)
}

pub(crate) fn test(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Option<Conflict>> {
    fcntl::get(file, OFD, span, mode)
}

/// The kernel keeps each open file's ranges: a waiter can block in it.
pub(crate) const WAITS_IN_KERNEL: bool = true;

/// `F_OFD_SETLKW`: blocks until the open file holds `span` in `mode`, or a
/// signal interrupts the wait.
pub(crate) fn lock_blocking(file: &Arc<File>, span: Span, mode: LockMode) -> io::Result<Blocked> {
    fcntl::set_waiting(file, libc::F_OFD_SETLKW, span, mode)
}

#[cfg(test)]
mod tests {
    //! The range model ([`RangeSet`]) checked against the kernel: after any
    //! sequence of locks and unlocks on one open file, the open-file-description
    //! locks `/proc/locks` lists for the file are exactly the model's ranges
    //! (so the `held-locks` count is the kernel's), and another open file
    //! sees each byte as the model says.

    use std::os::unix::fs::MetadataExt;

    use proptest::prelude::*;

    use super::*;
    use crate::backend::span::{RangeSet, TO_END};

    /// The kernel's open-file-description locks on `file`, as `/proc/locks`
    /// lists them: `N: OFDLCK ADVISORY WRITE -1 MAJ:MIN:INO START END`. The
    /// list is the whole machine's, so the device counts as well as the
    /// inode: another file system's file may have the same inode number.
    fn kernel_ranges(file: &File) -> Vec<(Span, LockMode)> {
        let metadata = file.metadata().unwrap();
        let dev = metadata.dev();
        let (major, minor) = (libc::major(dev), libc::minor(dev));
        let wanted = format!("{major:02x}:{minor:02x}:{}", metadata.ino());
        // One `read` of the whole list: the kernel walks it under its lock
        // once per call, while several smaller reads (as `read_to_string`
        // makes) may see other threads' locks come and go between them and
        // list a line twice or not at all.
        let mut buffer = vec![0; 1 << 22];
        let len =
            std::io::Read::read(&mut File::open("/proc/locks").unwrap(), &mut buffer).unwrap();
        assert!(len < buffer.len(), "/proc/locks fits one read");
        let text = String::from_utf8_lossy(&buffer[..len]);
        let mut ranges: Vec<(Span, LockMode)> = text
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (kind, mode, id, start, end) = match fields.as_slice() {
                    [_, kind, _, mode, _, id, start, end] => (*kind, *mode, *id, *start, *end),
                    _ => return None,
                };
                if kind != "OFDLCK" || id != wanted {
                    return None;
                }
                let mode = if mode == "WRITE" {
                    LockMode::Exclusive
                } else {
                    LockMode::Shared
                };
                let start: u64 = start.parse().ok()?;
                let end = match end {
                    "EOF" => TO_END,
                    last => last.parse::<u64>().ok()? + 1,
                };
                Some((Span::new(start, end), mode))
            })
            .collect();
        ranges.sort_by_key(|(span, _)| span.start);
        ranges
    }

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

    fn op() -> impl Strategy<Value = (Span, Option<LockMode>)> {
        let span = (0u64..48, 1u64..16, prop::bool::weighted(0.1))
            .prop_map(|(start, len, end)| Span::new(start, if end { TO_END } else { start + len }));
        let mode = prop::option::weighted(
            0.7,
            prop_oneof![Just(LockMode::Shared), Just(LockMode::Exclusive)],
        );
        (span, mode)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_model_is_the_kernels_lock_list(ops in prop::collection::vec(op(), 1..24)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ranges");
            let file = open(&path);
            let probe = open(&path);
            let mut model = RangeSet::default();
            for (span, mode) in ops {
                match mode {
                    Some(mode) => {
                        prop_assert_eq!(try_lock(&file, span, mode).unwrap(), Attempt::Acquired);
                        model.lock(span, mode);
                    }
                    None => {
                        unlock(&file, span).unwrap();
                        model.unlock(span);
                    }
                }
                prop_assert_eq!(kernel_ranges(&file), model.ranges().to_vec());
            }
            // Another open file sees each byte as the model says.
            for byte in 0..72 {
                let one = Span::new(byte, byte + 1);
                let seen = test(&probe, one, LockMode::Exclusive).unwrap().map(|c| c.mode);
                let held = model.overlapping(one).next().map(|(_, mode)| mode);
                prop_assert_eq!(seen, held, "byte {}", byte);
            }
        }
    }

    #[test]
    fn a_refused_conversion_keeps_the_old_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (a, b) = (open(&path), open(&path));
        let span = Span::new(10, 20);
        assert_eq!(
            try_lock(&a, span, LockMode::Shared).unwrap(),
            Attempt::Acquired
        );
        assert_eq!(
            try_lock(&b, Span::new(15, 16), LockMode::Shared).unwrap(),
            Attempt::Acquired
        );
        assert_eq!(
            try_lock(&a, span, LockMode::Exclusive).unwrap(),
            Attempt::Contended
        );
        // `a` still holds its shared lock: an exclusive probe meets it.
        let conflict = test(&b, Span::new(10, 11), LockMode::Exclusive)
            .unwrap()
            .unwrap();
        assert_eq!(conflict.mode, LockMode::Shared);
        assert_eq!(conflict.span, span);
        assert_eq!(
            conflict.pid, None,
            "open-file-description locks have no pid"
        );
    }
}
