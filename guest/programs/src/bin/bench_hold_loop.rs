//! `bench_hold_loop PATH ROUNDS TIMEOUT_MS`: ROUNDS times, waits up to
//! TIMEOUT_MS for an exclusive lock on PATH (handle layer), and when it gets
//! it, releases it at once and prints `held <t0> <t1>`: wall-clock ns right
//! after the lock call returned and right after the unlock returned. The
//! host uses the intervals to tell a lock a guest held from one held for
//! nobody. Timeouts are not errors here.

use std::time::{Duration, SystemTime};

use portalocker_guest::{ErrorKind, Mode, lock_timeout, preopens, unlock};
use portalocker_programs::{args, fail, usage};

const USAGE: &str = "bench_hold_loop PATH ROUNDS TIMEOUT_MS";

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("a wall clock after 1970")
        .as_nanos()
}

fn main() {
    let [path, rounds, timeout] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "three arguments"));
    let rounds: u32 = rounds
        .parse()
        .unwrap_or_else(|_| usage(USAGE, "ROUNDS is a number"));
    let timeout = Duration::from_millis(
        timeout
            .parse()
            .unwrap_or_else(|_| usage(USAGE, "TIMEOUT_MS is a number")),
    );
    let file = preopens::open_file(&path, true, true).unwrap_or_else(|err| fail(&err));
    let mut held = Vec::new();
    for _ in 0..rounds {
        match lock_timeout(&file, Mode::Exclusive, timeout) {
            Ok(()) => {
                let t0 = wall_ns();
                unlock(&file).unwrap_or_else(|err| fail(&err));
                held.push((t0, wall_ns()));
            }
            Err(err) if err.kind() == ErrorKind::TimedOut => {}
            Err(err) => fail(&err),
        }
    }
    for (t0, t1) in held {
        println!("held {t0} {t1}");
    }
}
