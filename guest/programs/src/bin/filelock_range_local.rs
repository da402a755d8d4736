//! `filelock_range_local`
//!
//! Byte-range locks between two open files (`a`, `b`) of `ranges.db` in the
//! preopen `/`, checking POSIX record-lock semantics through the WIT
//! `range-lock`: overlapping and adjacent ranges, shared against exclusive,
//! a partial unlock splitting a range, adjacent ranges merging, an atomic
//! conversion that keeps the old lock when refused, ranges to the end of the
//! file, `test` reporting the holder, pollable requests (timing out, granted
//! on release, cancelled, a cancelled conversion keeping its old lock),
//! dropping a descriptor releasing its ranges, and the errors (a directory,
//! a read-only descriptor, bad ranges). Also: whole-file locks and range
//! locks are separate families on Linux. Prints a line per check, then `ok`.

use std::time::Duration;

use portalocker_guest::wit::range_lock::{self, ByteRange};
use portalocker_guest::wit::types::{LockError, LockMode};
use portalocker_guest::{
    ErrorKind, Mode, RangeConflict, lock, lock_range, preopens, test_range, try_lock_range,
    unlock_range,
};
use portalocker_programs::{expect_kind, expect_ok, poll_ready};
use wasip2::filesystem::types::Descriptor;

const PATH: &str = "/ranges.db";
const BUSY: ErrorKind = ErrorKind::AlreadyLocked;

fn conflict(mode: Mode, start: u64, end: Option<u64>) -> Option<RangeConflict> {
    Some(RangeConflict {
        mode,
        start,
        end,
        pid: None,
    })
}

fn main() {
    let a = expect_ok("open a", preopens::open_file(PATH, true, true));
    let b = expect_ok("open b", preopens::open_file(PATH, true, true));
    overlapping_and_adjacent(&a, &b);
    shared_and_exclusive(&a, &b);
    split_and_merge(&a, &b);
    conversion(&a, &b);
    to_the_end(&a, &b);
    assert_eq!(
        expect_ok("nothing left held", test_range(&b, 0.., Mode::Exclusive)),
        None
    );
    assert_eq!(
        expect_ok(
            "nothing left held by b",
            test_range(&a, 0.., Mode::Exclusive)
        ),
        None
    );

    // Whole-file locks (flock) and range locks are separate families on
    // Linux: both are granted on the same bytes.
    expect_ok("a whole-file exclusive", lock(&a, Mode::Exclusive));
    drop(expect_ok(
        "b range beside a's whole-file lock",
        try_lock_range(&b, 0.., Mode::Exclusive),
    ));
    expect_ok("a whole-file unlock", portalocker_guest::unlock(&a));

    requests(&a, &b);

    // Dropping a descriptor closes its open file and releases its ranges.
    std::mem::forget(expect_ok(
        "a everything",
        try_lock_range(&a, 0.., Mode::Exclusive),
    ));
    expect_kind(
        "b while a holds everything",
        try_lock_range(&b, 7..8, Mode::Shared),
        BUSY,
    );
    drop(a);
    drop(expect_ok(
        "b after a was dropped",
        try_lock_range(&b, 0.., Mode::Exclusive),
    ));

    errors(&b);
    println!("ok");
}

/// Overlapping ranges of two open files conflict; adjacent ones do not.
fn overlapping_and_adjacent(a: &Descriptor, b: &Descriptor) {
    let (x, s) = (Mode::Exclusive, Mode::Shared);
    let _a_head = expect_ok("a 0..10 exclusive", try_lock_range(a, 0..10, x));
    expect_kind("b 5..6 shared", try_lock_range(b, 5..6, s), BUSY);
    expect_kind("b 9..=9 exclusive", try_lock_range(b, 9..=9, x), BUSY);
    let _b_next = expect_ok("b 10..20 exclusive", try_lock_range(b, 10..20, x));
    assert_eq!(
        expect_ok("a tests 0..30", test_range(a, 0..30, s)),
        conflict(x, 10, Some(20)),
        "a's own range is never reported; b's is"
    );
    assert_eq!(
        expect_ok("b tests 0..30", test_range(b, 0..30, s)),
        conflict(x, 0, Some(10))
    );
}

