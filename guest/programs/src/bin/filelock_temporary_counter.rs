//! `filelock_temporary_counter PATH N`: N times, takes a temporary lock on
//! PATH (created, locked, removed on release), and while holding it
//! increments the number in `counter.txt`. Many of these at once must never
//! hold the lock together, even though each release removes the file they
//! lock: the final count is exact. Prints `done N`.

use std::time::Duration;

use portalocker_guest::Lock;
use portalocker_programs::{args, fail, parse_counter, usage};

fn main() {
    let [path, n] = args()
        .try_into()
        .unwrap_or_else(|_| usage("filelock_temporary_counter PATH N", "two arguments"));
    let n: u32 = n
        .parse()
        .unwrap_or_else(|_| usage("filelock_temporary_counter PATH N", "N"));
    let lock = Lock::new(path.as_str())
        .exclusive()
        .timeout(Duration::from_secs(30));
    for _ in 0..n {
        let held = lock.acquire_temporary().unwrap_or_else(|err| fail(&err));
        let value = parse_counter(&std::fs::read("/counter.txt").unwrap_or_default());
        std::thread::sleep(Duration::from_micros(50));
        std::fs::write("/counter.txt", (value + 1).to_string()).expect("write the counter");
        held.release().unwrap_or_else(|err| fail(&err));
    }
    println!("done {n}");
}
