//! `named COMMAND ...`: named locks beyond one machine (the WIT `named-lock`
//! interface), in namespaces the host grants (`--lock-namespace NAME=URL`).
//!
//! * `named hold [--shared] [--try] [--timeout MS] [--write PATH] [--until GATE]
//!   NAMESPACE NAME MILLIS`: takes the lock, prints `locked token=T` (`-` for
//!   no token), with `--write` stamps a write to the protected resource
//!   `PATH` with the token (see `write`), then holds the lock for `MILLIS`
//!   ms and, with `--until`, until the host file `GATE` exists. If the lock
//!   is lost meanwhile it prints `lost` and exits 4; otherwise it releases
//!   and prints `released`.
//! * `named count NAMESPACE NAME PATH N`: `N` times, takes the lock
//!   exclusively, increments the number in the file `PATH` (no file lock:
//!   the named lock is what excludes the other counters), releases. Prints
//!   `done N`.
//! * `named write PATH TOKEN DATA`: the example *protected resource*: a file
//!   that remembers the largest fencing token that wrote to it and refuses a
//!   write stamped with a smaller one. Prints `accepted` or `rejected`
//!   (exit 5).
//! * `named request NAMESPACE NAME MILLIS`: asks for the lock exclusively
//!   without waiting (`namespace.request`) and polls the request together
//!   with a timer of `MILLIS` ms: prints `acquired token=T` (then releases
//!   and prints `released`)
//!   if the lock comes first, or drops the request and prints `cancelled`
//!   if the timer does.
//! * `named tries [--shared] NAMESPACE NAME N`: `N` single attempts
//!   (timeout zero), each released at once; prints `failed=K`, how many
//!   were refused.
//! * `named namespaces`: prints the namespaces the host grants, one a line.
//!
//! Failures print `error: <kind>` (the WIT `named-lock-error` case) and exit
//! 2 for `already-locked`, 3 for `timed-out`, 6 for `unavailable`, 4 for
//! `lost`, 1 otherwise.

use std::time::{Duration, Instant};

use portalocker_guest::{NamedErrorKind, NamedLock, NamedLockError};
use portalocker_programs::named::{FencedWrite, fenced_write};
use portalocker_programs::{args, exit, flush, parse_counter, usage};
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::io::poll::poll;

const USAGE: &str = "named hold [--shared] [--try] [--timeout MS] [--write PATH] [--until GATE] \
                     NAMESPACE NAME MILLIS | named count NAMESPACE NAME PATH N | \
                     named write PATH TOKEN DATA | named request NAMESPACE NAME MILLIS | \
                     named tries [--shared] NAMESPACE NAME N | named namespaces";

fn main() {
    let args = args();
    let Some((command, rest)) = args.split_first() else {
        usage(USAGE, "expected a command");
    };
    match command.as_str() {
        "hold" => hold(rest),
        "count" => count(rest),
        "write" => write(rest),
        "request" => request(rest),
        "tries" => tries(rest),
        "namespaces" => {
            for namespace in portalocker_guest::granted_namespaces() {
                println!("{namespace}");
            }
        }
        other => usage(USAGE, &format!("unknown command {other}")),
    }
    flush();
}

/// Reports `error` and exits with its code.
fn fail(error: &NamedLockError) -> ! {
    println!("error: {}", error.kind().name());
    eprintln!("{error}");
    exit(match error.kind() {
        NamedErrorKind::AlreadyLocked => 2,
        NamedErrorKind::TimedOut => 3,
        NamedErrorKind::Lost => 4,
        NamedErrorKind::Unavailable => 6,
        _ => 1,
    })
}

