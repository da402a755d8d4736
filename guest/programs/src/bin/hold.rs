//! `hold [--layer LAYER] [--label L] [--try] [--timeout MS] [--until GATE] PATH MODE MILLIS`
//!
//! Locks `PATH` in `MODE` (`shared` or `exclusive`), prints `locked`, holds the
//! lock, releases it and prints `released`.
//!
//! * `--layer` picks the lock class:
//!   - `path` (the default): the path layer;
//!   - `handle`: opens the file itself and locks the descriptor with the
//!     handle layer;
//!   - `reentrant`: a reentrant lock, acquired twice and released twice;
//!   - `temporary`: a temporary lock file, removed on release;
//!   - `semaphore`: a one-slot bounded semaphore named `PATH` (the slot file
//!     is `PATH.00.lock`, as portalocker names it; `MODE` must be
//!     `exclusive`);
//!   - `pid`: a PID-file lock, published with `--label L` (`MODE` must be
//!     `exclusive`; the lock is on `PATH.lock`, the process id in `PATH`);
//!   - `std`: opens the file with `std::fs::File` (creating it, read-write)
//!     and locks it with `FileLockExt`, as existing std code would;
//!   - `fs4`: the same through the fs4-compatible `fs4::FileExt`
//!     (`--timeout` is not offered there: fs4 has no timed lock).
//!
//!   The path, handle and reentrant layers open an existing file for
//!   reading only (so a shared lock works through a read-only preopen), and
//!   create a missing one.
//! * By default it waits as long as it takes; `--try` makes one attempt and
//!   `--timeout MS` waits at most `MS` milliseconds.
//! * It holds the lock for `MILLIS` milliseconds, then, with `--until GATE`,
//!   until it can take a shared lock on the file `GATE` (which the caller
//!   holds exclusively for as long as the lock must stay held).
//!
//! On failure it prints `error: <kind>` (the WIT `lock-error` case) and exits
//! with 2 for `already-locked`, 3 for `timed-out` and 1 otherwise. A PID-file
//! contention also prints `holder: <pid> <instance> <label>` when the holder
//! is known: `-` for an empty instance or no label, and white space, control
//! characters and backslashes escaped (`\u{1b}`, `\\`), since a label can
//! come from any program that writes the record.

use std::thread::sleep;
use std::time::Duration;

use portalocker_guest::fs4::{FileExt, TryLockError};
use portalocker_guest::{
    BoundedSemaphore, Error, ErrorKind, FileLockExt, Lock, Mode, PidFileLock, preopens,
};
use portalocker_programs::{args, exit, exit_code, fail, flush, parse_mode, usage};

const USAGE: &str = "hold [--layer path|handle|reentrant|temporary|semaphore|pid|std|fs4] [--label L] \
                     [--try] [--timeout MS] [--until GATE] PATH MODE MILLIS";

/// Which lock class locks the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Path,
    Handle,
    Reentrant,
    Temporary,
    Semaphore,
    Pid,
    Std,
    Fs4,
}

/// What the program was asked to do.
struct Request {
    layer: Layer,
    label: Option<String>,
    path: String,
    mode: Mode,
    timeout: Option<Duration>,
    hold_for: Duration,
    until: Option<String>,
}

fn main() {
    let request = parse();
    if let Err(error) = hold(&request) {
        if let Some(holder) = error.holder() {
            println!(
                "holder: {} {} {}",
                holder.pid,
                field(&holder.instance),
                field(holder.label.as_deref().unwrap_or(""))
            );
        }
        fail(&error);
    }
    println!("released");
    flush();
}

fn parse() -> Request {
    let mut layer = Layer::Path;
    let mut label = None;
    let mut timeout = None;
    let mut until = None;
    let mut positional = Vec::new();
    let mut args = args().into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--layer" => {
                layer = match args.next().as_deref() {
                    Some("path") => Layer::Path,
                    Some("handle") => Layer::Handle,
                    Some("reentrant") => Layer::Reentrant,
                    Some("temporary") => Layer::Temporary,
                    Some("semaphore") => Layer::Semaphore,
                    Some("pid") => Layer::Pid,
                    Some("std") => Layer::Std,
                    Some("fs4") => Layer::Fs4,
                    _ => usage(USAGE, "unknown --layer"),
                }
            }
            "--label" => {
                label = Some(
                    args.next()
                        .unwrap_or_else(|| usage(USAGE, "--label takes a label")),
                )
            }
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
    if matches!(layer, Layer::Semaphore | Layer::Pid) && mode != Mode::Exclusive {
        usage(USAGE, "semaphore slots and PID files are exclusive");
    }
    if layer == Layer::Fs4 && timeout.is_some_and(|t| !t.is_zero()) {
        usage(
            USAGE,
            "fs4's FileExt has no timed lock: use --try or --layer std",
        );
    }
    let Ok(millis) = millis.parse() else {
        usage(USAGE, "MILLIS is a number of milliseconds");
    };
    Request {
        layer,
        label,
        path: path.clone(),
        mode,
        timeout,
        hold_for: Duration::from_millis(millis),
        until,
    }
}

