//! A guest's lock is a real lock: native processes see it, and the guest sees
//! theirs.

use std::time::Duration;

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Sandbox, eventually, guests};

const LONG: Duration = Duration::from_secs(20);

/// The file a `hold --layer LAYER x.lock` locks: the first slot file for a
/// semaphore, the sidecar for a PID file, `x.lock` itself for every other
/// class.
fn locked_file(layer: &str) -> &'static str {
    match layer {
        "semaphore" => "x.lock.00.lock",
        "pid" => "x.lock.lock",
        _ => "x.lock",
    }
}

/// Runs `hold` with `layer` and `mode` on x.lock until the host opens its
/// gate; while it holds, checks what native lockers see; after it exits,
/// checks they get the lock.
fn guest_lock_is_seen_natively(layer: &str, mode: &str) {
    let sandbox = Sandbox::new();
    let file = sandbox.path(locked_file(layer));
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let guest = sandbox.spawn(
        guests::HOLD,
        &["--layer", layer, "--until", "gate", "x.lock", mode, "0"],
    );
    assert!(
        eventually(LONG, || file.exists()
            && !native::can_lock(&file, Mode::Exclusive)),
        "the guest never took the lock"
    );
    assert!(
        !native::flock_n(&file),
        "flock -n got the lock the guest holds ({layer})"
    );
    assert_eq!(
        native::can_lock(&file, Mode::Shared),
        mode == "shared",
        "a native shared lock must coexist only with a shared guest lock ({layer})"
    );
    gate.release();
    let run = guest.join().unwrap();
    run.assert_success()
        .assert_line("locked")
        .assert_line("released");
    if layer == "temporary" {
        assert!(!file.exists(), "a temporary lock file outlived its lock");
        return;
    }
    assert!(
        native::flock_n(&file),
        "flock -n fails after the guest released ({layer})"
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
    guest_lock_is_seen_natively("handle", "shared");
}

#[test]
fn guest_reentrant_lock_excludes_flock() {
    guest_lock_is_seen_natively("reentrant", "exclusive");
    guest_lock_is_seen_natively("reentrant", "shared");
}

#[test]
fn guest_temporary_lock_excludes_flock_and_goes_away() {
    guest_lock_is_seen_natively("temporary", "exclusive");
}

#[test]
fn guest_semaphore_slot_excludes_flock() {
    guest_lock_is_seen_natively("semaphore", "exclusive");
}

#[test]
fn guest_pid_lock_excludes_flock() {
    guest_lock_is_seen_natively("pid", "exclusive");
}

/// A native holder of the file each class locks makes the guest's single
/// attempt fail with contention, and its timed wait time out.
#[test]
fn native_holder_blocks_every_lock_class() {
    for layer in ["reentrant", "temporary", "semaphore", "pid"] {
        let sandbox = Sandbox::new();
        let _holder = Holder::lock(&sandbox.path(locked_file(layer)), Mode::Exclusive);
        sandbox
            .run(
                guests::HOLD,
                &["--layer", layer, "--try", "x.lock", "exclusive", "0"],
            )
            .assert_code(2)
            .assert_line("error: already-locked");
        sandbox
            .run(
                guests::HOLD,
                &[
                    "--layer",
                    layer,
                    "--timeout",
                    "100",
                    "x.lock",
                    "exclusive",
                    "0",
                ],
            )
            .assert_code(3)
            .assert_line("error: timed-out");
    }
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
