//! `counter [--no-lock] PATH N`
//!
//! `N` times: takes an exclusive lock on `PATH` through the path layer
//! (creating the file, read-write), reads the decimal number in it (a missing
//! or empty file counts as 0), writes the number plus one so that the file
//! holds exactly the new number, and releases the lock. Prints `done N` at the
//! end.
//!
//! `--no-lock` (also accepted after the positionals) does the same
//! read-modify-write without locking, on descriptors opened (with create)
//! through the preopens: run several at once and updates get lost. Both modes
//! pause 50 µs between the read and the write, so the comparison is fair.
//!
//! On failure it prints `error: <kind>` and exits with 2 for
//! `already-locked`, 3 for `timed-out` and 1 otherwise; a locked counter
//! file that holds something else than a number prints `error:
//! not-a-number`, and one at `u64::MAX` `error: overflow` (exit 1, the file
//! left as it was).

use std::thread::sleep;
use std::time::Duration;

use portalocker_guest::{Error, Lock, preopens};
use portalocker_programs::{
    CounterError, args, exit, fail, flush, overwrite, read_all, read_counter, usage,
};

const USAGE: &str = "counter [--no-lock] PATH N";

/// The pause between reading the number and writing the next one.
const PAUSE: Duration = Duration::from_micros(50);

fn main() {
    let mut locking = true;
    let mut positional = Vec::new();
    for arg in args() {
        match arg.as_str() {
            "--no-lock" => locking = false,
            flag if flag.starts_with("--") => usage(USAGE, &format!("unknown option {flag}")),
            _ => positional.push(arg),
        }
    }
    let [path, n] = positional.as_slice() else {
        usage(USAGE, "expected PATH N");
    };
    let Ok(n) = n.parse::<u64>() else {
        usage(USAGE, "N is a number");
    };

    let result = if locking {
        count_locked(path, n)
    } else {
        count_unlocked(path, n)
    };
    match result {
        Ok(()) => {}
        Err(Failure::Lock(error)) => fail(&error),
        Err(Failure::Counter(error)) => {
            println!("error: {}", error.kind());
            eprintln!("{path}: {error}");
            exit(1);
        }
    }
    println!("done {n}");
    flush();
}

/// Why counting stopped.
enum Failure {
    /// Locking or reading and writing the file failed.
    Lock(Error),
    /// The file held no number the counter can increment.
    Counter(CounterError),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Lock(error)
    }
}

/// The number an unlocked counter file holds, as far as it can be read:
/// writers that do not lock can leave it empty or torn (digits of two writes
/// mixed), which counts as its leading digits, or 0.
fn parse_torn(contents: &[u8]) -> u64 {
    let digits: String = contents
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| char::from(b))
        .collect();
    digits.parse().unwrap_or(0)
}

/// Increments under an exclusive lock, `n` times.
fn count_locked(path: &str, n: u64) -> Result<(), Failure> {
    let lock = Lock::new(path).exclusive().create(true).write(true);
    for _ in 0..n {
        let mut guard = lock.acquire()?;
        let next = read_counter(&guard.contents()?)
            .and_then(|value| value.checked_add(1).ok_or(CounterError::Overflow))
            .map_err(Failure::Counter)?;
        sleep(PAUSE);
        guard.set_contents(next.to_string().as_bytes())?;
        guard.release()?;
    }
    Ok(())
}

/// Increments without locking, `n` times.
fn count_unlocked(path: &str, n: u64) -> Result<(), Failure> {
    for _ in 0..n {
        let file = preopens::open_file(path, true, true)?;
        let value = parse_torn(&read_all(&file));
        sleep(PAUSE);
        overwrite(&file, value.saturating_add(1).to_string().as_bytes());
    }
    Ok(())
}
