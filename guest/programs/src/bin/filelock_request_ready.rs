//! `filelock_request_ready PATH`
//!
//! The host holds a native exclusive lock on `PATH` and releases it after
//! about 300 ms. Asks for an exclusive lock with `Lock::request`, checks that
//! `try_take` has no answer yet (prints `pending`), polls only the request's
//! pollable until it is ready, takes the guard and prints
//! `acquired elapsed_ms=<n>` and `locked` (flushed). Holds the lock for
//! 1000 ms (the host checks from outside that it is held), releases it and
//! prints `ok`.

use std::thread::sleep;
use std::time::{Duration, Instant};

use portalocker_guest::Lock;
use portalocker_programs::{args, elapsed_ms, flush, poll_ready};

fn main() {
    let [path] = args()
        .try_into()
        .expect("usage: filelock_request_ready PATH");
    let start = Instant::now();
    let request = Lock::new(path).exclusive().request().expect("request");
    assert!(
        request.try_take().is_none(),
        "answered while the host holds the lock"
    );
    println!("pending");

    let ready = request.subscribe();
    poll_ready(&ready);
    drop(ready);
    let guard = request.try_take().expect("ready").expect("acquired");
    assert!(guard.is_held());
    println!("acquired elapsed_ms={}", elapsed_ms(start));
    println!("locked");
    flush();

    sleep(Duration::from_millis(1000));
    guard.release().expect("release");
    println!("ok");
}
