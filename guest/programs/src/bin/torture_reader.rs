//! `torture_reader PATH N [STOP]`
//!
//! At least `N` times, and then until the file `STOP` exists (when given):
//! takes a *shared* lock on the counter file `PATH` through the path layer
//! (read-only, not creating it: while it is missing the round is skipped),
//! reads it whole and checks what the writers left there. The writers (the
//! `counter` guest, `portalocker native-counter`, `flock(1)` with a shell)
//! all hold an exclusive lock while they rewrite the file, and some of them
//! truncate it before writing the new number, so a reader that did not
//! exclude them could see an empty file or a torn number. Under the shared
//! lock every read must be a complete decimal number (surrounding whitespace
//! allowed), never empty once a number was seen, and never smaller than the
//! previous read. Pauses 200 µs between reads so that exclusive waiters get
//! their turns. Prints `reads=R min=A max=B` at the end; a failed check
//! panics (a trap).

use std::thread::sleep;
use std::time::Duration;

use portalocker_guest::{ErrorKind, Lock};
use portalocker_programs::{args, fail, flush, usage};

const USAGE: &str = "torture_reader PATH N [STOP]";

fn main() {
    let args = args();
    let (path, n, stop) = match args.as_slice() {
        [path, n] => (path, n, None),
        [path, n, stop] => (path, n, Some(stop)),
        _ => usage(USAGE, "expected PATH N [STOP]"),
    };
    let Ok(n) = n.parse::<u64>() else {
        usage(USAGE, "N is a number");
    };
    let stopped = || stop.is_none_or(|stop| std::fs::metadata(stop).is_ok());
    let lock = Lock::new(path.as_str()).shared().write(false).create(false);
    let mut reads = 0u64;
    let mut min: Option<u64> = None;
    let mut last: Option<u64> = None;
    let mut round = 0u64;
    while round < n || !stopped() {
        round += 1;
        let guard = match lock.acquire() {
            Ok(guard) => guard,
            // No writer has created the file yet.
            Err(error) if error.kind() == ErrorKind::NotFound && last.is_none() => {
                sleep(Duration::from_micros(200));
                continue;
            }
            Err(error) => fail(&error),
        };
        let contents = guard.contents().unwrap_or_else(|error| fail(&error));
        drop(guard);
        let text = std::str::from_utf8(&contents)
            .unwrap_or_else(|_| panic!("read {round}: not UTF-8: {contents:?}"));
        let trimmed = text.trim();
        if trimmed.is_empty() {
            assert!(
                last.is_none(),
                "read {round}: empty after the value {last:?}: a reader saw a writer's truncation"
            );
        } else {
            let value: u64 = trimmed
                .parse()
                .unwrap_or_else(|_| panic!("read {round}: torn content {text:?}"));
            if let Some(last) = last {
                assert!(
                    value >= last,
                    "read {round}: the counter went back from {last} to {value}"
                );
            }
            last = Some(value);
            min.get_or_insert(value);
        }
        reads += 1;
        sleep(Duration::from_micros(200));
    }
    println!(
        "reads={reads} min={} max={}",
        min.unwrap_or(0),
        last.unwrap_or(0)
    );
    flush();
}
