//! `filelock_panic_holding PATH`
//!
//! Acquires `PATH` exclusively through the path layer, prints `locked`, then
//! panics while holding the lock: the trap must not leave the file locked
//! once the host drops the instance.

use portalocker_guest::Lock;
use portalocker_programs::{args, flush};

fn main() {
    let [path] = args()
        .try_into()
        .expect("usage: filelock_panic_holding PATH");
    let _guard = Lock::new(path).exclusive().acquire().expect("acquire");
    println!("locked");
    flush();
    panic!("deliberate trap while holding the lock");
}