/// Shared ranges coexist and exclude exclusive ones.
fn shared_and_exclusive(a: &Descriptor, b: &Descriptor) {
    let (x, s) = (Mode::Exclusive, Mode::Shared);
    assert_eq!(expect_ok("free after drop", test_range(a, 0..30, x)), None);
    let _a_shared = expect_ok("a 100..200 shared", try_lock_range(a, 100..200, s));
    let _b_shared = expect_ok("b 150..250 shared", try_lock_range(b, 150..250, s));
    expect_kind("a 240..260 exclusive", try_lock_range(a, 240..260, x), BUSY);
    assert_eq!(
        expect_ok("a tests 240..260", test_range(a, 240..260, x)),
        conflict(s, 150, Some(250))
    );
    assert_eq!(expect_ok("shared test", test_range(a, 240..260, s)), None);
}

/// A partial unlock splits a range; adjacent ranges of one mode merge;
/// locking a range twice is one lock.
fn split_and_merge(a: &Descriptor, b: &Descriptor) {
    let (x, s) = (Mode::Exclusive, Mode::Shared);
    std::mem::forget(expect_ok("a 1000..1100", try_lock_range(a, 1000..1100, x)));
    expect_ok("a unlocks 1040..1050", unlock_range(a, 1040..1050));
    let middle = expect_ok("b 1040..1050 in the hole", try_lock_range(b, 1040..1050, x));
    expect_kind("b 1039 still a's", try_lock_range(b, 1039..1040, x), BUSY);
    expect_kind("b 1050 still a's", try_lock_range(b, 1050..1051, x), BUSY);
    drop(middle);
    expect_ok("a unlocks all of it", unlock_range(a, 1000..1100));

    std::mem::forget(expect_ok("a 2000..2010", try_lock_range(a, 2000..2010, x)));
    std::mem::forget(expect_ok("a 2010..2020", try_lock_range(a, 2010..2020, x)));
    expect_kind("b 2005..2015", try_lock_range(b, 2005..2015, s), BUSY);
    expect_ok("a unlocks 2000..2020", unlock_range(a, 2000..2020));
    drop(expect_ok(
        "b 2000..2020 after",
        try_lock_range(b, 2000..2020, x),
    ));

    let once = expect_ok("a 2100..2110", try_lock_range(a, 2100..2110, s));
    let twice = expect_ok("a 2100..2110 again", try_lock_range(a, 2100..2110, s));
    drop(once);
    drop(expect_ok(
        "b after one unlock",
        try_lock_range(b, 2100..2110, x),
    ));
    drop(twice);
}

/// Conversion is atomic: a refused upgrade keeps the shared lock; a
/// downgrade of part of a range converts that part only.
fn conversion(a: &Descriptor, b: &Descriptor) {
    let (x, s) = (Mode::Exclusive, Mode::Shared);
    let _a_low = expect_ok("a 3000..3010 shared", try_lock_range(a, 3000..3010, s));
    let b_one = expect_ok("b 3005..3006 shared", try_lock_range(b, 3005..3006, s));
    expect_kind("a upgrade refused", try_lock_range(a, 3000..3010, x), BUSY);
    assert_eq!(
        expect_ok("b sees a still shared", test_range(b, 3000..3001, x)),
        conflict(s, 3000, Some(3010))
    );
    drop(b_one);
    let _upgraded = expect_ok("a upgrade", try_lock_range(a, 3000..3010, x));
    assert_eq!(
        expect_ok("b sees a exclusive", test_range(b, 3009..3010, s)),
        conflict(x, 3000, Some(3010))
    );
    let _part = expect_ok("a downgrade 3000..3005", try_lock_range(a, 3000..3005, s));
    drop(expect_ok(
        "b shares 3000..3005",
        try_lock_range(b, 3000..3005, s),
    ));
    expect_kind(
        "b 3005..3010 still exclusive",
        try_lock_range(b, 3005..3010, s),
        BUSY,
    );
}

/// Length zero: to the end of the file, however far.
fn to_the_end(a: &Descriptor, b: &Descriptor) {
    let to_end = expect_ok(
        "a 5000.. exclusive",
        try_lock_range(a, 5000.., Mode::Exclusive),
    );
    assert_eq!(to_end.end(), None);
    expect_kind(
        "b far beyond the end",
        try_lock_range(b, 1 << 40..(1 << 40) + 1, Mode::Shared),
        BUSY,
    );
    assert_eq!(
        expect_ok("b tests far", test_range(b, 1 << 50.., Mode::Shared)),
        conflict(Mode::Exclusive, 5000, None)
    );
}

