//! `idle_request PATH MILLIS`
//!
//! Asks for an exclusive lock on `PATH` through the path layer (creating the
//! file) with `file-lock.request` and waits for it at most 100 ms, in one
//! `wasi:io/poll` call with a timer; prints `polled: lock` or
//! `polled: timer`. Then it keeps the request and does other work for
//! `MILLIS` milliseconds without polling it, and finally looks at the answer
//! without waiting: prints `answer: locked`, `answer: <kind>` or
//! `answer: none` (still waiting), and drops the request.

use std::thread::sleep;
use std::time::Duration;

use portalocker_guest::Lock;
use portalocker_programs::{args, fail, flush};
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::io::poll::poll;

fn main() {
    let [path, millis] = args().try_into().expect("usage: idle_request PATH MILLIS");
    let millis: u64 = millis.parse().expect("MILLIS is a number");
    let request = Lock::new(path)
        .exclusive()
        .request()
        .unwrap_or_else(|error| fail(&error));
    let ready = request.subscribe();
    let timer = subscribe_duration(100_000_000);
    let polled = poll(&[&ready, &timer]);
    drop((ready, timer));
    println!(
        "polled: {}",
        if polled.contains(&0) { "lock" } else { "timer" }
    );
    flush();
    sleep(Duration::from_millis(millis));
    match request.try_take() {
        Some(Ok(guard)) => {
            println!("answer: locked");
            drop(guard);
        }
        Some(Err(error)) => println!("answer: {}", error.kind().name()),
        None => println!("answer: none"),
    }
}
