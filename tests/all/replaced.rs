//! A lock file replaced while a guest waits for it. A temporary lock
//! (portalocker's `TemporaryFileLock`) is only ever held on the file its
//! path names: a waiter that is granted the lock on a file that has since
//! been replaced at the path lets go and starts over. Otherwise it and the
//! holder of the new file would both believe they held the lock.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use portalocker_tests::native::{Holder, Mode};
use portalocker_tests::{Sandbox, eventually, guests};

/// Whether a handle other than the test's own (read-only) one has `path`
/// open, for writing on Windows.
#[cfg(target_os = "linux")]
fn opened_elsewhere(path: &Path) -> bool {
    let path = std::fs::canonicalize(path).unwrap();
    let open = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| *target == path)
        .count();
    open >= 2
}

/// Whether a handle other than the test's own (read-only) one has `path`
/// open, for writing on Windows.
#[cfg(windows)]
fn opened_elsewhere(path: &Path) -> bool {
    use std::os::windows::fs::OpenOptionsExt;
    // FILE_SHARE_READ | FILE_SHARE_DELETE: this open fails with a sharing
    // violation while another handle may write.
    const READERS_AND_DELETERS: u32 = 0x1 | 0x4;
    std::fs::OpenOptions::new()
        .read(true)
        .share_mode(READERS_AND_DELETERS)
        .open(path)
        .is_err()
}

/// Without a way to see other handles, give the guest time to open it.
#[cfg(not(any(target_os = "linux", windows)))]
fn opened_elsewhere(_path: &Path) -> bool {
    std::thread::sleep(Duration::from_millis(500));
    true
}

#[test]
fn a_temporary_lock_waiter_whose_file_was_replaced_starts_over() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("t.lock");
    std::fs::write(&path, "").unwrap();
    let old = File::open(&path).unwrap();
    fs4::FileExt::lock(&old).unwrap();
    let waiter = sandbox.spawn(
        guests::HOLD,
        &[
            "--layer",
            "temporary",
            "--timeout",
            "2000",
            "t.lock",
            "exclusive",
            "0",
        ],
    );
    assert!(
        eventually(Duration::from_secs(20), || opened_elsewhere(&path)),
        "the guest never opened the lock file"
    );
    // The holder's file goes away and a new one, locked by its creator,
    // takes its place; then the waiter is granted the lock on the old one.
    std::fs::rename(&path, sandbox.path("old.lock")).unwrap();
    let _new = Holder::lock(&path, Mode::Exclusive);
    drop(old);
    let run = waiter.join().unwrap();
    assert!(
        !run.stdout().lines().any(|line| line == "locked"),
        "the waiter believes it holds a lock on a file the path no longer names"
    );
    run.assert_code(3);
}
