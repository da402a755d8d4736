//! `bench_contend PATH MILLIS`: for MILLIS ms, takes an exclusive handle-layer
//! lock on PATH again and again, holding it 100 µs each time, and prints
//! `count=<n>`, the number of turns it got. Several run at once to measure
//! how evenly the turns are shared.

use std::time::{Duration, Instant};

use portalocker_guest::{Mode, lock, preopens, unlock};
use portalocker_programs::{args, fail, usage};

const USAGE: &str = "bench_contend PATH MILLIS";
const HOLD: Duration = Duration::from_micros(100);

fn main() {
    let [path, millis] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "two arguments"));
    let millis: u64 = millis
        .parse()
        .unwrap_or_else(|_| usage(USAGE, "MILLIS is a number"));
    let file = preopens::open_file(&path, true, true).unwrap_or_else(|err| fail(&err));
    let end = Instant::now() + Duration::from_millis(millis);
    let mut count: u64 = 0;
    while Instant::now() < end {
        lock(&file, Mode::Exclusive).unwrap_or_else(|err| fail(&err));
        let held = Instant::now();
        while held.elapsed() < HOLD {
            std::hint::spin_loop();
        }
        unlock(&file).unwrap_or_else(|err| fail(&err));
        count += 1;
    }
    println!("count={count}");
}
