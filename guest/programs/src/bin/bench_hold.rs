//! `bench_hold PATH MILLIS`: locks PATH exclusively (path layer), keeps it
//! MILLIS ms, then prints `t0=<wall-clock ns>` read immediately before the
//! release. The host compares t0 with a waiter's t1.

use std::time::{Duration, SystemTime};

use portalocker_guest::Lock;
use portalocker_programs::{args, fail, usage};

const USAGE: &str = "bench_hold PATH MILLIS";

fn main() {
    let [path, millis] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "two arguments"));
    let millis: u64 = millis
        .parse()
        .unwrap_or_else(|_| usage(USAGE, "MILLIS is a number"));
    let guard = Lock::new(path)
        .exclusive()
        .acquire()
        .unwrap_or_else(|err| fail(&err));
    std::thread::sleep(Duration::from_millis(millis));
    let t0 = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("a wall clock after 1970")
        .as_nanos();
    guard.release().unwrap_or_else(|err| fail(&err));
    println!("t0={t0}");
}
