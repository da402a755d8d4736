//! `filelock_handle_relock` (no arguments; uses `r.lock` in `/`): locking a
//! descriptor's open file again through the handle layer, as portalocker's
//! `lock(fh, LOCK_EX)` on a handle that already holds a lock does:
//!
//! - in the mode it holds: nothing changes, nothing waits, and one `unlock`
//!   ends the lock;
//! - shared to exclusive, with no other holder: an upgrade, at once;
//! - exclusive to shared: a downgrade, which lets other shared lockers in,
//!   and which one `unlock` ends.
//!
//! A second open file of the same path checks each state from outside.
//! Prints a line per check, then `ok`.

use std::time::Duration;

use portalocker_guest::{ErrorKind, Mode, lock, lock_timeout, preopens, try_lock, unlock};
use portalocker_programs::{expect_kind, expect_ok};

const PATH: &str = "/r.lock";

/// Long enough that a lock waiting on its own holder fails the check,
/// instead of the scenario hanging.
const PATIENCE: Duration = Duration::from_secs(2);

fn main() {
    let first = expect_ok("open first", preopens::open_file(PATH, true, true));
    let other = expect_ok("open other", preopens::open_file(PATH, true, true));
    // Whether the other open file gets `mode` now; it lets go at once.
    let other_gets = |mode: Mode| match try_lock(&other, mode) {
        Ok(()) => {
            unlock(&other).expect("unlock the other open file");
            true
        }
        Err(err) if err.kind() == ErrorKind::AlreadyLocked => false,
        Err(err) => panic!("the other open file's try-lock: {err}"),
    };

    for (mode, name) in [(Mode::Exclusive, "exclusive"), (Mode::Shared, "shared")] {
        expect_ok(&format!("lock {name}"), lock(&first, mode));
        expect_ok(
            &format!("lock {name} again"),
            lock_timeout(&first, mode, PATIENCE),
        );
        expect_ok(&format!("try-lock {name} again"), try_lock(&first, mode));
        assert!(
            !other_gets(Mode::Exclusive),
            "{name} held: other got exclusive"
        );
        expect_ok(&format!("unlock {name}"), unlock(&first));
        assert!(
            other_gets(Mode::Exclusive),
            "one unlock after locking {name} three times left a lock"
        );
    }

    expect_ok("lock shared", lock(&first, Mode::Shared));
    expect_ok("upgrade", lock_timeout(&first, Mode::Exclusive, PATIENCE));
    assert!(!other_gets(Mode::Shared), "upgraded: other got shared");
    expect_ok("unlock upgraded", unlock(&first));
    assert!(
        other_gets(Mode::Exclusive),
        "one unlock ends an upgraded lock"
    );

    expect_ok("lock exclusive", lock(&first, Mode::Exclusive));
    expect_ok("downgrade", lock_timeout(&first, Mode::Shared, PATIENCE));
    assert!(
        other_gets(Mode::Shared),
        "downgraded: other did not get shared"
    );
    assert!(
        !other_gets(Mode::Exclusive),
        "downgraded: other got exclusive"
    );
    expect_ok("unlock downgraded", unlock(&first));
    assert!(
        other_gets(Mode::Exclusive),
        "one unlock ends a downgraded lock"
    );

    expect_kind(
        "other try-lock after all",
        try_lock(&other, Mode::Exclusive).and_then(|()| try_lock(&first, Mode::Shared)),
        ErrorKind::AlreadyLocked,
    );
    println!("ok");
}
