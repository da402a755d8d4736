//! `bench_named cycle|hold|wait NAMESPACE NAME ARG`: named-lock figures of
//! the benchmark.
//!
//! * `cycle NAMESPACE NAME N`: N uncontended exclusive acquire + release
//!   pairs; prints `ns_per_cycle=<n>`.
//! * `hold NAMESPACE NAME MILLIS`: takes the lock, creates the file `/held`,
//!   keeps the lock MILLIS ms, prints `t0=<wall-clock ns>` and releases.
//! * `wait NAMESPACE NAME TIMEOUT_MS`: waits for the lock and prints
//!   `t1=<wall-clock ns>` the moment it is held, then releases.

use std::time::{Duration, Instant, SystemTime};

use portalocker_guest::{NamedLock, NamedLockError};
use portalocker_programs::{args, usage};

const USAGE: &str = "bench_named cycle|hold|wait NAMESPACE NAME N|MILLIS|TIMEOUT_MS";

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("a wall clock after 1970")
        .as_nanos()
}

fn fail(error: NamedLockError) -> ! {
    println!("error: {}", error.kind().name());
    eprintln!("{error}");
    portalocker_programs::exit(1)
}

fn main() {
    let [command, namespace, name, number] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "four arguments"));
    let number: u64 = number.parse().unwrap_or_else(|_| usage(USAGE, "a number"));
    let lock = NamedLock::new(namespace, name);
    match command.as_str() {
        "cycle" => {
            let start = Instant::now();
            for _ in 0..number {
                lock.acquire()
                    .and_then(|guard| guard.release())
                    .unwrap_or_else(|e| fail(e));
            }
            println!(
                "ns_per_cycle={}",
                start.elapsed().as_nanos() / u128::from(number.max(1))
            );
        }
        "hold" => {
            let guard = lock.acquire().unwrap_or_else(|e| fail(e));
            std::fs::write("/held", b"").expect("create /held");
            std::thread::sleep(Duration::from_millis(number));
            let t0 = wall_ns();
            guard.release().unwrap_or_else(|e| fail(e));
            println!("t0={t0}");
        }
        "wait" => {
            let guard = lock
                .timeout(Duration::from_millis(number))
                .acquire()
                .unwrap_or_else(|e| fail(e));
            let t1 = wall_ns();
            guard.release().unwrap_or_else(|e| fail(e));
            println!("t1={t1}");
        }
        _ => usage(USAGE, "cycle, hold or wait"),
    }
}
