//! `bench_lock_cycle LAYER PATH N`: the cost of N uncontended exclusive lock
//! cycles, measured inside the guest. LAYER `handle`: lock + unlock on one
//! open descriptor. LAYER `path`: path-layer acquire + release (open, lock,
//! unlock, close) relative to a directory resolved once. LAYER `floor`: the
//! same number of host calls as `handle` (two per cycle) that do no locking:
//! `file-lock.is-held` on a held lock, a resource lookup through the same
//! component-model path. Prints `ns_per_cycle=<n>`.

use std::time::Instant;

use portalocker_guest::{Lock, Mode, lock, preopens, unlock};
use portalocker_programs::{args, fail, usage};

const USAGE: &str = "bench_lock_cycle handle|path|floor PATH N";

fn main() {
    let [layer, path, n] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "three arguments"));
    let n: u32 = n.parse().unwrap_or_else(|_| usage(USAGE, "N is a number"));
    let result = match layer.as_str() {
        "handle" => preopens::open_file(&path, true, true).and_then(|file| {
            let start = Instant::now();
            for _ in 0..n {
                lock(&file, Mode::Exclusive)?;
                unlock(&file)?;
            }
            Ok(start.elapsed())
        }),
        "path" => preopens::resolve(&path).and_then(|(dir, relative)| {
            let lock_file = Lock::new(relative).exclusive().no_wait();
            let start = Instant::now();
            for _ in 0..n {
                lock_file.acquire_in(&dir)?.release()?;
            }
            Ok(start.elapsed())
        }),
        "floor" => preopens::resolve(&path).and_then(|(dir, relative)| {
            let guard = Lock::new(relative).exclusive().no_wait().acquire_in(&dir)?;
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(guard.is_held());
                std::hint::black_box(guard.is_held());
            }
            Ok(start.elapsed())
        }),
        _ => usage(USAGE, "LAYER is handle, path or floor"),
    };
    let elapsed = result.unwrap_or_else(|err| fail(&err));
    println!("ns_per_cycle={}", elapsed.as_nanos() / u128::from(n.max(1)));
}
