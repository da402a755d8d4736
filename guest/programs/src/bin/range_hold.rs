//! `range_hold [--try] [--timeout MS] [--until GATE] [--test] PATH START LENGTH MODE`
//!
//! Locks the bytes `START` to `START + LENGTH` of `PATH` (`LENGTH` 0: to the
//! end of the file) in `MODE` (`shared` or `exclusive`) with the WIT
//! `range-lock`, prints `locked`, keeps the range until it can take a shared
//! whole-file lock on `GATE` (which the caller holds exclusively for as long
//! as the range must stay locked; without `--until` it unlocks at once),
//! unlocks it and prints `released`. The file is opened for reading and
//! writing, and created if missing.
//!
//! * By default it waits as long as it takes; `--try` makes one attempt and
//!   `--timeout MS` waits at most `MS` milliseconds.
//! * `--test` locks nothing: it prints `free`, or
//!   `conflict MODE START LENGTH PID` (`-` for an unknown pid) for a lock of
//!   another open file in the way.
//!
//! On failure it prints `error: <kind>` and exits with 2 for
//! `already-locked`, 3 for `timed-out` and 1 otherwise.

use std::ops::Bound;
use std::time::Duration;

use portalocker_guest::{
    Error, Lock, Mode, lock_range, lock_range_timeout, preopens, test_range, try_lock_range,
};
use portalocker_programs::{args, fail, flush, parse_mode, usage};

const USAGE: &str =
    "range_hold [--try] [--timeout MS] [--until GATE] [--test] PATH START LENGTH MODE";

fn main() {
    let mut timeout = None;
    let mut until = None;
    let mut test = false;
    let mut positional = Vec::new();
    let mut args = args().into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--try" => timeout = Some(Duration::ZERO),
            "--timeout" => match args.next().and_then(|ms| ms.parse().ok()) {
                Some(ms) => timeout = Some(Duration::from_millis(ms)),
                None => usage(USAGE, "--timeout takes a number of milliseconds"),
            },
            "--until" => {
                until = Some(
                    args.next()
                        .unwrap_or_else(|| usage(USAGE, "--until takes a path")),
                )
            }
            "--test" => test = true,
            flag if flag.starts_with("--") => usage(USAGE, &format!("unknown option {flag}")),
            _ => positional.push(arg),
        }
    }
    let [path, start, length, mode] = positional.as_slice() else {
        usage(USAGE, "expected PATH START LENGTH MODE");
    };
    let (Ok(start), Ok(length)) = (start.parse::<u64>(), length.parse::<u64>()) else {
        usage(USAGE, "START and LENGTH are numbers of bytes");
    };
    let Some(mode) = parse_mode(mode) else {
        usage(USAGE, "MODE is `shared` or `exclusive`");
    };
    let end = match length {
        0 => None,
        length => Some(
            start
                .checked_add(length)
                .unwrap_or_else(|| usage(USAGE, "START + LENGTH overflows")),
        ),
    };
    let bytes = (
        Bound::Included(start),
        end.map_or(Bound::Unbounded, Bound::Excluded),
    );
    let run = || -> Result<(), Error> {
        let file = preopens::open_file(path, true, true)?;
        if test {
            match test_range(&file, bytes, mode)? {
                None => println!("free"),
                Some(conflict) => println!(
                    "conflict {} {} {} {}",
                    conflict.mode,
                    conflict.start,
                    conflict.end.map_or(0, |end| end - conflict.start),
                    conflict.pid.map_or("-".to_owned(), |pid| pid.to_string())
                ),
            }
            return Ok(());
        }
        let guard = match timeout {
            None => lock_range(&file, bytes, mode)?,
            Some(Duration::ZERO) => try_lock_range(&file, bytes, mode)?,
            Some(timeout) => lock_range_timeout(&file, bytes, mode, timeout)?,
        };
        println!("locked");
        flush();
        if let Some(gate) = &until {
            Lock::new(gate.as_str())
                .mode(Mode::Shared)
                .write(false)
                .acquire()?
                .release()?;
        }
        guard.unlock()?;
        println!("released");
        Ok(())
    };
    if let Err(error) = run() {
        fail(&error);
    }
    flush();
}
