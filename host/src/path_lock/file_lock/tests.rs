//! `file-lock.lock` converting a held lock, cancelled half-way: what the
//! resource reports must stay what the kernel holds.
//!
//! `flock(2)` converts a lock by dropping the old one first, and a failed
//! non-blocking conversion does not give it back. An async embedder that
//! drops the call's future (a timeout of its own, a dropped task) must
//! still find `is-held` true to the kernel afterwards: a guest that
//! believes it holds a lock nobody holds corrupts the data the lock
//! protects. A guest cannot observe this through its own calls (its call
//! never returns), so the test calls the generated `Host` traits on a
//! [`FileLockCtxView`], as the async linker does.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::filesystem::{self as wasi_fs, Descriptor};
use wasmtime_wasi::{FsPerms, OpenMode};

use super::FileLock;
use crate::bindings::portalocker::filelock::path_lock::HostFileLock;
use crate::bindings::portalocker::filelock::types::{LockMode, LockOptions};
use crate::ctx::{FileLockCtx, FileLockCtxView};

/// A borrow of `res`, as a guest passes a handle it keeps.
fn borrow<T: 'static>(res: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(res.rep())
}

/// The `flock` lock the kernel reports for the open file description of
/// `file` (`/proc/self/fdinfo`), if any.
fn kernel_lock(file: &File) -> Option<LockMode> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", file.as_raw_fd()))
        .expect("read fdinfo");
    let line = info
        .lines()
        .find(|l| l.starts_with("lock:") && l.contains("FLOCK"))?;
    Some(if line.contains("WRITE") {
        LockMode::Exclusive
    } else {
        LockMode::Shared
    })
}

/// A native shared lock on `path`, on an open file of its own.
fn native_shared(path: &Path) -> File {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the lock file natively");
    fs4::FileExt::try_lock_shared(&file).expect("a native shared lock beside the guest's");
    file
}

#[test]
fn cancelled_upgrade_leaves_is_held_true_to_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = FileLockCtx::default();
    let mut table = ResourceTable::new();
    let preopen = table
        .push(Descriptor::Dir(wasi_fs::Dir::new(
            File::open(dir.path()).unwrap(),
            FsPerms::ReadWrite,
            OpenMode::READ | OpenMode::WRITE,
            false,
        )))
        .unwrap();
    let mut view = FileLockCtxView {
        ctx: &ctx,
        table: &mut table,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let options = LockOptions {
        mode: LockMode::Shared,
        timeout: Some(0),
        create: true,
        write: true,
        truncate: false,
        append: false,
    };
    let lock: Resource<FileLock> = runtime
        .block_on(HostFileLock::acquire(
            &mut view,
            borrow(&preopen),
            "x.lock".to_owned(),
            options,
        ))
        .expect("a shared lock on a free file");
    let native = native_shared(&dir.path().join("x.lock"));

    // The upgrade cannot succeed while the native shared lock is held: the
    // embedder gives up on it after a few polls and drops the future.
    runtime.block_on(async {
        let upgrade = HostFileLock::lock(
            &mut view,
            borrow(&lock),
            LockMode::Exclusive,
            Some(10_000_000_000),
        );
        let cancelled = tokio::time::timeout(Duration::from_millis(50), upgrade).await;
        assert!(
            cancelled.is_err(),
            "the upgrade finished while a native shared lock was held: {cancelled:?}"
        );
    });

    let is_held = runtime
        .block_on(HostFileLock::is_held(&mut view, borrow(&lock)))
        .unwrap();
    let mode = runtime
        .block_on(HostFileLock::mode(&mut view, borrow(&lock)))
        .unwrap();
    let kernel = kernel_lock(view.table.get(&lock).unwrap().open_file());
    assert_eq!(
        is_held,
        kernel.is_some(),
        "after the cancelled upgrade `is-held` says {is_held} (mode {mode:?}), \
         the kernel says the open file holds {kernel:?}"
    );
    if is_held {
        assert_eq!(
            kernel,
            Some(mode),
            "the lock's mode is not the one the kernel holds"
        );
    }
    drop(native);
}
