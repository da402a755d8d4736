//! `waiting_idle_request PATH`
//!
//! A waiter that asks and then looks away, driven by the host through files
//! in the preopen `/`. Round k = 0, 1, ...: requests an exclusive lock on a
//! descriptor of `PATH` (without timeout), polls the request once together
//! with a timer that is already due (so the host has seen it and lined it
//! up), creates `requested-<k>`, and then leaves the request alone until
//! the host creates `collect-<k>` or `stop`:
//!
//! - on `collect-<k>` it collects the answer without waiting and writes it
//!   to `collected-<k>` (`ok`, `none` while still waiting, or the error's
//!   WIT name), releases a lock it got, drops the request, and waits for
//!   `again-<k>` (or `stop`) before round k + 1;
//! - on `stop` it drops the request and prints `rounds=<k + 1>` and `ok`.
//!
//! Whatever the host saw locked between those steps was either this
//! request's lock (then its answer says `ok`) or a lock nobody asked for.

use std::time::{Duration, Instant};

use portalocker_guest::{Mode, preopens, request_lock, unlock};
use portalocker_programs::{args, expect_ok, outcome_name, usage};
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::io::poll::poll;

/// How long the host may take to answer.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until the host creates `name` (true) or `stop` (false).
fn host_says(name: &str) -> bool {
    let start = Instant::now();
    loop {
        if std::fs::metadata("/stop").is_ok() {
            return false;
        }
        if std::fs::metadata(format!("/{name}")).is_ok() {
            return true;
        }
        assert!(start.elapsed() < PATIENCE, "the host never answered");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn main() {
    let [path] = args()
        .try_into()
        .unwrap_or_else(|_| usage("waiting_idle_request PATH", "one argument"));
    let file = expect_ok("open", preopens::open_file(&path, true, true));
    let mut rounds = 0;
    loop {
        let k = rounds;
        rounds += 1;
        let request = request_lock(&file, Mode::Exclusive, None);
        let (ready, due) = (request.subscribe(), subscribe_duration(0));
        poll(&[&ready, &due]);
        drop((ready, due));
        std::fs::write(format!("/requested-{k}"), b"").expect("create requested-k");
        if !host_says(&format!("collect-{k}")) {
            break;
        }
        let answer = request.try_get();
        let name = match &answer {
            None => "none".to_owned(),
            Some(answer) => outcome_name(answer),
        };
        if let Some(Ok(())) = answer {
            expect_ok("unlock", unlock(&file));
        }
        drop(request);
        // Written aside and renamed, so that the host never reads it half
        // written.
        std::fs::write("/collected.tmp", name).expect("write the answer");
        std::fs::rename("/collected.tmp", format!("/collected-{k}")).expect("create collected-k");
        if !host_says(&format!("again-{k}")) {
            break;
        }
    }
    println!("rounds={rounds}");
    println!("ok");
}
