//! A property-based fuzzer for the host's lock logic, against a model of
//! `flock(2)`.
//!
//! Each case builds two or three simulated *instances* (each a
//! [`FileLockCtx`](crate::FileLockCtx) with its own
//! [`ResourceTable`](crate::ResourceTable) and a preopened directory
//! descriptor of one shared temporary directory, some with random policy:
//! fair or not, a read-only preopen, read-only exclusive locks allowed or
//! not), then runs up to 40 random operations through the generated async
//! `Host` traits implemented on [`FileLockCtxView`](crate::FileLockCtxView),
//! under their WIT names, with resources passed as a guest passes them
//! (borrowed, or owned to drop them): exactly what a guest's calls reach.
//!
//! - the handle layer: open a descriptor (read-write or read-only) on one of
//!   three files, drop it, `try-lock`, `lock` with a timeout of zero, 1–5 ms
//!   or none (only when the model says the lock is free), `lock` without
//!   timeout cancelled after 1–3 ms (its future dropped), `unlock`, on a file
//!   descriptor or on the preopened directory;
//! - the path layer: `acquire` with random modes, timeouts and
//!   create/write/truncate combinations, on plain paths, equivalent ones
//!   (`./b.lock`, `sub/../c.lock`) and hostile ones (a symbolic link at the
//!   lock path, `""`,
//!   `../x`, `/abs`, `a\0b`, `sub/../../x`, `.`, a directory, a FIFO, a link
//!   leaving the directory, a link loop, `a.lock/x`, a missing parent), and
//!   through a file descriptor instead of a directory; `release`, dropping the
//!   lock resource, `file()` descriptors;
//! - requests of both layers: created (and sometimes polled once at once, as
//!   a guest that checks and goes on), collected with `get` (then, if still
//!   waiting, kept, dropped, or awaited), awaited through `subscribe` and
//!   `pollable.block`, dropped at any point;
//! - dropping a whole instance (its table), which must release everything,
//!   and rewriting a file natively (so that truncation shows).
//!
//! After every operation the fuzzer checks:
//!
//! - the result: no panic, no trap, and exactly the typed error the model
//!   expects (`bad-descriptor`, `invalid-options`, `not-permitted`, `denied`,
//!   `bad-path`, `not-lockable`, `not-found`, `already-locked` only for a
//!   timeout of zero, `timed-out` only once the timeout has passed), or
//!   success exactly when the model says no other open file holds the lock in
//!   a conflicting mode (Linux `flock` semantics, failed conversions included:
//!   they drop the old lock); a call that never waits answers at once;
//! - `file-lock.mode` and `file-lock.is-held` of every lock resource;
//! - the open files of the process (`/proc/self/fd`): exactly the file
//!   descriptors the model expects per file (no leak, nothing closed early),
//!   plus at most one sentinel thread's file per file (see `wait/queue.rs`),
//!   and a sentinel ends once the file is free and nobody waits;
//! - the lock of every one of those open files as the kernel reports it
//!   (`/proc/self/fdinfo`, per open file description): the model's, fd by fd;
//! - with independent native probes (a separate open file and
//!   `fs4::FileExt::try_lock` / `try_lock_shared`, released at once) that
//!   each file is free, shared-held or exclusive-held as the model says, and
//!   that files exist and have the length the model says (created only when
//!   asked, truncated only once the lock is held).
//!
//! A sentinel holds a file's lock for an instant after the kernel grants it;
//! while a file has a sentinel or a waiting request, a spurious
//! `already-locked`/`timed-out` and a probe that sees more locking than the
//! model are tolerated (probes are retried), never the other way round.
//!
//! Where the host may or may not have made a failed attempt (a wait cancelled,
//! or a request left waiting: a queued waiter does not try before its turn,
//! and a failed conversion drops the old lock), the model takes the kernel's
//! word for that one open file, among the two allowed answers.
//!
//! Run it with `cargo test -p portalocker-host fuzz` (256 cases by default,
//! a few seconds); a long run:
//!
//! ```text
//! PROPTEST_CASES=5000 cargo test -p portalocker-host fuzz -- --nocapture
//! ```
//!
//! Failures are not persisted (the failing case is printed, shrunk).
//!
//! Findings, fixed: a wait for a free lock could wait forever behind a
//! request queued for the same file that nobody polled any more, and a
//! holder re-locking its own descriptor could line up behind a waiter that
//! waited for it. `finding_unpolled_request_blocks_fair_waiters` and
//! `finding_relock_waits_behind_queue` reproduce them, and the fuzzer now
//! generates such waits too (`PORTALOCKER_FUZZ_STRICT=0` turns them into
//! zero timeouts, as it did while the bugs were open).
//!
//! # Layout
//!
//! - [`ops`]: the operations and their proptest strategies;
//! - [`model`]: the model of `flock(2)`, open files and file contents;
//! - [`probe`]: what the kernel says (`/proc/self/fd`, `/proc/self/fdinfo`,
//!   native probes), checked against the model;
//! - [`instance`]: an instance, its resources, and how the fuzzer calls the
//!   host;
//! - [`world`]: the temporary directory, the instances and the model;
//!   applying an operation (one method per operation, by interface) and
//!   checking the answer.
//!
//! This module holds the proptest entry point and the findings' regression
//! tests.

