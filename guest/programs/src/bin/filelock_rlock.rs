//! `filelock_rlock` (no arguments; uses `r.lock` in `/`): a reentrant lock
//! acquired k times needs k releases, a second reentrant lock on the same
//! path contends like any other holder, and releasing more often than
//! acquired is `not-held`. Between steps it pauses at checkpoints so the host
//! can probe the file from outside. Prints `ok`.

use portalocker_guest::{ErrorKind, Lock};
use portalocker_programs::{checkpoint, expect_kind, expect_ok};

fn main() {
    let lock = Lock::new("r.lock").exclusive().no_wait();
    let first = expect_ok("open first", lock.reentrant());
    let second = expect_ok("open second", lock.reentrant());
    for n in 1..=3 {
        expect_ok("acquire first", first.acquire());
        assert_eq!(first.count(), n);
    }
    expect_kind("acquire second", second.acquire(), ErrorKind::AlreadyLocked);
    expect_ok("release 1 of 3", first.release());
    expect_ok("release 2 of 3", first.release());
    assert_eq!(first.count(), 1);
    expect_kind(
        "second while one is left",
        second.acquire(),
        ErrorKind::AlreadyLocked,
    );
    checkpoint("held", "probed-held");
    expect_ok("release 3 of 3", first.release());
    assert_eq!(first.count(), 0);
    checkpoint("free", "probed-free");
    expect_kind("release once more", first.release(), ErrorKind::NotHeld);
    expect_ok("second now", second.acquire());
    expect_kind("first now", first.acquire(), ErrorKind::AlreadyLocked);
    println!("ok");
}
