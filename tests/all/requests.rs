//! Pollable lock requests: waiting for a lock together with timers and
//! streams through `wasi:io/poll`, and cancelling by dropping the request.

use std::time::Duration;

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Sandbox, eventually, guests};

#[test]
pub(crate) fn filelock_request_ready() {
    let sandbox = Sandbox::new();
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

#[test]
pub(crate) fn filelock_request_timer() {
    for layer in ["path", "handle"] {
        let sandbox = Sandbox::new();
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

#[test]
pub(crate) fn filelock_request_many() {
    let sandbox = Sandbox::new();
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

#[test]
pub(crate) fn filelock_request_timeout() {
    let sandbox = Sandbox::new();
    let _holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
    sandbox
        .run(guests::FILELOCK_REQUEST_TIMEOUT, &["x.lock"])
        .assert_success()
        .assert_line("ok");
}

#[test]
pub(crate) fn filelock_request_drop() {
    let sandbox = Sandbox::new();
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
