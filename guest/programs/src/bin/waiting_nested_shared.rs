//! `waiting_nested_shared holder|queued PATH TIMEOUT_MS`
//!
//! A shared holder takes a second shared lock while an exclusive waiter of
//! another instance is queued behind its first one (library code does this:
//! a function that locks a file shared, called by one that holds it shared).
//! `flock(2)` grants the second shared lock at once; a host that lined it up
//! behind the exclusive waiter would deadlock the two instances.
//!
//! - `holder`: locks `PATH` shared through the path layer, reaches the
//!   checkpoint `a-holds` (see [`portalocker_programs::checkpoint`]) and,
//!   once the host answers `go`, locks `PATH` shared a second time (a
//!   second open file) with a timeout of `TIMEOUT_MS` ms. Prints
//!   `second: <outcome>` and `elapsed_us=N` (how long that call took), then
//!   releases both.
//! - `queued`: requests an exclusive lock on `PATH` with a timeout of
//!   `TIMEOUT_MS` ms, polls the request once together with a timer that is
//!   already due (so the host has seen the request and lined it up), creates
//!   the file `b-queued`, then waits for the answer. Prints
//!   `exclusive: <outcome>`.
//!
//! Both print `ok` at the end.

use std::time::{Duration, Instant};

use portalocker_guest::Lock;
use portalocker_programs::{args, checkpoint, expect_ok, flush, outcome_name, usage};
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::io::poll::poll;

const USAGE: &str = "waiting_nested_shared holder|queued PATH TIMEOUT_MS";

fn main() {
    let [role, path, timeout] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "three arguments"));
    let timeout = Duration::from_millis(
        timeout
            .parse()
            .unwrap_or_else(|_| usage(USAGE, "TIMEOUT_MS is a number")),
    );
    match role.as_str() {
        "holder" => {
            let first = expect_ok("first shared", Lock::new(path.as_str()).shared().acquire());
            checkpoint("a-holds", "go");
            let start = Instant::now();
            let second = Lock::new(path.as_str()).shared().timeout(timeout).acquire();
            let elapsed = start.elapsed();
            println!("second: {}", outcome_name(&second));
            println!("elapsed_us={}", elapsed.as_micros());
            flush();
            drop(second);
            drop(first);
        }
        "queued" => {
            let request = expect_ok(
                "request exclusive",
                Lock::new(path.as_str())
                    .exclusive()
                    .timeout(timeout)
                    .request(),
            );
            let (ready, due) = (request.subscribe(), subscribe_duration(0));
            poll(&[&ready, &due]);
            drop((ready, due));
            std::fs::write("/b-queued", b"").expect("create b-queued");
            let answer = request.wait();
            println!("exclusive: {}", outcome_name(&answer));
            drop(answer);
        }
        _ => usage(USAGE, "the role is `holder` or `queued`"),
    }
    println!("ok");
}
