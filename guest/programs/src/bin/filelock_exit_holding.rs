//! `filelock_exit_holding PATH LAYER HOW`
//!
//! Locks `PATH` exclusively through `LAYER` (`path`: a `file-lock`
//! resource; `handle`: a descriptor opened here and locked with the handle
//! layer), prints `locked`, and ends without releasing or dropping anything:
//!
//! * `HOW` = `exit`: `std::process::exit(0)` (no destructor runs);
//! * `exit-code`: `wasi:cli/exit.exit-with-code(7)`;
//! * `return`: forgets the lock and returns from `main` (exit code 0).
//!
//! The lock must not outlive the instance's store.

use portalocker_guest::{Lock, Mode, preopens};
use portalocker_programs::{args, flush};

fn main() {
    let [path, layer, how] = args()
        .try_into()
        .expect("usage: filelock_exit_holding PATH path|handle exit|exit-code|return");
    match layer.as_str() {
        "path" => {
            let guard = Lock::new(path).exclusive().acquire().expect("acquire");
            std::mem::forget(guard);
        }
        "handle" => {
            let file = preopens::open_file(&path, true, true).expect("open");
            portalocker_guest::lock(&file, Mode::Exclusive).expect("lock");
            std::mem::forget(file);
        }
        other => panic!("LAYER is `path` or `handle`, not {other:?}"),
    }
    println!("locked");
    flush();
    match how.as_str() {
        "exit" => std::process::exit(0),
        "exit-code" => wasip2::cli::exit::exit_with_code(7),
        "return" => {}
        other => panic!("HOW is `exit`, `exit-code` or `return`, not {other:?}"),
    }
}
