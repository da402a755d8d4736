//! `filelock_range_policy CASE ARGS...`: the host's policy applied to byte
//! ranges; the host test configures the policy each case expects.
//!
//! - `read-only PATH` (PATH exists, preopen read-only, default policy): an
//!   exclusive range is `denied`, a shared one works.
//! - `held PATH OTHER` (at most 2 held locks): each range held counts, merged
//!   ranges count once, a lock or an unlock that would split past the limit
//!   is `limit-reached(held-locks)` and changes nothing, and ranges and
//!   whole-file locks share the limit.
//! - `waits PATH` (at most 1 pending wait, byte 0 of PATH held natively): a
//!   second waiting range request is `limit-reached(pending-waits)`.
//! - `wait-time PATH` (waits limited to 200 ms, byte 0 of PATH held
//!   natively): a wait without timeout ends with `limit-reached(wait-time)`,
//!   a shorter own timeout with `timed-out`.
//! - `lock-dirs ALLOWED OTHER` (locking allowed under ALLOWED's directory
//!   only): ALLOWED's ranges lock, OTHER's are `denied`.

use std::time::{Duration, Instant};

use portalocker_guest::wit::range_lock::{self, ByteRange};
use portalocker_guest::wit::types::{LockError, LockMode};
use portalocker_guest::{
    ErrorKind, Limit, Lock, Mode, lock_range, lock_range_timeout, preopens, test_range,
    try_lock_range, unlock_range,
};
use portalocker_programs::{args, expect_kind, expect_ok, usage};

const USAGE: &str = "filelock_range_policy read-only|held|waits|wait-time|lock-dirs ARGS...";

fn main() {
    let args = args();
    let Some((case, rest)) = args.split_first() else {
        usage(USAGE, "a case");
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (case.as_str(), rest.as_slice()) {
        ("read-only", [path]) => read_only(path),
        ("held", [path, other]) => held(path, other),
        ("waits", [path]) => waits(path),
        ("wait-time", [path]) => wait_time(path),
        ("lock-dirs", [allowed, other]) => lock_dirs(allowed, other),
        _ => usage(USAGE, "unknown case or wrong arguments"),
    }
    println!("ok");
}

fn read_only(path: &str) {
    let file = expect_ok("open read-only", preopens::open_file(path, false, false));
    expect_kind(
        "exclusive",
        try_lock_range(&file, 0..1, Mode::Exclusive),
        ErrorKind::Denied,
    );
    drop(expect_ok(
        "shared",
        try_lock_range(&file, 0..1, Mode::Shared),
    ));
}

fn held(path: &str, other: &str) {
    let full = ErrorKind::LimitReached(Limit::HeldLocks);
    let x = Mode::Exclusive;
    let file = expect_ok("open", preopens::open_file(path, true, true));
    std::mem::forget(expect_ok("0..10", try_lock_range(&file, 0..10, x)));
    std::mem::forget(expect_ok("20..30", try_lock_range(&file, 20..30, x)));
    expect_kind("40..50 is a third", try_lock_range(&file, 40..50, x), full);
    // The same range again, or one that merges, adds nothing.
    std::mem::forget(expect_ok("0..10 again", try_lock_range(&file, 0..10, x)));
    std::mem::forget(expect_ok(
        "10..20 merges all",
        try_lock_range(&file, 10..20, x),
    ));
    std::mem::forget(expect_ok("40..50 now", try_lock_range(&file, 40..50, x)));
    // Two ranges held (0..30, 40..50): splitting one would make three.
    expect_kind("split by unlock", unlock_range(&file, 5..6), full);
    expect_kind(
        "split by conversion",
        try_lock_range(&file, 5..6, Mode::Shared),
        full,
    );
    // Refused: nothing changed, 5..6 is still exclusive.
    let probe = expect_ok("open probe", preopens::open_file(path, true, true));
    let conflict = expect_ok("test 5..6", test_range(&probe, 5..6, Mode::Shared));
    assert_eq!(
        conflict.map(|c| (c.mode, c.start, c.end)),
        Some((x, 0, Some(30)))
    );
    println!("still exclusive: ok");
    // Whole-file locks share the limit.
    expect_kind(
        "path lock while two ranges are held",
        Lock::new(other).no_wait().acquire(),
        full,
    );
    expect_ok("unlock 40..50", unlock_range(&file, 40..50));
    let whole = expect_ok("path lock", Lock::new(other).no_wait().acquire());
    expect_kind("range while full", try_lock_range(&file, 60..70, x), full);
    let request = range_lock::request_lock(
        &file,
        ByteRange {
            start: 60,
            length: 10,
        },
        LockMode::Exclusive,
        None,
    );
    let answer = request.get().expect("refused at once").expect("first get");
    assert!(
        matches!(answer, Err(LockError::LimitReached(_))),
        "{answer:?}"
    );
    println!("request while full: limit-reached");
    expect_ok("release path lock", whole.release());
    std::mem::forget(expect_ok("60..70 after", try_lock_range(&file, 60..70, x)));
    // Unlocking everything frees the room of both ranges.
    expect_ok("unlock all", unlock_range(&file, ..));
    let a = expect_ok("a after unlock all", Lock::new(other).no_wait().acquire());
    std::mem::forget(expect_ok(
        "b after unlock all",
        try_lock_range(&file, 0..1, x),
    ));
    drop(a);
}

fn waits(path: &str) {
    let file = expect_ok("open", preopens::open_file(path, true, true));
    let byte = ByteRange {
        start: 0,
        length: 1,
    };
    let first = range_lock::request_lock(&file, byte, LockMode::Exclusive, None);
    assert!(first.get().is_none(), "the first request should wait");
    let second = range_lock::request_lock(&file, byte, LockMode::Exclusive, None);
    let answer = second.get().expect("the second is refused at once");
    assert!(
        matches!(
            answer,
            Ok(Err(LockError::LimitReached(
                portalocker_guest::wit::types::Limit::PendingWaits
            )))
        ),
        "{answer:?}"
    );
    println!("second request: limit-reached");
    expect_kind(
        "blocking lock",
        lock_range_timeout(&file, 0..1, Mode::Shared, Duration::from_millis(500)),
        ErrorKind::LimitReached(Limit::PendingWaits),
    );
    drop(first);
    let third = range_lock::request_lock(&file, byte, LockMode::Exclusive, None);
    assert!(third.get().is_none(), "a slot is free again");
}

fn wait_time(path: &str) {
    let file = expect_ok("open", preopens::open_file(path, true, true));
    let start = Instant::now();
    expect_kind(
        "no timeout",
        lock_range(&file, 0..1, Mode::Exclusive),
        ErrorKind::LimitReached(Limit::WaitTime),
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "cut short after {waited:?}"
    );
    expect_kind(
        "own shorter timeout",
        lock_range_timeout(&file, 0..1, Mode::Exclusive, Duration::from_millis(50)),
        ErrorKind::TimedOut,
    );
}

fn lock_dirs(allowed: &str, other: &str) {
    let allowed = expect_ok("open allowed", preopens::open_file(allowed, true, true));
    drop(expect_ok(
        "allowed",
        try_lock_range(&allowed, 0..1, Mode::Exclusive),
    ));
    let other = expect_ok("open other", preopens::open_file(other, true, true));
    expect_kind(
        "other",
        try_lock_range(&other, 0..1, Mode::Exclusive),
        ErrorKind::Denied,
    );
}
