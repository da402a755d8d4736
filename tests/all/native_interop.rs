//! A guest's lock is a real lock: native processes see it, and the guest sees
//! theirs.

use std::time::Duration;

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Sandbox, eventually, guests};

const LONG: Duration = Duration::from_secs(20);

/// Runs `hold` with `layer` and `mode` on x.lock; while it holds, checks
/// what native lockers see; after it exits, checks they get the lock.
fn guest_lock_is_seen_natively(layer: &str, mode: &str) {
    let sandbox = Sandbox::new();
    let file = sandbox.path("x.lock");
    let guest = sandbox.spawn(guests::HOLD, &["--layer", layer, "x.lock", mode, "1500"]);
    assert!(
        eventually(LONG, || !native::can_lock(&file, Mode::Exclusive)),
        "the guest never took the lock"
    );
    assert!(
        !native::flock_n(&file),
        "flock -n got the lock the guest holds"
    );
    assert_eq!(
        native::can_lock(&file, Mode::Shared),
        mode == "shared",
        "a native shared lock must coexist only with a shared guest lock"
    );
    let run = guest.join().unwrap();
    run.assert_success()
        .assert_line("locked")
        .assert_line("released");
    assert!(
        native::flock_n(&file),
        "flock -n fails after the guest released"
    );
    assert!(native::can_lock(&file, Mode::Exclusive));
}

#[test]
fn guest_exclusive_path_lock_excludes_flock_and_host_probe() {
    guest_lock_is_seen_natively("path", "exclusive");
}

#[test]
fn guest_exclusive_handle_lock_excludes_flock_and_host_probe() {
    guest_lock_is_seen_natively("handle", "exclusive");
}

#[test]
fn guest_shared_lock_admits_native_shared_only() {
    guest_lock_is_seen_natively("path", "shared");
}

#[test]
fn native_holder_makes_guest_try_lock_fail_with_contention() {
    let sandbox = Sandbox::new();
    let _holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
    for layer in ["path", "handle"] {
        for mode in ["shared", "exclusive"] {
            sandbox
                .run(
                    guests::HOLD,
                    &["--layer", layer, "--try", "x.lock", mode, "0"],
                )
                .assert_code(2)
                .assert_line("error: already-locked");
        }
    }
}

#[test]
fn native_shared_holder_admits_guest_shared_lock() {
    let sandbox = Sandbox::new();
    let _holder = Holder::lock(&sandbox.path("x.lock"), Mode::Shared);
    sandbox
        .run(guests::HOLD, &["--try", "x.lock", "shared", "0"])
        .assert_success();
    sandbox
        .run(guests::HOLD, &["--try", "x.lock", "exclusive", "0"])
        .assert_code(2);
}

#[test]
fn guest_wait_with_timeout_times_out_while_native_holds() {
    let sandbox = Sandbox::new();
    let _holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
    sandbox
        .run(
            guests::HOLD,
            &["--timeout", "200", "x.lock", "exclusive", "0"],
        )
        .assert_code(3)
        .assert_line("error: timed-out");
}
