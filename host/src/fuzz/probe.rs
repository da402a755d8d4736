//! What the kernel says, checked against the model: the open files of the
//! process (`/proc/self/fd`), the `flock` lock of each open file description
//! (`/proc/self/fdinfo`), independent native probes of each file, and the
//! wait engine's threads (`/proc/self/task`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::Check;
use super::model::Model;
use super::ops::FILES;
use crate::bindings::portalocker::filelock::types::LockMode;

/// Per file of `real` (the canonical paths of [`FILES`]): the process's file
/// descriptors open on it, with the lock of each one's open file.
fn scan_fds(real: &[PathBuf]) -> Vec<BTreeMap<i32, Option<LockMode>>> {
    let mut found: Vec<BTreeMap<i32, Option<LockMode>>> = vec![BTreeMap::new(); real.len()];
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let Some(file) = real.iter().position(|p| *p == target) else {
            continue;
        };
        let Some(raw) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Ok(info) = fs::read_to_string(format!("/proc/self/fdinfo/{raw}")) {
            found[file].insert(raw, fdinfo_lock(&info));
        }
    }
    found
}

/// The file descriptors open on `path` now.
pub(super) fn fds_on(path: &Path) -> Vec<i32> {
    scan_fds(&[path.to_path_buf()])
        .swap_remove(0)
        .into_keys()
        .collect()
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

/// Open files: exactly the model's file descriptors (no leak, nothing
/// closed early, no open file of the host's own), and the lock of each one's
/// open file among the states the model allows. Returns what the kernel
/// showed per open file (the last of its descriptors read).
pub(super) fn check_open_files(
    real: &[PathBuf],
    model: &Model,
) -> Result<BTreeMap<usize, Option<LockMode>>, String> {
    let found = scan_fds(real);
    let mut seen = BTreeMap::new();
    for (file, fds) in found.iter().enumerate() {
        let expected: BTreeMap<i32, usize> = model
            .open_fds(file)
            .map(|(_, raw, ofd)| (raw, ofd))
            .collect();
        let got: Vec<i32> = fds.keys().copied().collect();
        let want: Vec<i32> = expected.keys().copied().collect();
        ensure!(
            got == want,
            "{}: open file descriptors {got:?}, model {want:?}",
            FILES[file]
        );
        for (raw, lock) in fds {
            let ofd = expected[raw];
            let allowed = model.allowed(ofd);
            ensure!(
                allowed.has(*lock),
                "{}: fd {raw} holds {lock:?}, model allows {allowed:?}",
                FILES[file]
            );
            seen.insert(ofd, *lock);
        }
    }
    Ok(seen)
}

/// Files: existence, length, and lock state (native probes) among what the
/// model allows. A probe never sees more locking than the model allows:
/// the host holds no lock for nobody.
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
        let allowed = model.probe_allowed(file);
        let got = native(&real[file]);
        ensure!(
            allowed.has(got),
            "{name}: native probe sees {got:?}, model allows {allowed:?}"
        );
    }
    Ok(())
}

/// The wait engine's threads running in this process now: (workers blocking
/// in the kernel for waiters, interrupters). Thread names are cut to 15
/// bytes in `comm`.
pub(super) fn engine_threads() -> (usize, usize) {
    let (mut workers, mut interrupters) = (0, 0);
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        match comm.trim_end() {
            "portalocker-wai" => workers += 1,
            "portalocker-int" => interrupters += 1,
            _ => {}
        }
    }
    (workers, interrupters)
}
