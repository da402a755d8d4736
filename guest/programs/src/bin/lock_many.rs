//! `lock_many N`
//!
//! Takes exclusive path-layer locks on `0.lock`, `1.lock`, … up to `N`
//! files, keeping every one, and prints `locked N` when all are held. The
//! first failure prints `error: <kind>` (and the message on stderr) and
//! exits with 2 for `already-locked`, 3 for `timed-out`, 1 otherwise: what a
//! host that runs out of file descriptors reports.

use portalocker_guest::Lock;
use portalocker_programs::{args, fail, usage};

const USAGE: &str = "lock_many N";

fn main() {
    let Some(n) = args().first().and_then(|n| n.parse::<u32>().ok()) else {
        usage(USAGE, "N is a number");
    };
    let mut held = Vec::new();
    for i in 0..n {
        match Lock::new(format!("{i}.lock")).no_wait().acquire() {
            Ok(guard) => held.push(guard),
            Err(error) => fail(&error),
        }
    }
    println!("locked {}", held.len());
}
