//! `filelock_handle_local`
//!
//! The handle layer between two open files of `local.lock` in the preopen `/`:
//! exclusive excludes everything, shared locks coexist, a conversion to
//! exclusive fails while the other holds shared, and dropping a descriptor
//! releases its lock. Also: locking a directory descriptor fails with
//! `bad-descriptor`, and unlocking an unlocked descriptor succeeds; a
//! descriptor opened read-only in this writable preopen takes an exclusive
//! lock (what the host's policy looks at is the preopen, as `flock(2)` and
//! portalocker's own tests have it), and so does the read-only descriptor of
//! a path-layer lock taken without `write`. Prints a line per check, then
//! `ok`.

use portalocker_guest::{ErrorKind, Lock, Mode, lock, preopens, try_lock, unlock};
use portalocker_programs::{expect_kind, expect_ok};

const PATH: &str = "/local.lock";

fn main() {
    // Two separate open-at calls: two open files, whose locks conflict.
    let first = expect_ok("open first", preopens::open_file(PATH, true, true));
    let second = expect_ok("open second", preopens::open_file(PATH, true, true));

    expect_ok("first lock exclusive", lock(&first, Mode::Exclusive));
    expect_kind(
        "second try-lock exclusive",
        try_lock(&second, Mode::Exclusive),
        ErrorKind::AlreadyLocked,
    );
    expect_kind(
        "second try-lock shared",
        try_lock(&second, Mode::Shared),
        ErrorKind::AlreadyLocked,
    );
    expect_ok("first unlock", unlock(&first));

    expect_ok("second try-lock shared", try_lock(&second, Mode::Shared));
    expect_ok("first try-lock shared", try_lock(&first, Mode::Shared));
    // Converting to exclusive while the other open file holds shared.
    expect_kind(
        "first try-lock exclusive",
        try_lock(&first, Mode::Exclusive),
        ErrorKind::AlreadyLocked,
    );
    expect_ok("first unlock", unlock(&first));
    expect_ok("second unlock", unlock(&second));

    // Closing the open file releases its lock.
    expect_ok("first lock exclusive", lock(&first, Mode::Exclusive));
    expect_kind(
        "second try-lock exclusive",
        try_lock(&second, Mode::Exclusive),
        ErrorKind::AlreadyLocked,
    );
    drop(first);
    expect_ok(
        "second try-lock exclusive after drop",
        try_lock(&second, Mode::Exclusive),
    );
    expect_ok("second unlock", unlock(&second));
    expect_ok("second unlock again", unlock(&second));

    // The preopen itself is a directory: the handle layer needs a file.
    let (root, relative) = expect_ok("resolve /", preopens::resolve("/"));
    assert_eq!(relative, ".");
    expect_kind(
        "directory lock",
        lock(&root, Mode::Exclusive),
        ErrorKind::BadDescriptor,
    );
    expect_kind(
        "directory try-lock",
        try_lock(&root, Mode::Shared),
        ErrorKind::BadDescriptor,
    );

    read_only_descriptors();
    println!("ok");
}

/// Read-only descriptors in a writable preopen take exclusive locks.
fn read_only_descriptors() {
    let reader = expect_ok("open read-only", preopens::open_file(PATH, false, false));
    expect_ok(
        "read-only descriptor, exclusive",
        try_lock(&reader, Mode::Exclusive),
    );
    expect_ok("read-only descriptor, unlock", unlock(&reader));
    drop(reader);

    let guard = expect_ok(
        "path lock without write",
        Lock::new(PATH).shared().write(false).acquire(),
    );
    expect_ok(
        "its descriptor, exclusive",
        try_lock(guard.file(), Mode::Exclusive),
    );
    expect_ok("release", guard.release());
}
