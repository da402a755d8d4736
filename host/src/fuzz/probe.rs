//! What the kernel says, checked against the model: the open files of the
//! process (`/proc/self/fd`), the `flock` lock of each open file description
//! (`/proc/self/fdinfo`), and independent native probes of each file.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Check;
use super::model::{Model, rank};
use super::ops::FILES;
use crate::bindings::portalocker::filelock::types::LockMode;

/// How long a probe that sees more locking than the model is retried while
/// a sentinel may hold the lock for an instant.
const SETTLE: Duration = Duration::from_secs(1);

/// What `/proc/self/fd` shows of one file.
#[derive(Debug, Default)]
struct FdScan {
    /// The lock of each file descriptor opened by an instance or the host
    /// (see [`rank`]), sorted.
    held: Vec<u8>,
    /// Sentinel file descriptors.
    sentinels: usize,
}

/// Per file of `real` (the canonical paths of [`FILES`]): the file
/// descriptors opened by instances or the host, and the sentinels'.
/// Instances' files are opened with `O_NONBLOCK` (the host's path layer
/// does that too); a sentinel's is not (see `wait/queue.rs`).
fn scan_fds(real: &[PathBuf]) -> Vec<FdScan> {
    let mut counts: Vec<FdScan> = (0..FILES.len()).map(|_| FdScan::default()).collect();
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return counts;
    };
    for entry in entries.flatten() {
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let Some(file) = real.iter().position(|p| *p == target) else {
            continue;
        };
        let name = entry.file_name();
        let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", name.to_string_lossy()))
            .unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .unwrap_or(0);
        if flags & libc::O_NONBLOCK as u32 != 0 {
            counts[file].held.push(rank(fdinfo_lock(&info)));
        } else {
            counts[file].sentinels += 1;
        }
    }
    for scan in &mut counts {
        scan.held.sort_unstable();
    }
    counts
}

/// Per file of `real`: whether a sentinel runs on it.
pub(super) fn sentinels(real: &[PathBuf]) -> Vec<bool> {
    scan_fds(real).iter().map(|s| s.sentinels > 0).collect()
}

/// The `flock` lock an fdinfo text shows for its open file.
fn fdinfo_lock(info: &str) -> Option<LockMode> {
    let line = info
        .lines()
        .find(|l| l.starts_with("lock:") && l.contains("FLOCK"))?;
    if line.contains("WRITE") {
        Some(LockMode::Exclusive)
    } else {
        Some(LockMode::Shared)
    }
}

/// The lock the open file of the process's file descriptor `raw` holds, as
/// the kernel reports it.
pub(super) fn fd_lock(raw: i32) -> Result<Option<LockMode>, String> {
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{raw}"))
        .map_err(|e| format!("fdinfo {raw}: {e}"))?;
    Ok(fdinfo_lock(&info))
}

/// A native probe: how the file at `path` is held by others (a separate
/// open file, `try_lock` then `try_lock_shared`, released at once).
fn native(path: &Path) -> Option<LockMode> {
    let f = File::open(path).expect("probe open");
    if fs4::FileExt::try_lock(&f).is_ok() {
        fs4::FileExt::unlock(&f).expect("probe unlock");
        None
    } else if fs4::FileExt::try_lock_shared(&f).is_ok() {
        fs4::FileExt::unlock(&f).expect("probe unlock");
        Some(LockMode::Shared)
    } else {
        Some(LockMode::Exclusive)
    }
}

/// Open files: exactly the model's, each with the model's lock, plus at
/// most one sentinel per file; a sentinel ends once its file is free and
/// nobody waits (`registered`: per file, whether a request has a place
/// among its waiters).
pub(super) fn check_open_files(real: &[PathBuf], model: &Model, registered: &[bool]) -> Check {
    let counts = scan_fds(real);
    for (file, scan) in counts.iter().enumerate() {
        let (open, sentinel) = (scan.held.len(), scan.sentinels);
        let expected = model.expected_fds(file);
        ensure!(
            open == expected,
            "{}: {open} open file descriptors, model {expected}",
            FILES[file]
        );
        let want = model.fd_locks(file);
        ensure!(
            scan.held == want,
            "{}: the open files' locks (0 none, 1 shared, 2 exclusive, one per fd) are {:?}, model {want:?}",
            FILES[file],
            scan.held
        );
        ensure!(
            sentinel <= 1,
            "{}: {sentinel} sentinel file descriptors",
            FILES[file]
        );
        if sentinel > 0 && !registered[file] && model.state(file).is_none() {
            let start = Instant::now();
            while scan_fds(real)[file].sentinels > 0 {
                ensure!(
                    start.elapsed() < SETTLE,
                    "{}: a sentinel still runs {SETTLE:?} after the file became free with no waiter",
                    FILES[file]
                );
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    Ok(())
}

/// Files: existence, length and lock state (native probes) as the model
/// says. A probe that sees more locking than the model is retried for a
/// while: only a sentinel's instant may explain it.
pub(super) fn check_files(real: &[PathBuf], model: &Model) -> Check {
    for (file, name) in FILES.iter().enumerate() {
        let state = model.files[file];
        let meta = fs::metadata(&real[file]);
        ensure!(
            meta.is_ok() == state.exists,
            "{name}: exists {}, model {}",
            meta.is_ok(),
            state.exists
        );
        let Ok(meta) = meta else { continue };
        ensure!(
            meta.len() == state.len,
            "{name}: length {}, model {}",
            meta.len(),
            state.len
        );
        let want = model.state(file);
        let start = Instant::now();
        loop {
            let got = native(&real[file]);
            if got == want {
                break;
            }
            ensure!(
                rank(got) > rank(want),
                "{name}: native probe sees {got:?}, model {want:?}"
            );
            ensure!(
                start.elapsed() < SETTLE,
                "{name}: native probe sees {got:?} for {SETTLE:?}, model {want:?}"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(())
}
