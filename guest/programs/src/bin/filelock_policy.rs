//! `filelock_policy CASE ARGS...`: checks the host's policy errors; the host
//! test configures the policy each case expects.
//!
//! - `read-only PATH` (PATH exists, preopen read-only, default policy):
//!   exclusive locks are `denied` on both layers, shared ones work, and write,
//!   create or truncate are `not-permitted` (checked first).
//! - `held A B C` (at most 2 held locks): the third lock, by path or by
//!   descriptor, is `limit-reached(held-locks)` until one is released.
//! - `waits PATH` (at most 1 pending wait, PATH held natively): a second
//!   waiting request is `limit-reached(pending-waits)`.
//! - `wait-time PATH` (waits limited to 200 ms, PATH held natively): a wait
//!   without timeout ends with `limit-reached(wait-time)`, a shorter own
//!   timeout with `timed-out`.
//! - `lock-dirs ALLOWED OTHER` (locking allowed under ALLOWED's directory
//!   only): ALLOWED locks, OTHER is `denied` on both layers.

use std::time::{Duration, Instant};

use portalocker_guest::{ErrorKind, Limit, Lock, Mode, lock_timeout, preopens, try_lock};
use portalocker_programs::{args, expect_kind, expect_ok, usage};

const USAGE: &str = "filelock_policy read-only|held|waits|wait-time|lock-dirs ARGS...";

fn main() {
    let args = args();
    let Some((case, rest)) = args.split_first() else {
        usage(USAGE, "a case");
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (case.as_str(), rest.as_slice()) {
        ("read-only", [path]) => read_only(path),
        ("held", [a, b, c]) => held(a, b, c),
        ("waits", [path]) => waits(path),
        ("wait-time", [path]) => wait_time(path),
        ("lock-dirs", [allowed, other]) => lock_dirs(allowed, other),
        _ => usage(USAGE, "unknown case or wrong arguments"),
    }
    println!("ok");
}

fn read_only(path: &str) {
    let reader = Lock::new(path).write(false).create(false);
    expect_kind(
        "path exclusive",
        reader.clone().exclusive().acquire(),
        ErrorKind::Denied,
    );
    let _shared = expect_ok("path shared", reader.clone().shared().acquire());
    expect_kind(
        "path shared write",
        reader.clone().shared().write(true).acquire(),
        ErrorKind::NotPermitted,
    );
    expect_kind(
        "path truncate",
        Lock::new(path)
            .exclusive()
            .write(true)
            .truncate(true)
            .create(false)
            .acquire(),
        ErrorKind::NotPermitted,
    );
    expect_kind(
        "path create",
        Lock::new("new.lock")
            .shared()
            .write(false)
            .create(true)
            .acquire(),
        ErrorKind::NotPermitted,
    );
    let file = expect_ok("open read-only", preopens::open_file(path, false, false));
    expect_kind(
        "handle exclusive",
        try_lock(&file, Mode::Exclusive),
        ErrorKind::Denied,
    );
    expect_ok("handle shared", try_lock(&file, Mode::Shared));
}

fn held(a: &str, b: &str, c: &str) {
    let first = expect_ok("first", Lock::new(a).no_wait().acquire());
    let _second = expect_ok("second", Lock::new(b).no_wait().acquire());
    let full = ErrorKind::LimitReached(Limit::HeldLocks);
    expect_kind("third by path", Lock::new(c).no_wait().acquire(), full);
    let file = expect_ok("open third", preopens::open_file(c, true, true));
    expect_kind(
        "third by descriptor",
        try_lock(&file, Mode::Exclusive),
        full,
    );
    expect_ok("release first", first.release());
    expect_ok("third after a release", try_lock(&file, Mode::Exclusive));
    expect_kind("fourth", Lock::new(a).no_wait().acquire(), full);
}

fn waits(path: &str) {
    let first = expect_ok("first request", Lock::new(path).request());
    assert!(first.try_take().is_none(), "the first request should wait");
    let second = expect_ok("second request", Lock::new(path).request());
    let answer = second
        .try_take()
        .expect("the second request is refused at once");
    expect_kind(
        "second waits",
        answer,
        ErrorKind::LimitReached(Limit::PendingWaits),
    );
    drop(first);
    let third = expect_ok("third request", Lock::new(path).request());
    assert!(
        third.try_take().is_none(),
        "a slot is free again once the first is dropped"
    );
}

fn wait_time(path: &str) {
    let start = Instant::now();
    expect_kind(
        "no timeout",
        Lock::new(path).wait_forever().acquire(),
        ErrorKind::LimitReached(Limit::WaitTime),
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "cut short after {waited:?}"
    );
    let file = expect_ok("open", preopens::open_file(path, true, true));
    expect_kind(
        "own shorter timeout",
        lock_timeout(&file, Mode::Exclusive, Duration::from_millis(50)),
        ErrorKind::TimedOut,
    );
}

fn lock_dirs(allowed: &str, other: &str) {
    let _allowed = expect_ok("allowed", Lock::new(allowed).no_wait().acquire());
    expect_kind(
        "other by path",
        Lock::new(other).no_wait().acquire(),
        ErrorKind::Denied,
    );
    let file = expect_ok("open other", preopens::open_file(other, true, true));
    expect_kind(
        "other by descriptor",
        try_lock(&file, Mode::Exclusive),
        ErrorKind::Denied,
    );
}
