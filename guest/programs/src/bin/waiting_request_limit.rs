//! `waiting_request_limit PATH...`
//!
//! Run by a host that allows one held lock (`max_held_locks(1)`, CLI
//! `--max-locks 1`): asks for an exclusive lock on a descriptor of each
//! `PATH` (all free) with `request-lock`, every request made before any is
//! answered, then polls each request until it is ready and collects its
//! answer. The limit must hold when a request completes, not only when it
//! is made: at most one request may end holding a lock. Prints
//! `answers=<outcome>,<outcome>,...` in the order of the paths, reaches the
//! checkpoint `answered` (see [`portalocker_programs::checkpoint`]; the
//! host probes the files), then closes everything and prints `ok`.

use portalocker_guest::{Mode, preopens, request_lock};
use portalocker_programs::{args, checkpoint, expect_ok, outcome_name, poll_ready, usage};

fn main() {
    let paths = args();
    if paths.is_empty() {
        usage("waiting_request_limit PATH...", "at least one path");
    }
    let files: Vec<_> = paths
        .iter()
        .map(|path| expect_ok("open", preopens::open_file(path, true, true)))
        .collect();
    let requests: Vec<_> = files
        .iter()
        .map(|file| request_lock(file, Mode::Exclusive, None))
        .collect();
    let answers: Vec<String> = requests
        .iter()
        .map(|request| {
            poll_ready(&request.subscribe());
            let answer = request.try_get().expect("ready once its pollable is");
            outcome_name(&answer)
        })
        .collect();
    println!("answers={}", answers.join(","));
    checkpoint("answered", "probed");
    drop(requests);
    drop(files);
    println!("ok");
}
