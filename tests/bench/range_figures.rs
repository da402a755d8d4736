//! The byte-range figures, each with its native baseline in the same run:
//!
//! - R1 range lock+unlock: the guest's `range-lock.try-lock` + `unlock` of
//!   one byte ÷ a native `F_OFD_SETLK` lock + unlock pair on an open file.
//! - R2 SQLite write transactions: the SQLite guest (`guest/sqlite/`, range
//!   locks through the host) ÷ the same SQLite amalgamation with the same
//!   options built for the host (`guest/sqlite/native_bench.c`, classic
//!   fcntl locks), alternating on the same database file; with
//!   `synchronous=FULL` (fsync per commit, as by default) and `OFF` (what the
//!   guest itself costs).
//! - R3 range hand-off: a native holder's unlock of one byte → a waiting
//!   guest's `range-lock.lock` returning (sync and async linker) ÷ a native
//!   `F_OFD_SETLKW` waiter on another open file being granted it.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use portalocker_tests::native::{Mode, open};
use portalocker_tests::ranges::RangeHolder;
use portalocker_tests::{Flavour, Sandbox, guests};

use crate::Size;
use crate::report::Row;
use crate::stats::{median, micros};

/// SQLite's reserved byte, the byte R1 and R3 lock.
const RESERVED_BYTE: i64 = 0x4000_0001;

/// The figures of this file that `only` asks for (all without `only`).
pub fn all(size: Size, only: Option<&str>) -> Vec<Row> {
    let wanted = |figure: &str| only.is_none_or(|only| only == figure);
    let mut rows = Vec::new();
    if wanted("R1") {
        rows.push(range_cost(size));
    }
    if wanted("R2") {
        rows.extend(sqlite_transactions(size));
    }
    if wanted("R3") {
        rows.extend(range_hand_off(size));
    }
    rows
}

/// One `fcntl` record-lock call (`command`: `F_OFD_SETLK` or
/// `F_OFD_SETLKW`) on `file` for byte `at`.
fn ofd(file: &std::fs::File, command: libc::c_int, at: i64, kind: libc::c_int) {
    // SAFETY: all zeroes is a valid `struct flock`.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = at;
    lock.l_len = 1;
    // SAFETY: a valid descriptor and `struct flock`.
    let done = unsafe { libc::fcntl(file.as_raw_fd(), command, &mut lock) };
    assert_eq!(
        done,
        0,
        "F_OFD_SETLK(W): {}",
        std::io::Error::last_os_error()
    );
}

/// R1: an uncontended range lock+unlock pair on an open file.
fn range_cost(size: Size) -> Row {
    let sandbox = Sandbox::new();
    let file = open(&sandbox.path("x.db"));
    let mut native: Vec<f64> = (0..size.repeats)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..size.cycles {
                ofd(&file, libc::F_OFD_SETLK, RESERVED_BYTE, libc::F_WRLCK);
                ofd(&file, libc::F_OFD_SETLK, RESERVED_BYTE, libc::F_UNLCK);
            }
            start.elapsed().as_nanos() as f64 / f64::from(size.cycles)
        })
        .collect();
    let cycles = size.cycles.to_string();
    let mut guest: Vec<f64> = (0..size.repeats)
        .map(|_| {
            let run = sandbox.run(guests::BENCH_RANGE_CYCLE, &["x.db", &cycles]);
            run.assert_success();
            run.value("ns_per_cycle").expect("ns_per_cycle") as f64
        })
        .collect();
    Row {
        figure: "R1 range lock+unlock".into(),
        guest: median(&mut guest) / 1000.0,
        native: Some(median(&mut native) / 1000.0),
        unit: "µs",
        target: "≤ 1.2×".into(),
        limit: 1.2,
        note: format!(
            "{} pairs × {} runs, medians; native: F_OFD_SETLK",
            size.cycles, size.repeats
        ),
    }
}

/// Builds the native baseline with `guest/sqlite/build-native.sh` into
/// `dir`; `None` when the C toolchain is missing.
fn native_bench(dir: &Path) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let out = dir.join("native_bench");
    let status = Command::new("bash")
        .arg(root.join("guest/sqlite/build-native.sh"))
        .arg(&out)
        .status()
        .ok()?;
    status.success().then_some(out)
}

