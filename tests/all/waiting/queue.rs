//! The queue of waiters and the requests in it: a holder's second shared
//! lock, a request that repeats a held mode, the held-locks limit at a
//! request's completion.

use std::sync::mpsc::TryRecvError;
use std::time::Duration;

use portalocker_host::FileLockCtx;
use portalocker_tests::native::{self, Mode};
use portalocker_tests::{Flavour, Sandbox, guests};

use super::{WATCHDOG, finished, line_value, reached, spawn_run};

/// Guest A holds `n.lock` shared; instance B queues for it exclusively (10 s
/// timeout); then A takes a second shared lock on a separate open file.
/// `flock(2)` grants it at once, since only a shared lock is held; a host
/// that queued it behind B would keep it until A's 3 s deadline while B
/// waits for A.
fn nested_shared_lock_is_not_queued(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let holder = spawn_run(
        flavour,
        guests::WAITING_NESTED_SHARED,
        sandbox.invocation(&["holder", "n.lock", "3000"]),
    );
    reached(&sandbox, "a-holds");
    let queued = spawn_run(
        flavour,
        guests::WAITING_NESTED_SHARED,
        sandbox.invocation(&["queued", "n.lock", "10000"]),
    );
    reached(&sandbox, "b-queued");
    // B has been seen by the host and lined up; now it waits for its answer.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !native::can_lock(&sandbox.path("n.lock"), Mode::Exclusive),
        "A does not hold its shared lock"
    );
    assert!(
        matches!(queued.try_recv(), Err(TryRecvError::Empty)),
        "B did not wait for A's shared lock"
    );
    std::fs::write(sandbox.path("go"), "").unwrap();
    let holder = finished(&holder, WATCHDOG, "holder A");
    let queued = finished(&queued, WATCHDOG * 2, "queued B");
    holder.assert_success();
    queued.assert_success();
    let second = line_value(&holder, "second").expect("A prints `second: <outcome>`");
    let waited_us = holder.value("elapsed_us").expect("A prints elapsed_us");
    eprintln!(
        "{flavour:?}: A's second shared lock behind B's queued exclusive: `{second}` after \
         {waited_us} µs"
    );
    assert_eq!(
        second, "ok",
        "A's second shared lock failed after {waited_us} µs"
    );
    assert!(
        waited_us < 1_000_000,
        "A's second shared lock took {waited_us} µs: it was queued behind B, which waits for A"
    );
    assert_eq!(
        line_value(&queued, "exclusive").as_deref(),
        Some("ok"),
        "B never got its exclusive lock after A released"
    );
}

under_both_linkers!(nested_shared_lock_is_not_queued);

// --- A request that repeats a held mode -------------------------------------

/// A descriptor locked in a mode, then an uncollected request for the same
/// mode on it, dropped once ready: the descriptor still holds its lock, as
/// a second descriptor of the guest and `flock -n` both see.
fn repeated_request_leaves_the_lock(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let path = sandbox.path("r.lock");
    let receive = spawn_run(
        flavour,
        guests::WAITING_REQUEST_REPEAT,
        sandbox.invocation(&["r.lock"]),
    );
    let mut free_natively = Vec::new();
    for mode in ["exclusive", "shared"] {
        reached(&sandbox, &format!("dropped-{mode}"));
        if native::flock_n(&path) {
            free_natively.push(mode);
        }
        std::fs::write(sandbox.path(&format!("probed-{mode}")), "").unwrap();
    }
    let run = finished(&receive, WATCHDOG, "waiting_request_repeat");
    run.assert_success();
    for mode in ["exclusive", "shared"] {
        assert_eq!(
            line_value(&run, &format!("{mode}: B try-lock")).as_deref(),
            Some("already-locked"),
            "after dropping an uncollected {mode} request that repeated A's {mode} lock, \
             a second descriptor could lock the file:\n{}",
            run.stdout()
        );
    }
    assert!(
        free_natively.is_empty(),
        "flock -n got the file after the repeated request was dropped, for {free_natively:?}"
    );
}

under_both_linkers!(repeated_request_leaves_the_lock);

// --- max_held_locks and requests -------------------------------------------

/// Under `max_held_locks(1)`, three handle-layer requests on three free
/// files, all made before any is answered: at most one ends holding a lock,
/// the others answer `limit-reached(held-locks)`, and native probes agree.
fn request_limit_holds_at_completion(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let names = ["a.lock", "b.lock", "c.lock"];
    let mut invocation = sandbox.invocation(&names);
    invocation.locks = FileLockCtx::builder().max_held_locks(1).build();
    let receive = spawn_run(flavour, guests::WAITING_REQUEST_LIMIT, invocation);
    reached(&sandbox, "answered");
    let locked: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !native::can_lock(&sandbox.path(name), Mode::Exclusive))
        .collect();
    std::fs::write(sandbox.path("probed"), "").unwrap();
    let run = finished(&receive, WATCHDOG, "waiting_request_limit");
    run.assert_success().assert_line("ok");
    let answers = line_value(&run, "answers").expect("the guest prints its answers");
    let answers: Vec<&str> = answers.split(',').collect();
    let granted = answers.iter().filter(|a| **a == "ok").count();
    assert!(
        granted <= 1,
        "under max_held_locks(1) {granted} requests got their lock: {answers:?}; \
         natively locked: {locked:?}"
    );
    for answer in answers.iter().filter(|a| **a != "ok") {
        assert_eq!(
            *answer, "limit-reached(held-locks)",
            "a request over the limit: {answers:?}"
        );
    }
    assert_eq!(
        locked.len(),
        granted,
        "the guest was told {answers:?}, but {locked:?} are locked"
    );
}

under_both_linkers!(request_limit_holds_at_completion);
