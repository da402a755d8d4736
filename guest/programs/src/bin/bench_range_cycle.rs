//! `bench_range_cycle PATH N`: the cost of N uncontended pairs of an
//! exclusive range lock and its unlock (`range-lock.try-lock` and `unlock` of
//! SQLite's RESERVED byte) on one open descriptor, measured inside the
//! guest. Prints `ns_per_cycle=<n>`.

use std::time::Instant;

use portalocker_guest::wit::range_lock::{self, ByteRange};
use portalocker_guest::wit::types::LockMode;
use portalocker_guest::{ErrorKind, preopens};
use portalocker_programs::{args, exit, fail, usage};

const USAGE: &str = "bench_range_cycle PATH N";

fn main() {
    let [path, n] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "two arguments"));
    let n: u32 = n.parse().unwrap_or_else(|_| usage(USAGE, "N is a number"));
    let file = preopens::open_file(&path, true, true).unwrap_or_else(|err| fail(&err));
    let byte = ByteRange {
        start: 0x4000_0001,
        length: 1,
    };
    let start = Instant::now();
    for _ in 0..n {
        let cycle = range_lock::try_lock(&file, byte, LockMode::Exclusive)
            .and_then(|()| range_lock::unlock(&file, byte));
        if let Err(error) = cycle {
            println!("error: {}", ErrorKind::from(error).name());
            exit(1);
        }
    }
    println!(
        "ns_per_cycle={}",
        start.elapsed().as_nanos() / u128::from(n.max(1))
    );
}