/// R2: SQLite write transactions, guest and native alternating on one
/// database, with and without fsync per commit.
fn sqlite_transactions(size: Size) -> Vec<Row> {
    let Some(guest) = guests::C_SQLITE else {
        eprintln!("R2 skipped: the SQLite guest is not built (run guest/c/install.sh)");
        return Vec::new();
    };
    let sandbox = Sandbox::new();
    let Some(native) = native_bench(sandbox.root()) else {
        eprintln!("R2 skipped: the native baseline could not be built (run guest/c/install.sh)");
        return Vec::new();
    };
    let db = sandbox.path("bench.db");
    let setup = Command::new(&native)
        .arg(&db)
        .arg("1")
        .arg(
            "CREATE TABLE log(writer TEXT, round INTEGER); CREATE TABLE counter(n INTEGER); \
             INSERT INTO counter VALUES (0);",
        )
        .output()
        .expect("run native_bench");
    assert!(setup.status.success(), "{setup:?}");
    let rounds = size.transactions.to_string();
    let ns = |stdout: &[u8]| -> f64 {
        String::from_utf8_lossy(stdout)
            .split_whitespace()
            .find_map(|word| word.strip_prefix("ns_per_round=")?.parse().ok())
            .expect("ns_per_round")
    };
    ["FULL", "OFF"]
        .into_iter()
        .map(|synchronous| {
            let sql = |writer: &str| {
                format!(
                    "PRAGMA synchronous={synchronous}; BEGIN IMMEDIATE; \
                     INSERT INTO log VALUES ('{writer}', :i); UPDATE counter SET n = n + 1; COMMIT;"
                )
            };
            let mut guest_ns = Vec::new();
            let mut native_ns = Vec::new();
            for _ in 0..size.repeats {
                let run = sandbox.run(
                    guest,
                    &["--timing", "--repeat", &rounds, "bench.db", &sql("guest")],
                );
                run.assert_success();
                guest_ns.push(ns(&run.outcome.stdout));
                let output = Command::new(&native)
                    .arg(&db)
                    .arg(&rounds)
                    .arg(sql("native"))
                    .output()
                    .expect("run native_bench");
                assert!(output.status.success(), "{output:?}");
                native_ns.push(ns(&output.stdout));
            }
            let guest_us = median(&mut guest_ns) / 1000.0;
            let native_us = median(&mut native_ns) / 1000.0;
            Row {
                figure: format!("R2 SQLite write transaction (synchronous={synchronous})"),
                guest: guest_us,
                native: Some(native_us),
                unit: "µs",
                target: "≤ 2× (≥ 0.5× tx/s)".into(),
                limit: 2.0,
                note: format!(
                    "{} tx × {} runs, medians; {:.0} vs {:.0} tx/s (guest ÷ native {:.2}×); \
                     native: same SQLite 3.54.1 and options, host build",
                    size.transactions,
                    size.repeats,
                    1e6 / guest_us,
                    1e6 / native_us,
                    native_us / guest_us
                ),
            }
        })
        .collect()
}

/// The wall clock in nanoseconds, which the guest reports too.
fn wall_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .expect("a wall clock after 1970")
        .as_nanos()
}

/// R3: range hand-offs from a native holder to a waiting guest, beside
/// native `F_OFD_SETLKW` hand-offs between two open files.
fn range_hand_off(size: Size) -> Vec<Row> {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.db");
    let baseline = median(&mut micros(&native_range_hand_offs(&path, size.handoffs)));
    [Flavour::Sync, Flavour::Async]
        .into_iter()
        .map(|flavour| {
            let sandbox = Sandbox::new().with_flavour(flavour);
            let samples = native_to_guest_range_hand_offs(&sandbox, size.handoffs);
            let (name, how) = match flavour {
                Flavour::Sync => ("sync", "the guest's own thread waits in the kernel"),
                Flavour::Async => ("async", "a worker waits in the kernel"),
            };
            Row {
                figure: format!("R3 range hand-off native→guest ({name})"),
                guest: median(&mut micros(&samples)),
                native: Some(baseline),
                unit: "µs",
                target: "≤ 2×".into(),
                limit: 2.0,
                note: format!(
                    "median of {}; waiter has a 10 s timeout; {how}; native: F_OFD_SETLKW",
                    samples.len()
                ),
            }
        })
        .collect()
}

/// Native `F_OFD_SETLKW` hand-offs of one byte between two open files on
/// two threads.
fn native_range_hand_offs(path: &Path, count: usize) -> Vec<Duration> {
    (0..count)
        .map(|_| {
            let holder = open(path);
            ofd(&holder, libc::F_OFD_SETLK, RESERVED_BYTE, libc::F_WRLCK);
            let waiter_path = path.to_path_buf();
            let waiter = std::thread::spawn(move || {
                let file = open(&waiter_path);
                ofd(&file, libc::F_OFD_SETLKW, RESERVED_BYTE, libc::F_WRLCK);
                let t1 = wall_ns();
                ofd(&file, libc::F_OFD_SETLK, RESERVED_BYTE, libc::F_UNLCK);
                t1
            });
            std::thread::sleep(Duration::from_millis(5));
            let t0 = wall_ns();
            ofd(&holder, libc::F_OFD_SETLK, RESERVED_BYTE, libc::F_UNLCK);
            let t1 = waiter.join().unwrap();
            Duration::from_nanos(t1.saturating_sub(t0) as u64)
        })
        .collect()
}

/// A native holder unlocks the byte; a guest waiting for it (`bench_wait
/// range`) returns.
fn native_to_guest_range_hand_offs(sandbox: &Sandbox, count: usize) -> Vec<Duration> {
    let path = sandbox.path("x.db");
    (0..count)
        .map(|_| {
            let holder = RangeHolder::lock(&path, RESERVED_BYTE as u64, 1, Mode::Exclusive);
            let waiter = sandbox.spawn(guests::BENCH_WAIT, &["range", "x.db", "10000"]);
            // Long enough for the guest to start and settle into its wait.
            std::thread::sleep(Duration::from_millis(20));
            let t0 = wall_ns();
            holder.release();
            let run = waiter.join().unwrap();
            run.assert_success();
            let t1 = u128::from(run.value("t1").expect("t1"));
            Duration::from_nanos(t1.saturating_sub(t0) as u64)
        })
        .collect()
}
