//! `filelock_abort_holding PATH`
//!
//! Acquires `PATH` exclusively through the path layer, prints `locked`, then
//! calls `std::process::abort()` while holding the lock, which on
//! `wasm32-wasip2` is an `unreachable` instruction: a trap that runs no
//! destructor. The host must release the lock with the instance's store.

use portalocker_guest::Lock;
use portalocker_programs::{args, flush};

fn main() {
    let [path] = args()
        .try_into()
        .expect("usage: filelock_abort_holding PATH");
    let _guard = Lock::new(path).exclusive().acquire().expect("acquire");
    println!("locked");
    flush();
    std::process::abort();
}
