//! `filelock_spin_holding PATH`
//!
//! Acquires `PATH` exclusively through the path layer, prints `locked`, then
//! spins in wasm code forever without calling the host: only the embedder
//! (an epoch deadline, fuel) can stop it. Whatever stops it must leave no lock
//! behind once the store is gone.

use std::hint::black_box;

use portalocker_guest::Lock;
use portalocker_programs::{args, flush};

fn main() {
    let [path] = args()
        .try_into()
        .expect("usage: filelock_spin_holding PATH");
    let _guard = Lock::new(path).exclusive().acquire().expect("acquire");
    println!("locked");
    flush();
    let mut spins = 0u64;
    loop {
        spins = black_box(spins.wrapping_add(1));
    }
}
