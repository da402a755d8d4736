//! Pollable lock requests: waiting for a lock together with timers and
//! streams through `wasi:io/poll`, and cancelling by dropping the request.

use std::time::Duration;

use portalocker_tests::Flavour;
use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Sandbox, eventually, guests};

pub(crate) fn filelock_request_ready(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let path = sandbox.path("x.lock");
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    let guest = sandbox.spawn(guests::FILELOCK_REQUEST_READY, &["x.lock"]);
    std::thread::sleep(Duration::from_millis(300));
    holder.release();
    assert!(
        eventually(Duration::from_secs(20), || !native::can_lock(
            &path,
            Mode::Exclusive
        )),
        "the request never took the lock"
    );
    assert!(
        !native::flock_n(&path),
        "flock -n got the lock the request took"
    );
    guest.join().unwrap().assert_success().assert_line("ok");
    assert!(native::flock_n(&path));
}

pub(crate) fn filelock_request_timer(flavour: Flavour) {
    for layer in ["path", "handle"] {
        let sandbox = Sandbox::new().with_flavour(flavour);
        let path = sandbox.path("x.lock");
        let mut holder = Holder::lock(&path, Mode::Exclusive);
        let guest = sandbox.spawn(guests::FILELOCK_REQUEST_TIMER, &["x.lock", layer]);
        std::thread::sleep(Duration::from_millis(600));
        holder.release();
        // The guest dropped its request when the timer won and now sleeps:
        // nothing may take the lock on its behalf.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            native::can_lock(&path, Mode::Exclusive) && native::flock_n(&path),
            "a dropped {layer} request took the lock"
        );
        guest.join().unwrap().assert_success().assert_line("ok");
    }
}

pub(crate) fn filelock_request_many(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let mut holders: Vec<Holder> = ["a.lock", "b.lock", "c.lock"]
        .iter()
        .map(|name| Holder::lock(&sandbox.path(name), Mode::Exclusive))
        .collect();
    let guest = sandbox.spawn(
        guests::FILELOCK_REQUEST_MANY,
        &["a.lock", "b.lock", "c.lock"],
    );
    for index in [2, 0, 1] {
        std::thread::sleep(Duration::from_millis(250));
        holders[index].release();
    }
    guest
        .join()
        .unwrap()
        .assert_success()
        .assert_line("order=c.lock,a.lock,b.lock");
}

pub(crate) fn filelock_request_timeout(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let _holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
    sandbox
        .run(guests::FILELOCK_REQUEST_TIMEOUT, &["x.lock"])
        .assert_success()
        .assert_line("ok");
}

pub(crate) fn filelock_request_drop(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    sandbox
        .run(guests::FILELOCK_REQUEST_DROP, &[])
        .assert_success()
        .assert_line("ok");
    assert!(native::flock_n(&sandbox.path("free.lock")));
}

#[test]
fn wait_any_takes_whichever_comes_first() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let holder = Holder::lock(&path, Mode::Exclusive);
    sandbox
        .run(guests::WAIT_ANY, &["x.lock", "300"])
        .assert_success()
        .assert_line("timeout");
    let mut with_input = sandbox.invocation(&["x.lock", "5000"]);
    with_input.stdin = b"hello\n".to_vec();
    let outcome = portalocker_tests::runner()
        .run(&portalocker_tests::component(guests::WAIT_ANY), &with_input)
        .unwrap();
    assert_eq!(outcome.exit.code(), 0);
    assert!(String::from_utf8_lossy(&outcome.stdout).contains("stdin: hello"));
    drop(holder);
    sandbox
        .run(guests::WAIT_ANY, &["x.lock", "5000"])
        .assert_success()
        .assert_line("acquired");
}

/// Four guests (each in a store of its own, on a thread of its own) count
/// to 100 through requests, starting while a native process holds the lock.
pub(crate) fn filelock_request_counter(flavour: Flavour) {
    const GUESTS: usize = 4;
    const ROUNDS: u64 = 25;
    let sandbox = Sandbox::new().with_flavour(flavour);
    let path = sandbox.path("count.txt");
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    let rounds = ROUNDS.to_string();
    let runs: Vec<_> = (0..GUESTS)
        .map(|_| sandbox.spawn(guests::FILELOCK_REQUEST_COUNTER, &["count.txt", &rounds]))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    holder.release();
    for run in runs {
        run.join().unwrap().assert_success();
    }
    let total: u64 = std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(total, GUESTS as u64 * ROUNDS);
}
