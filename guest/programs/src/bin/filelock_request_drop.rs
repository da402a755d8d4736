//! `filelock_request_drop`
//!
//! Uncollected requests leave no lock behind, on `free.lock` in the preopen
//! `/` (nothing else holds it). Handle layer: on descriptor A, a collected
//! request holds the lock (descriptor B cannot take it); after unlocking, a
//! request that became ready but is dropped uncollected leaves none (B's
//! `try_lock` exclusive succeeds, while A is still open). Path layer: a
//! request that became ready (seen through its pollable) and is dropped
//! uncollected leaves none (a `no_wait` acquire succeeds). Prints a line per
//! check, then `ok`.

use portalocker_guest::{ErrorKind, Lock, Mode, preopens, request_lock, try_lock, unlock};
use portalocker_programs::{expect_kind, expect_ok, poll_ready};

const PATH: &str = "free.lock";

fn main() {
    let a = expect_ok("open A", preopens::open_file(PATH, true, true));
    let b = expect_ok("open B", preopens::open_file(PATH, true, true));

    // Control: a collected request does hold the lock.
    expect_ok(
        "A request collected",
        request_lock(&a, Mode::Exclusive, None).wait(),
    );
    expect_kind(
        "B try-lock",
        try_lock(&b, Mode::Exclusive),
        ErrorKind::AlreadyLocked,
    );
    expect_ok("A unlock", unlock(&a));

    let request = request_lock(&a, Mode::Exclusive, None);
    poll_ready(&request.subscribe());
    drop(request);
    println!("A request dropped uncollected");
    expect_ok("B try-lock", try_lock(&b, Mode::Exclusive));
    expect_ok("B unlock", unlock(&b));

    let request = expect_ok("path request", Lock::new(PATH).request());
    poll_ready(&request.subscribe());
    drop(request);
    println!("path request dropped uncollected");
    let guard = expect_ok("acquire no-wait", Lock::new(PATH).no_wait().acquire());
    expect_ok("release", guard.release());

    drop(a);
    println!("ok");
}
