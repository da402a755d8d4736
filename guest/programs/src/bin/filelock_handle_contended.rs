//! `filelock_handle_contended PATH`
//!
//! The host holds an exclusive native lock on `PATH` before this starts. Through
//! the handle layer, on a descriptor opened via the preopens: `try_lock`
//! exclusive and shared both fail with `already-locked`, and `lock_timeout`
//! exclusive for 300 ms fails with `timed-out` after at least 300 ms and well
//! under 5 s. Prints `elapsed_ms=<n>`, then `ok`.

use std::time::{Duration, Instant};

use portalocker_guest::{ErrorKind, Mode, lock_timeout, preopens, try_lock};
use portalocker_programs::{args, elapsed_ms, expect_kind, expect_ok};

fn main() {
    let [path] = args()
        .try_into()
        .expect("usage: filelock_handle_contended PATH");
    let file = expect_ok("open", preopens::open_file(&path, false, true));

    expect_kind(
        "try-lock exclusive",
        try_lock(&file, Mode::Exclusive),
        ErrorKind::AlreadyLocked,
    );
    expect_kind(
        "try-lock shared",
        try_lock(&file, Mode::Shared),
        ErrorKind::AlreadyLocked,
    );

    let start = Instant::now();
    let result = lock_timeout(&file, Mode::Exclusive, Duration::from_millis(300));
    let elapsed = elapsed_ms(start);
    expect_kind("lock-timeout 300ms", result, ErrorKind::TimedOut);
    println!("elapsed_ms={elapsed}");
    assert!(
        elapsed >= 300,
        "timed out after {elapsed} ms, before the 300 ms timeout"
    );
    assert!(
        elapsed < 5000,
        "timed out after {elapsed} ms, far after the 300 ms timeout"
    );
    println!("ok");
}
