//! Checks shared by the tests in which one party holds a lock while the
//! Rust `hold` guest and native lockers try it (`cross_language`,
//! `existing_code`).

use std::time::Duration;

use portalocker_tests::native::{self, Mode};
use portalocker_tests::{GuestRun, Sandbox, eventually, guests};

/// How long another party may take to get a lock it was granted.
pub const LONG: Duration = Duration::from_secs(60);

/// Checks that a failed run reported `kind` (`error: KIND`) with its exit
/// code: 2 for `already-locked`, 3 for `timed-out`, 1 for the rest.
#[track_caller]
pub fn assert_failed_with(run: &GuestRun, kind: &str) {
    run.assert_line(&format!("error: {kind}"));
    run.assert_code(match kind {
        "already-locked" => 2,
        "timed-out" => 3,
        _ => 1,
    });
}

/// Waits until the file `name` in `sandbox` exists and someone holds a lock
/// on it (a native exclusive attempt fails); `who` names the holder in the
/// failure message.
#[track_caller]
pub fn wait_held(sandbox: &Sandbox, name: &str, who: &str) {
    let file = sandbox.path(name);
    assert!(
        eventually(LONG, || file.exists()
            && !native::can_lock(&file, Mode::Exclusive)),
        "{who} never took the lock on {name}"
    );
}

/// Checks, while `who` holds `name` in `sandbox`, that `flock -n` cannot
/// take it and that the Rust `hold` guest's single attempts through each of
/// `layers` fail with `already-locked` in exclusive mode, and in shared mode
/// unless `shared_fits` (the holder's lock is shared).
#[track_caller]
pub fn rust_and_native_see_held(
    sandbox: &Sandbox,
    name: &str,
    layers: &[&str],
    shared_fits: bool,
    who: &str,
) {
    assert!(
        !native::flock_n(&sandbox.path(name)),
        "flock -n got the lock {who} holds"
    );
    for layer in layers {
        let exclusive = sandbox.run(
            guests::HOLD,
            &["--layer", layer, "--try", name, "exclusive", "0"],
        );
        assert_failed_with(&exclusive, "already-locked");
        let shared = sandbox.run(
            guests::HOLD,
            &["--layer", layer, "--try", name, "shared", "0"],
        );
        if shared_fits {
            shared.assert_success();
        } else {
            assert_failed_with(&shared, "already-locked");
        }
    }
}
