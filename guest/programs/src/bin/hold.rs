//! `hold [--layer path|handle] [--try] [--timeout MS] PATH MODE MILLIS`
//!
//! Locks `PATH` in `MODE` (`shared` or `exclusive`), prints `locked`, holds the
//! lock for `MILLIS` milliseconds, releases it and prints `released`.
//!
//! * `--layer path` (the default) locks through the path layer, creating the
//!   file and opening it for writing; `--layer handle` opens the file itself
//!   (creating it, read-write) and locks the descriptor with the handle layer.
//! * By default it waits as long as it takes; `--try` makes one attempt and
//!   `--timeout MS` waits at most `MS` milliseconds.
//!
//! On failure it prints `error: <kind>` (the WIT `lock-error` case) and exits
//! with 2 for `already-locked`, 3 for `timed-out` and 1 otherwise.

use std::thread::sleep;
use std::time::Duration;

use portalocker_guest::{Error, Lock, Mode, preopens};
use portalocker_programs::{args, fail, flush, parse_mode, usage};

const USAGE: &str = "hold [--layer path|handle] [--try] [--timeout MS] PATH MODE MILLIS";

/// Which layer locks the file.
enum Layer {
    Path,
    Handle,
}

fn main() {
    let mut layer = Layer::Path;
    let mut timeout = None;
    let mut positional = Vec::new();
    let mut args = args().into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--layer" => match args.next().as_deref() {
                Some("path") => layer = Layer::Path,
                Some("handle") => layer = Layer::Handle,
                _ => usage(USAGE, "--layer takes `path` or `handle`"),
            },
            "--try" => timeout = Some(Duration::ZERO),
            "--timeout" => match args.next().and_then(|ms| ms.parse().ok()) {
                Some(ms) => timeout = Some(Duration::from_millis(ms)),
                None => usage(USAGE, "--timeout takes a number of milliseconds"),
            },
            flag if flag.starts_with("--") => usage(USAGE, &format!("unknown option {flag}")),
            _ => positional.push(arg),
        }
    }
    let [path, mode, millis] = positional.as_slice() else {
        usage(USAGE, "expected PATH MODE MILLIS");
    };
    let Some(mode) = parse_mode(mode) else {
        usage(USAGE, "MODE is `shared` or `exclusive`");
    };
    let Ok(millis) = millis.parse() else {
        usage(USAGE, "MILLIS is a number of milliseconds");
    };
    let hold_for = Duration::from_millis(millis);

    let result = match layer {
        Layer::Path => hold_path(path, mode, timeout, hold_for),
        Layer::Handle => hold_handle(path, mode, timeout, hold_for),
    };
    if let Err(error) = result {
        fail(&error);
    }
    println!("released");
    flush();
}

/// Holds the lock through the path layer.
fn hold_path(
    path: &str,
    mode: Mode,
    timeout: Option<Duration>,
    hold_for: Duration,
) -> Result<(), Error> {
    let lock = Lock::new(path).mode(mode).create(true).write(true);
    let lock = match timeout {
        Some(timeout) => lock.timeout(timeout),
        None => lock.wait_forever(),
    };
    let guard = lock.acquire()?;
    println!("locked");
    flush();
    sleep(hold_for);
    guard.release()
}

/// Holds the lock through the handle layer, on a descriptor opened here.
fn hold_handle(
    path: &str,
    mode: Mode,
    timeout: Option<Duration>,
    hold_for: Duration,
) -> Result<(), Error> {
    let file = preopens::open_file(path, true, true)?;
    match timeout {
        None => portalocker_guest::lock(&file, mode)?,
        Some(Duration::ZERO) => portalocker_guest::try_lock(&file, mode)?,
        Some(timeout) => portalocker_guest::lock_timeout(&file, mode, timeout)?,
    }
    println!("locked");
    flush();
    sleep(hold_for);
    portalocker_guest::unlock(&file)
}
