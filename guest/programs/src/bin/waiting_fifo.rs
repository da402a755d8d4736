//! `waiting_fifo FIFO TIMEOUT_MS|none`
//!
//! Waits for a lock on a FIFO that nobody will ever write to, as an attacker
//! would try to hang its host: opens `FIFO` (which must exist) for reading
//! and writing, then twice read-only through `open-at` (these opens do not
//! wait: there is a writer), locks the first read-only descriptor
//! exclusively, drops the writer, and asks for an exclusive lock on the
//! second read-only descriptor, with a timeout of `TIMEOUT_MS` ms or without
//! one (`none`: the host's `max_wait` must end it). The lock cannot be
//! granted, so the call must fail, with a typed error, in about the time
//! asked for.
//!
//! Prints `lock the first: <outcome>`, `lock: <outcome>` (`ok`, or the
//! error's WIT name) and `elapsed_ms=N`, the time the second lock call
//! took; exits 0 unless an open fails.

use std::time::{Duration, Instant};

use portalocker_guest::{Mode, lock, lock_timeout, preopens};
use portalocker_programs::{args, expect_ok, flush, outcome_name, usage};

const USAGE: &str = "waiting_fifo FIFO TIMEOUT_MS|none";

fn main() {
    let [fifo, timeout] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "two arguments"));
    let timeout = match timeout.as_str() {
        "none" => None,
        ms => Some(Duration::from_millis(
            ms.parse()
                .unwrap_or_else(|_| usage(USAGE, "TIMEOUT_MS is a number")),
        )),
    };
    let writer = expect_ok("open read-write", preopens::open_file(&fifo, false, true));
    let first = expect_ok("open read-only", preopens::open_file(&fifo, false, false));
    let second = expect_ok("open read-only", preopens::open_file(&fifo, false, false));
    // A host may refuse to lock a FIFO at all (a typed error): then the
    // second lock must be refused as promptly.
    let held = lock(&first, Mode::Exclusive);
    println!("lock the first: {}", outcome_name(&held));
    flush();
    drop(writer);

    let start = Instant::now();
    let outcome = match timeout {
        Some(timeout) => lock_timeout(&second, Mode::Exclusive, timeout),
        None => lock(&second, Mode::Exclusive),
    };
    let elapsed = start.elapsed();
    println!("lock: {}", outcome_name(&outcome));
    println!("elapsed_ms={}", elapsed.as_millis());
    drop((first, second));
}
