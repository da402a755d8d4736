//! `filelock_semaphore` (no arguments): a semaphore with 2 slots admits two
//! holders, in slot order (the first free slot is taken, however many are
//! free); the third gets `already-locked` at once with a zero timeout and
//! `timed-out` with a short one; freeing a slot admits it. Zero slots is
//! `invalid-options`. Between steps it pauses at a checkpoint so the host
//! can check the slot files from outside. Slot files named by a pattern
//! (portalocker's `filename_pattern`) go where the pattern says; a pattern
//! without the slot number, or with fields portalocker's does not have, is
//! `invalid-options`. Prints `ok`.

use std::time::Duration;

use portalocker_guest::{BoundedSemaphore, ErrorKind};
use portalocker_programs::{checkpoint, expect_kind, expect_ok};

fn main() {
    let semaphore = BoundedSemaphore::new("jobs", 2);
    let first = expect_ok("first", semaphore.acquire());
    let second = expect_ok("second", semaphore.acquire());
    // The first free slot is taken, as portalocker takes it.
    assert_eq!([first.slot(), second.slot()], [0, 1]);
    let no_wait = semaphore.clone().timeout(Duration::ZERO);
    expect_kind("third at once", no_wait.acquire(), ErrorKind::AlreadyLocked);
    expect_kind(
        "third in 100 ms",
        semaphore
            .clone()
            .timeout(Duration::from_millis(100))
            .acquire(),
        ErrorKind::TimedOut,
    );
    checkpoint("full", "probed-full");
    let freed = first.slot();
    drop(first);
    let third = expect_ok("third after a release", no_wait.acquire());
    assert_eq!(third.slot(), freed);
    expect_kind(
        "zero slots",
        BoundedSemaphore::new("none", 0).acquire(),
        ErrorKind::InvalidOptions,
    );

    // portalocker's filename_pattern.
    let patterned = BoundedSemaphore::new("jobs", 2).filename_pattern("{name}-{number}.lck");
    let slot = expect_ok("a pattern", patterned.acquire());
    assert_eq!(slot.slot(), 0);
    assert!(
        std::fs::metadata("/jobs-0.lck").is_ok(),
        "the patterned slot file"
    );
    for bad in ["{name}.lock", "{name}.{count}.lock", "{number:x}"] {
        expect_kind(
            &format!("the pattern {bad}"),
            BoundedSemaphore::new("jobs", 1)
                .filename_pattern(bad)
                .acquire(),
            ErrorKind::InvalidOptions,
        );
    }
    // However many slots are free, the first one is taken.
    let wide = BoundedSemaphore::new("wide", 8);
    for _ in 0..20 {
        let slot = wide.acquire().expect("a wide semaphore's slot");
        assert_eq!(slot.slot(), 0, "the first free slot of eight");
    }
    println!("ok");
}
