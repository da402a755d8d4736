//! `filelock_named CASE`: named locks (WIT `named-lock`) in the namespace
//! `jobs` the host grants, on whichever service the host test chose.
//!
//! - `semantics` (default policy): namespaces and names are checked; a
//!   lock excludes every other lock on its name, also in this instance
//!   (`already-locked`, `timed-out` after the timeout); shared locks share;
//!   fencing tokens grow with every acquisition; release is idempotent and
//!   dropping a lock releases it; a request is answered through its
//!   pollable, a request dropped before its answer never takes the lock,
//!   and a request's timeout counts; a held lock's lost pollable is not
//!   ready.
//! - `limits` (at most 2 held locks, 1 pending wait, waits of 200 ms):
//!   named locks and file locks count together toward the held-lock limit;
//!   a wait beyond the host's longest is `limit-reached(wait-time)`; a
//!   second wait while one is pending is `limit-reached(pending-waits)`.

use std::time::{Duration, Instant};

use portalocker_guest::{
    ErrorKind, Limit, Lock, NamedErrorKind, NamedGuard, NamedLock, NamedLockError,
    granted_namespaces,
};
use portalocker_programs::{args, expect_ok, usage};
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::io::poll::poll;

const USAGE: &str = "filelock_named semantics|limits";

fn main() {
    match args().first().map(String::as_str) {
        Some("semantics") => semantics(),
        Some("limits") => limits(),
        _ => usage(USAGE, "a case"),
    }
    println!("ok");
}

/// The lock on `name` in `jobs`, exclusive, waiting forever.
fn lock(name: &str) -> NamedLock {
    NamedLock::new("jobs", name)
}

#[track_caller]
fn held(case: &str, result: Result<NamedGuard, NamedLockError>) -> NamedGuard {
    result.unwrap_or_else(|err| panic!("{case}: expected the lock, got {err}"))
}

#[track_caller]
fn refused<T>(case: &str, result: Result<T, NamedLockError>, expected: NamedErrorKind) {
    match result {
        Ok(_) => panic!("{case}: expected {}, got the lock", expected.name()),
        Err(err) => assert_eq!(err.kind(), expected, "{case}: {err}"),
    }
}

#[track_caller]
fn token(guard: &NamedGuard) -> u64 {
    guard
        .fencing_token()
        .expect("this namespace gives every acquisition a token")
}

/// Whether `pollable`-like readiness came within `wait`: polls the
/// request's pollable against a timer.
fn ready_within(ready: &wasip2::io::poll::Pollable, wait: Duration) -> bool {
    let timer = subscribe_duration(wait.as_nanos() as u64);
    poll(&[ready, &timer]).contains(&0)
}