/// Pollable range requests: one that times out, one granted when the
/// holder unlocks, and a cancelled one that leaves nothing locked.
fn requests(a: &Descriptor, b: &Descriptor) {
    let range = ByteRange {
        start: 7000,
        length: 10,
    };
    let held = expect_ok("a 7000..7010", lock_range(a, 7000..7010, Mode::Exclusive));
    let pending = range_lock::request_lock(
        b,
        range,
        LockMode::Exclusive,
        Some(Duration::from_millis(100).as_nanos() as u64),
    );
    let ready = pending.subscribe();
    poll_ready(&ready);
    drop(ready);
    let answer = pending.get().expect("ready").expect("first get");
    assert!(
        matches!(answer, Err(LockError::TimedOut)),
        "request timed out: {answer:?}"
    );
    println!("request times out: ok");
    assert!(pending.get().expect("answered").is_err(), "second get");

    let pending = range_lock::request_lock(b, range, LockMode::Exclusive, None);
    assert!(pending.get().is_none(), "waits while a holds the range");
    drop(held);
    let ready = pending.subscribe();
    poll_ready(&ready);
    drop(ready);
    assert!(matches!(pending.get(), Some(Ok(Ok(())))), "granted");
    println!("request granted on unlock: ok");
    expect_kind(
        "a meets b's granted range",
        try_lock_range(a, 7000..7001, Mode::Shared),
        BUSY,
    );
    expect_ok("b unlocks", unlock_range(b, 7000..7010));

    // A request granted but never collected is unlocked when dropped.
    let pending = range_lock::request_lock(b, range, LockMode::Exclusive, None);
    let ready = pending.subscribe();
    poll_ready(&ready);
    drop(ready);
    drop(pending);
    drop(expect_ok(
        "a after an uncollected request",
        try_lock_range(a, 7000..7010, Mode::Exclusive),
    ));

    // A conversion request cancelled while it waits keeps the old lock: the
    // upgrade waits with the shared lock held, and dropping the request
    // ends the wait without taking anything or giving anything up.
    let shared = ByteRange {
        start: 8000,
        length: 10,
    };
    let a_shared = expect_ok(
        "a 8000..8010 shared",
        lock_range(a, 8000..8010, Mode::Shared),
    );
    let b_reader = expect_ok(
        "b 8005..8006 shared",
        lock_range(b, 8005..8006, Mode::Shared),
    );
    let upgrade = range_lock::request_lock(a, shared, LockMode::Exclusive, None);
    assert!(upgrade.get().is_none(), "the upgrade waits for b's reader");
    drop(upgrade);
    assert_eq!(
        expect_ok(
            "b sees a still shared",
            test_range(b, 8000..8001, Mode::Exclusive)
        ),
        conflict(Mode::Shared, 8000, Some(8010))
    );
    drop(b_reader);
    let upgrade = range_lock::request_lock(a, shared, LockMode::Exclusive, None);
    let ready = upgrade.subscribe();
    poll_ready(&ready);
    drop(ready);
    assert!(matches!(upgrade.get(), Some(Ok(Ok(())))), "upgraded");
    assert_eq!(
        expect_ok(
            "b sees a exclusive",
            test_range(b, 8000..8001, Mode::Shared)
        ),
        conflict(Mode::Exclusive, 8000, Some(8010))
    );
    println!("cancelled conversion keeps the old lock: ok");
    drop(a_shared);
}

fn errors(file: &Descriptor) {
    let (root, _) = expect_ok("resolve /", preopens::resolve("/"));
    expect_kind(
        "directory",
        try_lock_range(&root, 0..1, Mode::Shared),
        ErrorKind::BadDescriptor,
    );
    expect_kind(
        "directory test",
        test_range(&root, 0..1, Mode::Shared),
        ErrorKind::BadDescriptor,
    );
    expect_kind(
        "empty range",
        try_lock_range(file, 5..5, Mode::Shared),
        ErrorKind::InvalidOptions,
    );
    expect_kind(
        "past 2^63",
        try_lock_range(file, (1 << 63) - 1..(1 << 63) + 1, Mode::Shared),
        ErrorKind::InvalidOptions,
    );
    // The raw WIT: a start at 2^63, even "to the end".
    let raw = range_lock::try_lock(
        file,
        ByteRange {
            start: 1 << 63,
            length: 0,
        },
        LockMode::Shared,
    );
    assert!(matches!(raw, Err(LockError::InvalidOptions)), "{raw:?}");
    println!("start at 2^63: invalid-options");
    drop(expect_ok(
        "the last lockable byte",
        try_lock_range(file, (1 << 63) - 1..1 << 63, Mode::Exclusive),
    ));
    let reader = expect_ok("open read-only", preopens::open_file(PATH, false, false));
    expect_kind(
        "read-only exclusive",
        try_lock_range(&reader, 0..1, Mode::Exclusive),
        ErrorKind::NotPermitted,
    );
    drop(expect_ok(
        "read-only shared",
        try_lock_range(&reader, 0..1, Mode::Shared),
    ));
}
