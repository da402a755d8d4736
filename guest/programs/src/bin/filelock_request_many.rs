//! `filelock_request_many PATH...`
//!
//! The host holds native exclusive locks on every `PATH` and releases them
//! one by one, in an order of its choosing, about 200 ms apart. Asks for an
//! exclusive lock on each through `Lock::request`, then polls the pollables
//! of the requests still waiting, taking each answer as its pollable becomes
//! ready (prints `acquired <PATH>`) and keeping every guard until all are
//! taken. Prints `order=<PATH>,<PATH>,...` in the order the locks came,
//! releases them all, and prints `ok`.

use portalocker_guest::{Lock, LockGuard, LockRequest};
use portalocker_programs::args;
use wasip2::io::poll::poll;

fn main() {
    let paths = args();
    assert!(!paths.is_empty(), "usage: filelock_request_many PATH...");
    let mut waiting: Vec<LockRequest> = paths
        .iter()
        .map(|path| {
            Lock::new(path.as_str())
                .exclusive()
                .request()
                .expect("request")
        })
        .collect();
    let mut guards: Vec<LockGuard> = Vec::new();

    while !waiting.is_empty() {
        let pollables: Vec<_> = waiting.iter().map(LockRequest::subscribe).collect();
        let ready = poll(&pollables.iter().collect::<Vec<_>>());
        drop(pollables);
        assert!(!ready.is_empty(), "poll returned nothing");
        let (done, rest): (Vec<_>, Vec<_>) = waiting
            .into_iter()
            .enumerate()
            .partition(|(index, _)| ready.contains(&(*index as u32)));
        for (_, request) in done {
            let guard = request.try_take().expect("ready").expect("acquired");
            println!("acquired {}", guard.path());
            guards.push(guard);
        }
        waiting = rest.into_iter().map(|(_, request)| request).collect();
    }

    let order: Vec<&str> = guards.iter().map(LockGuard::path).collect();
    println!("order={}", order.join(","));
    for guard in guards {
        guard.release().expect("release");
    }
    println!("ok");
}