fn semantics() {
    assert!(
        granted_namespaces().iter().any(|name| name == "jobs"),
        "the host grants `jobs`: {:?}",
        granted_namespaces()
    );
    refused(
        "unknown namespace",
        NamedLock::new("nope", "k").no_wait().acquire(),
        NamedErrorKind::NoSuchNamespace,
    );
    for bad in [String::new(), "x".repeat(256), "a\nb".to_owned()] {
        refused(
            &format!("name {bad:?}"),
            lock(&bad).no_wait().acquire(),
            NamedErrorKind::InvalidName,
        );
    }

    // Exclusion, within this instance too.
    let first = held("first", lock("k").acquire());
    assert!(first.is_held() && first.name() == "k" && first.namespace() == "jobs");
    let t1 = token(&first);
    refused(
        "second, no wait",
        lock("k").no_wait().acquire(),
        NamedErrorKind::AlreadyLocked,
    );
    refused(
        "shared beside exclusive",
        lock("k").shared().no_wait().acquire(),
        NamedErrorKind::AlreadyLocked,
    );
    let start = Instant::now();
    refused(
        "second, 100 ms",
        lock("k").timeout(Duration::from_millis(100)).acquire(),
        NamedErrorKind::TimedOut,
    );
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "timed out before the timeout"
    );
    held("another name", lock("other").no_wait().acquire())
        .release()
        .expect("release another name");

    // A held lock is not lost.
    let lost = first.lost();
    assert!(!ready_within(&lost, Duration::from_millis(20)), "not lost");
    drop(lost);

    // A request dropped before its answer never takes the lock.
    let request = lock("k").request().expect("request");
    let ready = request.subscribe();
    assert!(!ready_within(&ready, Duration::from_millis(50)));
    assert!(request.try_take().is_none(), "no answer while held");
    drop(ready);
    drop(request);

    first.release().expect("release");
    let again = held("after release", lock("k").no_wait().acquire());
    let t2 = token(&again);
    assert!(t2 > t1, "tokens grow: {t1} then {t2}");

    // A request is answered once the holder lets go.
    let request = lock("k").request().expect("request");
    let ready = request.subscribe();
    assert!(!ready_within(&ready, Duration::from_millis(20)));
    drop(again);
    assert!(
        ready_within(&ready, Duration::from_secs(30)),
        "the request gets the lock once it is free"
    );
    drop(ready);
    let answered = held("request", request.try_take().expect("an answer"));
    let t3 = token(&answered);
    assert!(t3 > t2, "tokens grow: {t2} then {t3}");
    assert!(
        request.try_take().is_some_and(|answer| answer.is_err()),
        "an answer is collected once"
    );
    drop(request);

    // A request's timeout counts from the request.
    let timing = lock("k")
        .timeout(Duration::from_millis(100))
        .request()
        .expect("request");
    refused("request, 100 ms", timing.wait(), NamedErrorKind::TimedOut);
    drop(answered);

    // Shared locks share, and each gets a token of its own.
    let readers: Vec<NamedGuard> = (0..2)
        .map(|_| held("reader", lock("k").shared().no_wait().acquire()))
        .collect();
    let (r1, r2) = (token(&readers[0]), token(&readers[1]));
    assert!(r1 > t3 && r2 > r1, "tokens grow: {t3}, {r1}, {r2}");
    refused(
        "writer beside readers",
        lock("k").no_wait().acquire(),
        NamedErrorKind::AlreadyLocked,
    );
    for reader in readers {
        reader.release().expect("release a reader");
    }
    let writer = held("writer after readers", lock("k").no_wait().acquire());
    writer.release().expect("release the writer");
}

fn limits() {
    // Held locks: one file lock and one named lock are the two allowed.
    let file = expect_ok("file lock", Lock::new("a.lock").acquire());
    let x = held("x", lock("x").no_wait().acquire());
    let full = lock("y").no_wait().acquire();
    refused(
        "third lock, named",
        full,
        NamedErrorKind::LimitReached(Limit::HeldLocks),
    );
    match Lock::new("b.lock").acquire() {
        Err(err) => assert_eq!(err.kind(), ErrorKind::LimitReached(Limit::HeldLocks)),
        Ok(_) => panic!("third lock, by path: the named lock counts"),
    }
    x.release().expect("release x");
    let y = held("y once x is released", lock("y").no_wait().acquire());
    drop(file);

    // Wait time: the host's 200 ms win over a longer or absent timeout.
    for timeout in [None, Some(Duration::from_secs(30))] {
        let mut waiting = NamedLock::new("jobs", "y");
        if let Some(timeout) = timeout {
            waiting = waiting.timeout(timeout);
        }
        let start = Instant::now();
        refused(
            &format!("wait beyond the host's limit ({timeout:?})"),
            waiting.acquire(),
            NamedErrorKind::LimitReached(Limit::WaitTime),
        );
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(20),
            "the host's limit ended the wait after {waited:?}"
        );
    }

    // Pending waits: one request waits; a second wait is refused.
    let request = lock("y").request().expect("request");
    let ready = request.subscribe();
    assert!(
        !ready_within(&ready, Duration::from_millis(100)),
        "it waits"
    );
    refused(
        "a second wait",
        lock("y").timeout(Duration::from_millis(150)).acquire(),
        NamedErrorKind::LimitReached(Limit::PendingWaits),
    );
    drop(ready);
    drop(request);
    y.release().expect("release y");
}
