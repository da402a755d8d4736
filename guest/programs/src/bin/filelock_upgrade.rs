//! `filelock_upgrade` (no arguments; uses `u.lock` in `/`): a shared lock is
//! upgraded to exclusive and downgraded back, with checkpoints at which the
//! host checks from outside what each mode excludes; an upgrade that meets
//! another shared holder times out and leaves no lock, as documented. Prints
//! `ok`.

use std::time::Duration;

use portalocker_guest::{ErrorKind, Lock, Mode};
use portalocker_programs::{checkpoint, expect_kind, expect_ok};

fn main() {
    let mut guard = expect_ok("shared", Lock::new("u.lock").shared().acquire());
    assert_eq!(guard.mode(), Mode::Shared);
    checkpoint("shared", "probed-shared");

    expect_ok(
        "upgrade",
        guard.relock(Mode::Exclusive, Some(Duration::from_secs(5))),
    );
    assert_eq!(guard.mode(), Mode::Exclusive);
    assert!(guard.is_held());
    checkpoint("exclusive", "probed-exclusive");

    expect_ok("downgrade", guard.relock(Mode::Shared, None));
    assert_eq!(guard.mode(), Mode::Shared);
    checkpoint("downgraded", "probed-downgraded");

    // Another shared holder is in the way of an upgrade.
    let other = expect_ok(
        "second shared",
        Lock::new("u.lock").shared().no_wait().acquire(),
    );
    expect_kind(
        "upgrade past a shared holder",
        guard.relock(Mode::Exclusive, Some(Duration::from_millis(100))),
        ErrorKind::TimedOut,
    );
    assert!(!guard.is_held(), "a failed upgrade leaves no lock");
    expect_ok(
        "retake shared",
        guard.relock(Mode::Shared, Some(Duration::ZERO)),
    );
    drop(other);
    expect_ok(
        "upgrade once alone",
        guard.relock(Mode::Exclusive, Some(Duration::ZERO)),
    );
    expect_kind(
        "others are out",
        Lock::new("u.lock").shared().no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    println!("ok");
}
