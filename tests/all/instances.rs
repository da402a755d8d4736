//! Guest instances in one host exclude each other exactly as processes do.

use std::time::Duration;

use portalocker_tests::native::{self, Mode};
use portalocker_tests::{Sandbox, eventually, guests};

/// Instance A holds x.lock in `first`; instance B tries `second` once.
/// Returns B's exit code (0 acquired, 2 already locked).
fn second_instance_code(layer: &str, first: &str, second: &str) -> i32 {
    let sandbox = Sandbox::new();
    let file = sandbox.path("x.lock");
    let holder = sandbox.spawn(guests::HOLD, &["--layer", layer, "x.lock", first, "3000"]);
    assert!(
        eventually(Duration::from_secs(20), || !native::can_lock(
            &file,
            Mode::Exclusive
        )),
        "instance A never took the lock"
    );
    let code = sandbox
        .run(
            guests::HOLD,
            &["--layer", layer, "--try", "x.lock", second, "0"],
        )
        .code();
    holder.join().unwrap().assert_success();
    code
}

#[test]
fn exclusive_excludes_exclusive() {
    assert_eq!(second_instance_code("path", "exclusive", "exclusive"), 2);
    assert_eq!(second_instance_code("handle", "exclusive", "exclusive"), 2);
}

#[test]
fn exclusive_and_shared_exclude_each_other() {
    assert_eq!(second_instance_code("path", "exclusive", "shared"), 2);
    assert_eq!(second_instance_code("handle", "shared", "exclusive"), 2);
}

#[test]
fn shared_and_shared_coexist() {
    assert_eq!(second_instance_code("path", "shared", "shared"), 0);
    assert_eq!(second_instance_code("handle", "shared", "shared"), 0);
}