/// One field of the `holder:` line: `-` when empty, escaped so that it is
/// one printable word.
fn field(text: &str) -> String {
    if text.is_empty() {
        return "-".to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\\' => "\\\\".to_owned(),
            c if c.is_control() || c.is_whitespace() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Takes the lock, holds it while [`held`] runs, releases it.
fn hold(request: &Request) -> Result<(), Error> {
    // An existing file is only read: a shared lock then needs no right to
    // write (a read-only preopen), and an exclusive one no more than the
    // host's policy asks for.
    let missing = std::fs::metadata(&request.path).is_err();
    let lock = Lock::new(request.path.as_str())
        .mode(request.mode)
        .create(missing)
        .write(missing);
    let lock = match request.timeout {
        Some(timeout) => lock.timeout(timeout),
        None => lock.wait_forever(),
    };
    match request.layer {
        Layer::Path => {
            let guard = lock.acquire()?;
            held(request)?;
            guard.release()
        }
        Layer::Handle => {
            let file = preopens::open_file(&request.path, missing, missing)?;
            match request.timeout {
                None => portalocker_guest::lock(&file, request.mode)?,
                Some(Duration::ZERO) => portalocker_guest::try_lock(&file, request.mode)?,
                Some(timeout) => portalocker_guest::lock_timeout(&file, request.mode, timeout)?,
            }
            held(request)?;
            portalocker_guest::unlock(&file)
        }
        Layer::Reentrant => {
            let rlock = lock.reentrant()?;
            rlock.acquire()?;
            rlock.acquire()?;
            held(request)?;
            rlock.release()?;
            rlock.release()
        }
        Layer::Temporary => {
            let temporary = lock.acquire_temporary()?;
            held(request)?;
            temporary.release()
        }
        Layer::Semaphore => {
            let semaphore = BoundedSemaphore::new(request.path.as_str(), 1);
            let semaphore = match request.timeout {
                Some(timeout) => semaphore.timeout(timeout),
                None => semaphore,
            };
            let slot = semaphore.acquire()?;
            held(request)?;
            drop(slot);
            Ok(())
        }
        Layer::Pid => {
            let mut pid = PidFileLock::new(request.path.as_str());
            if let Some(label) = &request.label {
                pid = pid.label(label.as_str());
            }
            if let Some(timeout) = request.timeout {
                pid = pid.timeout(timeout);
            }
            let guard = pid.acquire()?;
            held(request)?;
            guard.release()
        }
        Layer::Std => {
            let file = std_open(&request.path);
            match request.timeout {
                None => file.lock_file(request.mode)?,
                Some(Duration::ZERO) => file.try_lock_file(request.mode)?,
                Some(timeout) => file.lock_file_timeout(request.mode, timeout)?,
            }
            held(request)?;
            file.unlock_file()
        }
        Layer::Fs4 => {
            let file = std_open(&request.path);
            let wait = request.timeout.is_none();
            let locked = match (request.mode, wait) {
                (Mode::Exclusive, true) => FileExt::lock(&file).map_err(fs4_error),
                (Mode::Shared, true) => FileExt::lock_shared(&file).map_err(fs4_error),
                (Mode::Exclusive, false) => FileExt::try_lock(&file).map_err(fs4_try_error),
                (Mode::Shared, false) => FileExt::try_lock_shared(&file).map_err(fs4_try_error),
            };
            locked?;
            held(request)?;
            FileExt::unlock(&file).map_err(fs4_error)
        }
    }
}

/// Opens `path` with `std::fs` for reading and writing, creating it; exits
/// with `error: open` (code 1) when that fails.
fn std_open(path: &str) -> std::fs::File {
    std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap_or_else(|err| {
            println!("error: open");
            eprintln!("open {path}: {err}");
            exit(1)
        })
}

/// The [`Error`] inside an `io::Error` from `fs4::FileExt`.
fn fs4_error(err: std::io::Error) -> Error {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .cloned()
        .unwrap_or_else(|| panic!("fs4::FileExt failed without a lock error: {err}"))
}

/// The [`Error`] behind an `fs4::TryLockError`; `WouldBlock` ends the
/// program as `already-locked` does.
fn fs4_try_error(err: TryLockError) -> Error {
    match err {
        TryLockError::WouldBlock => {
            println!("error: already-locked");
            eprintln!("fs4 try_lock: would block");
            exit(exit_code(ErrorKind::AlreadyLocked))
        }
        TryLockError::Error(err) => fs4_error(err),
    }
}

/// Reports the lock held, then keeps it for the time and gate asked for.
fn held(request: &Request) -> Result<(), Error> {
    println!("locked");
    flush();
    sleep(request.hold_for);
    if let Some(gate) = &request.until {
        let opened = Lock::new(gate.as_str()).shared().write(false).acquire()?;
        opened.release()?;
    }
    Ok(())
}
