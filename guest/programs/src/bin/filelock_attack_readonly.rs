//! `filelock_attack_readonly`
//!
//! Run with the preopen `/` read-only; it holds `data.txt`. Asking for
//! anything that would modify the directory or the file fails with a typed
//! error and changes nothing: `write` and `create` (shared, so that only the
//! access is at stake) with `not-permitted`; exclusive `truncate` with
//! `not-permitted` or `denied` (the host's policy may refuse read-only
//! exclusive locks first). A shared read-only lock works and reads the data.
//! Prints `<case>: <kind>` per attempt, then `ok`.

use std::time::Duration;

use portalocker_guest::{ErrorKind, Lock};
use portalocker_programs::{expect_kind, expect_ok};

fn main() {
    let shared = |path: &str| {
        Lock::new(path)
            .shared()
            .create(false)
            .write(false)
            .timeout(Duration::from_secs(2))
    };
    expect_kind(
        "data.txt write",
        shared("data.txt").write(true).acquire(),
        ErrorKind::NotPermitted,
    );
    expect_kind(
        "data.txt create",
        shared("data.txt").create(true).acquire(),
        ErrorKind::NotPermitted,
    );
    expect_kind(
        "missing.lock create",
        shared("missing.lock").create(true).acquire(),
        ErrorKind::NotPermitted,
    );
    expect_kind(
        "missing.lock",
        shared("missing.lock").acquire(),
        ErrorKind::NotFound,
    );
    for (case, lock) in [
        (
            "data.txt truncate",
            shared("data.txt").exclusive().write(true).truncate(true),
        ),
        (
            "missing.lock create truncate",
            shared("missing.lock")
                .exclusive()
                .create(true)
                .write(true)
                .truncate(true),
        ),
    ] {
        match lock.acquire() {
            Ok(_) => panic!("{case}: succeeded through a read-only preopen"),
            Err(error) => {
                println!("{case}: {}", error.kind().name());
                assert!(
                    matches!(error.kind(), ErrorKind::NotPermitted | ErrorKind::Denied),
                    "{case}: {error}"
                );
            }
        }
    }
    let guard = expect_ok("data.txt shared read-only", shared("data.txt").acquire());
    assert_eq!(guard.contents_string().expect("read"), "inside");
    expect_ok("release", guard.release());
    println!("ok");
}
