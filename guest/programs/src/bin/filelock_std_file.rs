//! `filelock_std_file`
//!
//! Locks on `std::fs::File`s, as existing std code opens them, through
//! `FileLockExt` and the fs4-compatible `fs4::FileExt`: two `File`s opened
//! separately on `std.lock` conflict like two processes (exclusive excludes
//! both modes, shared locks coexist, a conversion to exclusive fails while
//! the other holds shared), a timed wait times out, unlocking twice is fine,
//! dropping a `File` releases its lock, a lock taken through a `File` is seen
//! by the path layer, stdio is no file to lock and a directory is no lockable
//! file. Prints a line per check, then `ok`.

use std::fs::File;
use std::time::Duration;

use portalocker_guest::fs4::{FileExt, TryLockError};
use portalocker_guest::{ErrorKind, FileLockExt, Lock, Mode};
use portalocker_programs::{expect_kind, expect_ok};

const PATH: &str = "/std.lock";

/// Opens `PATH` read-write, creating it: a new open file each time.
fn open() -> File {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(PATH)
        .expect("open std.lock with std::fs")
}

fn main() {
    println!(
        "wasi-libc of wasi-sdk {}",
        portalocker_guest::std_file::wasi_sdk_version()
    );
    // std's own `File::lock` does nothing on WASI: the reason this exists.
    let first = open();
    let second = open();
    match first.try_lock() {
        Err(std::fs::TryLockError::Error(err)) => {
            assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
            println!("std File::try_lock: unsupported");
        }
        other => panic!("std's File::try_lock on WASI: {other:?}"),
    }

    expect_ok("first lock exclusive", first.lock_file(Mode::Exclusive));
    expect_kind(
        "second try-lock exclusive",
        second.try_lock_file(Mode::Exclusive),
        ErrorKind::AlreadyLocked,
    );
    expect_kind(
        "second try-lock shared",
        second.try_lock_file(Mode::Shared),
        ErrorKind::AlreadyLocked,
    );
    expect_kind(
        "second lock exclusive, 50 ms",
        second.lock_file_timeout(Mode::Exclusive, Duration::from_millis(50)),
        ErrorKind::TimedOut,
    );
    expect_kind(
        "path layer while a File holds it",
        Lock::new(PATH).no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    expect_ok("first unlock", first.unlock_file());
    expect_ok("first unlock again", first.unlock_file());

    expect_ok("second try-lock shared", second.try_lock_file(Mode::Shared));
    expect_ok("first lock shared", first.lock_file(Mode::Shared));
    expect_kind(
        "first try-lock exclusive (conversion)",
        first.try_lock_file(Mode::Exclusive),
        ErrorKind::AlreadyLocked,
    );
    expect_ok("second unlock", second.unlock_file());
    expect_ok(
        "first lock exclusive (conversion)",
        first.lock_file_timeout(Mode::Exclusive, Duration::from_secs(5)),
    );

    // A `&File` and an `io::Error` conversion, as `?` in io code uses them.
    let err = std::io::Error::from(second.try_lock_file(Mode::Exclusive).unwrap_err());
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
    println!("io::Error of contention: would block");

    // Closing the File (dropping it) releases its lock.
    drop(first);
    expect_ok(
        "second try-lock exclusive after drop",
        second.try_lock_file(Mode::Exclusive),
    );
    expect_ok("second unlock", second.unlock_file());

    // fs4's names, called as fs4 code calls them.
    let third = open();
    FileExt::lock(&second).expect("fs4 lock");
    match FileExt::try_lock_shared(&third) {
        Err(TryLockError::WouldBlock) => println!("fs4 try_lock_shared: would block"),
        other => panic!("fs4 try_lock_shared while held: {other:?}"),
    }
    FileExt::unlock(&second).expect("fs4 unlock");
    FileExt::try_lock_shared(&third).expect("fs4 try_lock_shared");
    FileExt::lock_shared(&second).expect("fs4 lock_shared");
    match FileExt::try_lock(&second) {
        Err(TryLockError::WouldBlock) => println!("fs4 try_lock (conversion): would block"),
        other => panic!("fs4 try_lock while shared elsewhere: {other:?}"),
    }
    FileExt::unlock(&third).expect("fs4 unlock");
    FileExt::try_lock(&second).expect("fs4 try_lock");
    FileExt::unlock(&second).expect("fs4 unlock");
    println!("fs4 FileExt: ok");

    // stdin, stdout and stderr are no files of the descriptor table's.
    expect_kind(
        "stdout",
        std::io::stdout().try_lock_file(Mode::Exclusive),
        ErrorKind::BadDescriptor,
    );
    expect_kind(
        "stdin",
        std::io::stdin().unlock_file(),
        ErrorKind::BadDescriptor,
    );
    // A directory has a descriptor, which the handle layer refuses.
    let dir = File::open("/").expect("open / with std::fs");
    expect_kind(
        "directory",
        dir.try_lock_file(Mode::Shared),
        ErrorKind::BadDescriptor,
    );
    println!("ok");
}
