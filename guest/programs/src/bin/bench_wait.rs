//! `bench_wait LAYER PATH TIMEOUT_MS`: waits for an exclusive lock on PATH
//! (handle layer `lock` with a timeout, path layer `acquire` with a timeout,
//! a path-layer `request` with a timeout, waited for through its
//! `wasi:io/poll` pollable, or `range`: a `range-lock.lock` of SQLite's
//! reserved byte with a timeout) and prints `t1=<wall-clock ns>` the moment
//! it returns, then releases. The host compares t1 with the moment the
//! holder unlocked.

use std::time::{Duration, SystemTime};

use portalocker_guest::{Lock, Mode, lock_range_timeout, lock_timeout, preopens, unlock};
use portalocker_programs::{args, fail, usage};

const USAGE: &str = "bench_wait handle|path|request|range PATH TIMEOUT_MS";

/// SQLite's reserved byte, which `range` waits for.
const RESERVED_BYTE: u64 = 0x4000_0001;

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("a wall clock after 1970")
        .as_nanos()
}

fn main() {
    let [layer, path, timeout] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "three arguments"));
    let timeout = Duration::from_millis(
        timeout
            .parse()
            .unwrap_or_else(|_| usage(USAGE, "TIMEOUT_MS")),
    );
    let t1 = match layer.as_str() {
        "handle" => {
            let file = preopens::open_file(&path, true, true).unwrap_or_else(|err| fail(&err));
            lock_timeout(&file, Mode::Exclusive, timeout).unwrap_or_else(|err| fail(&err));
            let t1 = wall_ns();
            unlock(&file).unwrap_or_else(|err| fail(&err));
            t1
        }
        "path" => {
            let guard = Lock::new(path)
                .exclusive()
                .timeout(timeout)
                .acquire()
                .unwrap_or_else(|err| fail(&err));
            let t1 = wall_ns();
            drop(guard);
            t1
        }
        "request" => {
            let request = Lock::new(path)
                .exclusive()
                .timeout(timeout)
                .request()
                .unwrap_or_else(|err| fail(&err));
            let ready = request.subscribe();
            ready.block();
            let guard = request
                .try_take()
                .expect("a ready request has an answer")
                .unwrap_or_else(|err| fail(&err));
            let t1 = wall_ns();
            drop(ready);
            drop(guard);
            t1
        }
        "range" => {
            let file = preopens::open_file(&path, true, true).unwrap_or_else(|err| fail(&err));
            let guard = lock_range_timeout(
                &file,
                RESERVED_BYTE..RESERVED_BYTE + 1,
                Mode::Exclusive,
                timeout,
            )
            .unwrap_or_else(|err| fail(&err));
            let t1 = wall_ns();
            drop(guard);
            t1
        }
        _ => usage(USAGE, "LAYER is handle, path, request or range"),
    };
    println!("t1={t1}");
}
