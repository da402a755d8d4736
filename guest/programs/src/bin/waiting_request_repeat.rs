//! `waiting_request_repeat PATH`
//!
//! A request that only repeats the lock a descriptor holds already, dropped
//! uncollected, must leave that lock alone: the request took nothing the
//! descriptor did not have. For each mode (`exclusive`, then `shared`):
//! locks descriptor A of `PATH` in that mode, requests the same mode on A,
//! polls the request until it is ready and drops it without collecting the
//! answer, then reaches the checkpoint `dropped-<mode>` (see
//! [`portalocker_programs::checkpoint`]; the host probes the file) and tries
//! an exclusive lock through a second descriptor B, which must find the file
//! locked. Prints `<mode>: B try-lock: <outcome>` per mode, then `ok`.

use portalocker_guest::{Mode, lock, preopens, request_lock, try_lock, unlock};
use portalocker_programs::{args, checkpoint, expect_ok, outcome_name, poll_ready, usage};

fn main() {
    let [path] = args()
        .try_into()
        .unwrap_or_else(|_| usage("waiting_request_repeat PATH", "one argument"));
    let a = expect_ok("open A", preopens::open_file(&path, true, true));
    let b = expect_ok("open B", preopens::open_file(&path, true, true));
    for mode in [Mode::Exclusive, Mode::Shared] {
        let name = mode.as_str();
        expect_ok("lock A", lock(&a, mode));
        let request = request_lock(&a, mode, None);
        poll_ready(&request.subscribe());
        drop(request);
        checkpoint(&format!("dropped-{name}"), &format!("probed-{name}"));
        let attempt = try_lock(&b, Mode::Exclusive);
        println!("{name}: B try-lock: {}", outcome_name(&attempt));
        if attempt.is_ok() {
            expect_ok("unlock B", unlock(&b));
        }
        expect_ok("unlock A", unlock(&a));
    }
    println!("ok");
}
