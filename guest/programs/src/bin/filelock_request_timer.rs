//! `filelock_request_timer PATH LAYER`
//!
//! The host holds a native exclusive lock on `PATH` for about 600 ms after
//! this starts. Asks for an exclusive lock without a timeout through `LAYER`
//! (`path`: `Lock::request`; `handle`: `request_lock` on a descriptor opened
//! with `preopens::open_file(PATH, true, true)`) and polls it together with a
//! 300 ms timer: the timer must win alone (prints `timer first`) with the
//! request still unanswered. Drops the request, prints `dropped` (flushed)
//! and sleeps 1200 ms while the host releases its lock and checks that
//! nothing holds it. For the handle layer, a second descriptor opened
//! separately then `try_lock`s exclusive (prints `second try-lock: ok`): the
//! first descriptor, still open, holds no lock. Prints `ok`.

use std::thread::sleep;
use std::time::Duration;

use portalocker_guest::{Lock, Mode, preopens, request_lock, try_lock, unlock};
use portalocker_programs::{args, expect_ok, flush};
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::io::poll::poll;

const TIMER_NANOS: u64 = 300_000_000;

fn main() {
    let [path, layer] = args()
        .try_into()
        .expect("usage: filelock_request_timer PATH path|handle");
    // The descriptor outlives the request: closing it would release any lock.
    let mut file = None;
    match layer.as_str() {
        "path" => {
            let request = Lock::new(path.as_str()).exclusive().wait_forever();
            let request = request.request().expect("request");
            timer_wins(&request.subscribe(), || request.try_take().is_none());
        }
        "handle" => {
            let first = file.insert(preopens::open_file(&path, true, true).expect("open"));
            let request = request_lock(first, Mode::Exclusive, None);
            timer_wins(&request.subscribe(), || request.try_get().is_none());
        }
        other => panic!("LAYER is `path` or `handle`, not {other:?}"),
    }
    println!("dropped");
    flush();

    sleep(Duration::from_millis(1200));
    if file.is_some() {
        let second = preopens::open_file(&path, true, true).expect("open second");
        expect_ok("second try-lock", try_lock(&second, Mode::Exclusive));
        unlock(&second).expect("unlock second");
    }
    drop(file);
    println!("ok");
}

/// Polls `request` with a 300 ms timer: the timer must be ready alone, and
/// the request still unanswered (`unanswered`).
fn timer_wins(request: &wasip2::io::poll::Pollable, unanswered: impl Fn() -> bool) {
    let timer = subscribe_duration(TIMER_NANOS);
    assert_eq!(poll(&[request, &timer]), [1], "only the timer is ready");
    println!("timer first");
    assert!(
        unanswered(),
        "the request was answered while the host holds the lock"
    );
}
