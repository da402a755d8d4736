//! `filelock_request_counter PATH N`
//!
//! `N` times: asks for an exclusive lock on `PATH` with `Lock::request`
//! (creating the file, read-write), waits for it by polling the request's
//! pollable, reads the decimal number in the file (empty counts as 0), writes
//! the number plus one so that the file holds exactly the new number, and
//! releases the lock. Prints `done N`.
//!
//! On failure it prints `error: <kind>` and exits with 2 for
//! `already-locked`, 3 for `timed-out` and 1 otherwise.

use portalocker_guest::{Error, Lock};
use portalocker_programs::{args, fail, flush, parse_counter, poll_take};

fn main() {
    let [path, n] = args()
        .try_into()
        .expect("usage: filelock_request_counter PATH N");
    let n: u64 = n.parse().expect("N is a number");
    if let Err(error) = count(&path, n) {
        fail(&error);
    }
    println!("done {n}");
    flush();
}

/// Increments under an exclusive lock taken through a request, `n` times.
fn count(path: &str, n: u64) -> Result<(), Error> {
    let lock = Lock::new(path).exclusive().create(true).write(true);
    for _ in 0..n {
        let request = lock.request()?;
        let mut guard = poll_take(&request)?;
        let value = parse_counter(&guard.contents()?);
        guard.set_contents((value + 1).to_string().as_bytes())?;
        guard.release()?;
    }
    Ok(())
}