fn hold(args: &[String]) {
    let mut shared = false;
    let mut timeout = None;
    let mut write_to = None;
    let mut until = None;
    let mut positional = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--shared" => shared = true,
            "--try" => timeout = Some(Duration::ZERO),
            "--timeout" => match args.next().and_then(|ms| ms.parse().ok()) {
                Some(ms) => timeout = Some(Duration::from_millis(ms)),
                None => usage(USAGE, "--timeout takes milliseconds"),
            },
            "--write" => write_to = args.next().cloned(),
            "--until" => until = args.next().cloned(),
            flag if flag.starts_with("--") => usage(USAGE, &format!("unknown option {flag}")),
            _ => positional.push(arg.clone()),
        }
    }
    let [namespace, name, millis] = positional.as_slice() else {
        usage(USAGE, "hold takes NAMESPACE NAME MILLIS");
    };
    let Ok(millis) = millis.parse::<u64>() else {
        usage(USAGE, "MILLIS is a number");
    };
    let mut lock = NamedLock::new(namespace.as_str(), name.as_str());
    if shared {
        lock = lock.shared();
    }
    if let Some(timeout) = timeout {
        lock = lock.timeout(timeout);
    }
    let guard = lock.acquire().unwrap_or_else(|e| fail(&e));
    let token = guard.fencing_token();
    println!(
        "locked token={}",
        token.map_or_else(|| "-".to_owned(), |t| t.to_string())
    );
    flush();
    if let Some(path) = &write_to {
        let token = token.expect("a fenced write needs a fencing token");
        match fenced_write(path, token, b"written under the lock") {
            FencedWrite::Accepted => println!("write accepted"),
            FencedWrite::Rejected { newest } => println!("write rejected newest={newest}"),
        }
        flush();
    }
    let lost = guard.lost();
    let deadline = Instant::now() + Duration::from_millis(millis);
    loop {
        let now = Instant::now();
        let waiting_for_gate = now >= deadline;
        if waiting_for_gate && until.as_ref().is_none_or(|gate| gate_open(gate)) {
            break;
        }
        let pause = if waiting_for_gate {
            Duration::from_millis(10)
        } else {
            (deadline - now).min(Duration::from_millis(100))
        };
        let timer = subscribe_duration(pause.as_nanos() as u64);
        let ready = poll(&[&lost, &timer]);
        if ready.contains(&0) {
            println!("lost");
            flush();
            drop(lost);
            match guard.release() {
                Err(e) if e.kind() == NamedErrorKind::Lost => println!("release: lost"),
                other => println!("release: {other:?}"),
            }
            exit(4);
        }
    }
    drop(lost);
    guard.release().unwrap_or_else(|e| fail(&e));
    println!("released");
}

/// Whether the gate file exists in the preopen.
fn gate_open(gate: &str) -> bool {
    std::fs::metadata(gate).is_ok()
}

fn count(args: &[String]) {
    let [namespace, name, path, n] = args else {
        usage(USAGE, "count takes NAMESPACE NAME PATH N");
    };
    let Ok(n) = n.parse::<u64>() else {
        usage(USAGE, "N is a number");
    };
    let lock = NamedLock::new(namespace.as_str(), name.as_str());
    for _ in 0..n {
        let guard = lock.acquire().unwrap_or_else(|e| fail(&e));
        let value = std::fs::read(path).map_or(0, |bytes| parse_counter(&bytes));
        std::thread::sleep(Duration::from_micros(50));
        std::fs::write(path, (value + 1).to_string()).expect("write the counter");
        guard.release().unwrap_or_else(|e| fail(&e));
    }
    println!("done {n}");
}

fn write(args: &[String]) {
    let [path, token, data] = args else {
        usage(USAGE, "write takes PATH TOKEN DATA");
    };
    let Ok(token) = token.parse::<u64>() else {
        usage(USAGE, "TOKEN is a number");
    };
    match fenced_write(path, token, data.as_bytes()) {
        FencedWrite::Accepted => println!("accepted"),
        FencedWrite::Rejected { newest } => {
            println!("rejected newest={newest}");
            exit(5);
        }
    }
}

fn request(args: &[String]) {
    let [namespace, name, millis] = args else {
        usage(USAGE, "request takes NAMESPACE NAME MILLIS");
    };
    let Ok(millis) = millis.parse::<u64>() else {
        usage(USAGE, "MILLIS is a number");
    };
    let request = NamedLock::new(namespace.as_str(), name.as_str())
        .request()
        .unwrap_or_else(|e| fail(&e));
    let ready = request.subscribe();
    let timer = subscribe_duration(Duration::from_millis(millis).as_nanos() as u64);
    let first = poll(&[&ready, &timer]);
    drop((ready, timer));
    if first.contains(&0) {
        let guard = request
            .try_take()
            .expect("the answer is there once the pollable is ready")
            .unwrap_or_else(|e| fail(&e));
        println!(
            "acquired token={}",
            guard
                .fencing_token()
                .map_or_else(|| "-".to_owned(), |t| t.to_string())
        );
        guard.release().unwrap_or_else(|e| fail(&e));
        println!("released");
    } else {
        drop(request);
        println!("cancelled");
    }
}

fn tries(args: &[String]) {
    let (shared, args) = match args.split_first() {
        Some((flag, rest)) if flag == "--shared" => (true, rest),
        _ => (false, args),
    };
    let [namespace, name, n] = args else {
        usage(USAGE, "tries takes [--shared] NAMESPACE NAME N");
    };
    let Ok(n) = n.parse::<u64>() else {
        usage(USAGE, "N is a number");
    };
    let mut lock = NamedLock::new(namespace.as_str(), name.as_str()).no_wait();
    if shared {
        lock = lock.shared();
    }
    let mut failed = 0;
    for _ in 0..n {
        match lock.acquire() {
            Ok(guard) => guard.release().unwrap_or_else(|e| fail(&e)),
            Err(e) if e.kind() == NamedErrorKind::AlreadyLocked => failed += 1,
            Err(e) => fail(&e),
        }
    }
    println!("failed={failed}");
}
