//! `filelock_path_local`
//!
//! The path layer in the preopen `/`: contention with `no_wait` and a timeout,
//! release by drop and by `release`, the raw WIT `file-lock` resource
//! (`release` twice, `is-held`, `mode`), `create(false)` on a missing file,
//! contradicting options, writing and reading back through guards, and the
//! handle layer on a guard's own descriptor. Prints a line per check, then
//! `ok`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use portalocker_guest::wit::path_lock::FileLock;
use portalocker_guest::wit::types::{LockMode, LockOptions};
use portalocker_guest::{ErrorKind, Lock, Mode, preopens, try_lock};
use portalocker_programs::{expect_kind, expect_ok};

fn main() {
    contention();
    raw_resource();
    modes_and_options();
    write_and_read_back();
    println!("ok");
}

/// A held lock excludes a second acquire until it is dropped or released.
fn contention() {
    let lock = Lock::new("a.lock").exclusive();
    let first = expect_ok("acquire a.lock", lock.acquire());
    assert!(first.is_held());
    assert_eq!(first.mode(), Mode::Exclusive);
    assert_eq!(first.path(), "a.lock");

    let error = expect_kind(
        "acquire a.lock no-wait",
        lock.clone().no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    assert!(error.is_contention());
    assert_eq!(error.path(), Some("a.lock"));
    let error = expect_kind(
        "acquire a.lock timeout 200ms",
        lock.clone().timeout(Duration::from_millis(200)).acquire(),
        ErrorKind::TimedOut,
    );
    assert!(error.is_timeout());
    let io_error = std::io::Error::from(error);
    assert_eq!(io_error.kind(), std::io::ErrorKind::TimedOut);

    drop(first);
    let second = expect_ok(
        "acquire a.lock after drop",
        lock.clone().no_wait().acquire(),
    );
    expect_ok("release", second.release());
    let third = expect_ok("acquire a.lock after release", lock.no_wait().acquire());
    drop(third);
}

/// The WIT resource as the host exposes it.
fn raw_resource() {
    let (dir, relative) = expect_ok("resolve a.lock", preopens::resolve("a.lock"));
    assert_eq!(relative, "a.lock");
    let options = LockOptions {
        mode: LockMode::Shared,
        timeout: Some(0),
        create: true,
        write: false,
        truncate: false,
        append: false,
    };
    let lock = FileLock::acquire(&dir, &relative, options).expect("raw acquire");
    println!("raw acquire: ok");
    assert!(lock.is_held());
    assert_eq!(lock.mode(), LockMode::Shared);
    let file = lock.file().expect("raw file");
    lock.release().expect("raw release");
    println!("raw release: ok");
    assert!(!lock.is_held());
    lock.release().expect("raw release again");
    println!("raw release again: ok");
    assert!(!lock.is_held());
    // Its descriptors stay usable after the release.
    file.stat().expect("stat after release");
    drop(lock);

    // The lock is really gone: an exclusive lock can be taken at once.
    let guard = expect_ok(
        "acquire a.lock after raw release",
        Lock::new("a.lock").no_wait().acquire(),
    );
    drop(guard);
}

/// `mode()`, `create(false)` and contradicting options.
fn modes_and_options() {
    let shared = expect_ok(
        "acquire a.lock shared",
        Lock::new("a.lock").shared().acquire(),
    );
    assert_eq!(shared.mode(), Mode::Shared);
    assert_eq!(shared.as_file_lock().mode(), LockMode::Shared);
    let other = expect_ok(
        "acquire a.lock shared twice",
        Lock::new("a.lock").shared().no_wait().acquire(),
    );
    expect_kind(
        "acquire a.lock exclusive while shared",
        Lock::new("a.lock").no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    drop(other);
    drop(shared);

    expect_kind(
        "acquire missing.lock without create",
        Lock::new("missing.lock").create(false).acquire(),
        ErrorKind::NotFound,
    );
    expect_kind(
        "truncate with shared",
        Lock::new("a.lock").truncate(true).shared().acquire(),
        ErrorKind::InvalidOptions,
    );
    expect_kind(
        "truncate without write",
        Lock::new("a.lock").truncate(true).write(false).acquire(),
        ErrorKind::InvalidOptions,
    );
}

/// Write through one guard, read back through another; the handle layer on a
/// guard's own descriptor.
fn write_and_read_back() {
    let mut guard = expect_ok("acquire data.lock", Lock::new("data.lock").acquire());
    guard.write_all(b"hello").expect("write hello");
    assert_eq!(guard.stream_position().expect("position"), 5);
    assert_eq!(guard.size().expect("size"), 5);
    expect_ok("release data.lock", guard.release());

    let mut guard = expect_ok(
        "acquire data.lock read-only",
        Lock::new("data.lock").shared().write(false).acquire(),
    );
    assert_eq!(guard.contents_string().expect("contents"), "hello");
    let mut text = String::new();
    guard.read_to_string(&mut text).expect("read");
    assert_eq!(text, "hello");
    guard.seek(SeekFrom::End(-3)).expect("seek from end");
    let mut tail = String::new();
    guard.read_to_string(&mut tail).expect("read tail");
    assert_eq!(tail, "llo");
    assert!(guard.write(b"x").is_err(), "wrote through a read-only lock");
    drop(guard);

    // The guard's descriptor shares the open file holding the lock.
    let guard = expect_ok("acquire data.lock again", Lock::new("data.lock").acquire());
    expect_ok(
        "try-lock the guard's file",
        try_lock(guard.file(), Mode::Exclusive),
    );
    expect_ok("release data.lock again", guard.release());
}