#![cfg(target_os = "linux")]

/// Fails the running check with a message unless `$cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

mod findings;
mod instance;
mod model;
mod ops;
mod probe;
mod world;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use self::ops::{Case, FILES, Op};
use self::world::World;

/// The result of a check: a message saying what differs from the model.
type Check = Result<(), String>;

/// Cases when `PROPTEST_CASES` is not set: a few seconds in the dev profile.
const DEFAULT_CASES: u32 = 256;

/// Held by every test of this module: the wait engine's threads and queues
/// belong to the process, and the fuzzer counts the threads.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `test` alone among this module's tests.
fn serial<R>(test: impl FnOnce() -> R) -> R {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    test()
}

/// What a run did, printed at its end.
#[derive(Default)]
struct Stats {
    cases: u64,
    ops: u64,
    outcomes: BTreeMap<String, u64>,
    /// The longest the wait engine's threads took to end after a case.
    threads_settled_in: Duration,
}

fn run_case(case: &Case, stats: &Mutex<Stats>) -> Result<(), TestCaseError> {
    let mut world = World::new(case);
    let result = (|| {
        world.verify().map_err(|e| format!("initial state: {e}"))?;
        for (i, op) in case.ops.iter().enumerate() {
            world.log.push(format!("{i}: {op:?}"));
            world.current = op.name();
            world.run(op).map_err(|e| format!("op {i} {op:?}: {e}"))?;
            world
                .verify()
                .map_err(|e| format!("after op {i} {op:?}: {e}"))?;
        }
        // Dropping every instance releases everything, and the wait
        // engine's threads end.
        for inst in 0..world.instances.len() {
            world.current = "final drop-instance";
            let inst = u8::try_from(inst).expect("at most three instances");
            world.run(&Op::DropInstance { inst })?;
        }
        world
            .verify()
            .map_err(|e| format!("after dropping all instances: {e}"))?;
        for (file, name) in FILES.iter().enumerate() {
            ensure!(
                world.model.state(file).is_none(),
                "model: {name} still held after dropping all instances"
            );
        }
        world.check_threads_end()
    })();
    let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
    s.cases += 1;
    s.ops += case.ops.len() as u64;
    for (what, n) in &world.outcomes {
        *s.outcomes.entry(what.clone()).or_default() += n;
    }
    s.threads_settled_in = s.threads_settled_in.max(world.settled_in);
    drop(s);
    result.map_err(|e| TestCaseError::fail(format!("{e}\ntrace:\n{}", world.log.join("\n"))))
}

#[test]
fn fuzz_locks_against_model() {
    serial(|| {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_CASES);
        let config = ProptestConfig {
            cases,
            failure_persistence: None,
            max_shrink_iters: 2000,
            ..ProptestConfig::default()
        };
        let stats = Mutex::new(Stats::default());
        let start = Instant::now();
        let mut runner = TestRunner::new(config);
        let result = runner.run(&ops::case(), |case| run_case(&case, &stats));
        let s = stats.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!(
            "fuzz: {} cases run ({} operations) in {:?}; engine threads ended within {:?} \
             of a case's end; outcomes:",
            s.cases,
            s.ops,
            start.elapsed(),
            s.threads_settled_in
        );
        for (what, n) in &s.outcomes {
            eprintln!("  {what}: {n}");
        }
        drop(s);
        if let Err(err) = result {
            panic!("{err}");
        }
    });
}
