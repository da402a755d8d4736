//! A property-based fuzzer for the host's lock logic and its waiting
//! engine, against a model of `flock(2)`.
//!
//! Each case builds two or three simulated *instances* (each a
//! [`FileLockCtx`](crate::FileLockCtx) with its own
//! [`ResourceTable`](crate::ResourceTable) and a preopened directory
//! descriptor of one shared temporary directory), each with random policy
//! (fair or not, a read-only preopen, read-only exclusive locks allowed or
//! not) and random waiting: the default (the front of a lock's queue blocks
//! in `flock(2)` on the guest's own open file, interrupted by a signal),
//! a cap of one or two worker threads (`max_kernel_waiters`), none
//! (`max_kernel_waiters(0)`: every waiter polls), or no interrupting signal
//! (`interrupt_signal(None)`: every waiter polls). Some instances make their
//! blocking calls through the sync linker's functions (the front waiter
//! blocks on the calling thread; a watchdog aborts the run if one hangs),
//! the others through the async ones. Then up to 40 random operations run
//! through the generated `Host` traits implemented on
//! [`FileLockCtxView`](crate::FileLockCtxView), under their WIT names, with
//! resources passed as a guest passes them (borrowed, or owned to drop
//! them): exactly what a guest's calls reach. Operations favour one file,
//! and cases often start with every instance sharing it, so that waiters
//! meet.
//!
//! - the handle layer: open a descriptor (read-write or read-only) on one of
//!   three files, drop it, `try-lock`, `lock` with a timeout of zero, 1–5 ms,
//!   200 ms or none (only when the model says nothing may hold the lock in a
//!   conflicting mode until the call ends), `lock` without timeout cancelled
//!   after 1–3 ms (its future dropped), `unlock`, on a file descriptor or on
//!   the preopened directory;
//! - the path layer: `acquire` with random modes, timeouts and
//!   create/write/truncate combinations, on plain paths, equivalent ones
//!   (`./b.lock`, `sub/../c.lock`) and hostile ones (a symbolic link at the
//!   lock path, `""`, `../x`, `/abs`, `a\0b`, `sub/../../x`, `.`, a
//!   directory, a FIFO, a link leaving the directory, a link loop,
//!   `a.lock/x`, a missing parent), and through a file descriptor instead of
//!   a directory; `file-lock.lock` (a no-op, a conversion, or a new lock
//!   after `release`), `release`, dropping the lock resource, `file()`
//!   descriptors;
//! - requests of both layers, with a timeout of zero, 1–5 ms or 200 ms (the
//!   handle layer's often converting the descriptor's lock): created (and
//!   mostly polled once at once, as a guest that checks and goes on),
//!   collected with `get` (then, if still waiting, kept, dropped, or
//!   awaited), awaited through `subscribe` and `pollable.block`, dropped at
//!   any point;
//! - dropping a whole instance (its table), which must release everything,
//!   and rewriting a file natively (so that truncation shows).
//!
//! # The model
//!
//! Linux `flock(2)` on open file descriptions ([`model`]): a lock belongs to
//! the open file; a conversion is not atomic (a failed one has given up the
//! old lock); closing the last descriptor releases it. An open file's lock
//! is a *set of allowed states*, because the engine does things the guest
//! cannot see:
//!
//! - a waiter that lines up behind this host's fair waiters makes no
//!   attempt before its turn, so a failed or cancelled wait may or may not
//!   have given up an old lock: both are allowed, and the next check takes
//!   the kernel's word;
//! - a request is inert until its first poll; a poll that leaves it waiting
//!   gives it a place in its lock's line. A request of a fair instance that
//!   may use the kernel is then a standing order: at the front of the line a
//!   worker blocks in `flock(2)` on the request's open file, so the open file
//!   may come to hold the request's mode at any moment once nothing
//!   conflicts, polled or not, and even behind the guest's back when the
//!   guest converts the same open file through another call (and a waiting
//!   conversion gives up the old lock in the kernel before it sleeps). The
//!   request's mode (and none) are allowed states of that open file until
//!   the request is answered, collected or dropped. A request is only
//!   granted while no other open file surely holds a conflicting lock, which
//!   keeps the predictions tight. When the kernel shows the request's mode
//!   and nothing else explains it, the request was granted: it must answer
//!   `ok`, and dropping it gives the lock back (or keeps it, for a request
//!   that repeats or converts its descriptor's lock). Requests of other
//!   instances make progress only when polled.
//!
//! The model also mirrors which locks the host counts for each instance,
//! per open file (a descriptor and the requests made on it, a lock resource
//! and its `file()` descriptors share one): the engine lets a holder try at
//! once instead of lining up, and a request made while its descriptor's
//! lock is counted repeats or converts it (dropped uncollected, it leaves
//! the lock held). A failed attempt keeps a counted lock counted when the
//! kernel shows the open file still holding one.
//!
//! # What is checked, after every operation
//!
//! - The result: no panic, no trap, and exactly the typed error the model
//!   expects (`bad-descriptor`, `invalid-options`, `not-permitted`,
//!   `denied`, `bad-path`, `not-lockable`, `not-found`). Success only when no
//!   other open file surely holds the lock in a conflicting mode.
//!   `already-locked` only for a timeout of zero, `timed-out` only once the
//!   timeout has passed, and either only when another open file may hold the
//!   lock in a conflicting mode, or, for a fair waiter, when this host's fair
//!   waiters are ahead of it and it holds no lock on the file: a holder
//!   (converting its own lock, holding the file through another open file,
//!   or through a request the kernel granted in the background) tries at
//!   once. A call that needs no waiting, with a long timeout or none,
//!   returns at once (within 100 ms) instead of at some deadline; a wait
//!   cancelled after 1–3 ms was waiting for a reason; a call that never
//!   waits answers at once.
//! - Requests: `get` says waiting only with a timeout, only if its lock was
//!   contended (or fair waiters were ahead) at some point since it was made,
//!   never once its grant was seen, and not long after its deadline. Its
//!   answer is `ok` only if the lock was free for it at some point, an error
//!   only if it was contended at some point and its timeout has passed; an
//!   awaited request's answer matches the kernel's word on its open file.
//! - Every lock resource's `file-lock.mode` and `file-lock.is-held`.
//! - The open files of the process (`/proc/self/fd`): exactly the file
//!   descriptors of the model, by number (no leak, nothing closed early, no
//!   open file of the host's own).
//! - The lock of each one's open file as the kernel reports it
//!   (`/proc/self/fdinfo`): among the states the model allows. So a
//!   cancelled wait never keeps a lock granted meanwhile (checked once the
//!   cancellation has returned), a failed request leaves no lock behind, and
//!   the host never holds a lock for nobody.
//! - Independent native probes (a separate open file and
//!   `fs4::FileExt::try_lock` / `try_lock_shared`, released at once): each
//!   file free, shared-held or exclusive-held among the combinations of its
//!   open files' allowed states; a probe never sees more locking than the
//!   model allows. Files exist and have the length the model says (created
//!   only when asked, truncated only once the lock is held).
//! - Standing orders: a request waiting in the background at the front of
//!   its line (default waiting, the only one in its file's line, its
//!   deadline at least 50 ms away) whose lock is free for it is granted
//!   within 1 s without anyone polling it.
//! - The engine's threads (`/proc/self/task`, by name): at most one worker
//!   per file with a request waiting in the background, plus one (an idle
//!   worker ends after a few milliseconds), never more than the largest cap
//!   of the case's instances, at most one interrupter (each within a 500 ms
//!   settle); and none at all within 500 ms once every instance of a case
//!   is dropped (the run reports the longest it took).
//!
//! Run it with `cargo test -p portalocker-host fuzz` (256 cases by default,
//! about ten seconds); a long run:
//!
//! ```text
//! PROPTEST_CASES=3000 cargo test -p portalocker-host fuzz -- --nocapture
//! ```
//!
//! Failures are not persisted (the failing case is printed, shrunk). The
//! tests of this module run one at a time (the engine's threads and queues
//! belong to the process).
//!
//! # Findings, fixed
//!
//! Each has a regression test in [`findings`]:
//!
//! - with the polling engine, a wait for a free lock could wait forever
//!   behind a request queued for the same file that nobody polled any more;
//!   now an unpolled request is served, and dropping it frees the line at
//!   once (`unpolled_request_is_served_and_dropping_it_frees_the_line`);
//! - a holder re-locking its own descriptor lined up behind a waiter that
//!   waited for it (`finding_relock_waits_behind_queue`);
//! - the interrupter thread slept until the deadline of the last alarm armed
//!   (forever after a wait without timeout) although the alarm was disarmed
//!   (`finding_interrupter_outlives_its_alarms`);
//! - a converting request granted in the background gave its lock back when
//!   dropped uncollected, but kept it when it had been awaited first
//!   (`finding_converting_request_loses_background_grant_on_drop`);
//! - an instance that held a lock through a request granted in the
//!   background (not collected yet) lined up behind another instance's
//!   waiter for that very lock
//!   (`finding_holder_through_granted_request_queues_behind_waiter`);
//! - a request that failed stopped the host counting its descriptor's lock
//!   even when the guest had locked the descriptor again while the request
//!   waited: the instance then lined up behind a waiter for its own lock
//!   (`finding_failed_request_uncounts_relocked_descriptor`);
//! - a lock taken through a `file-lock.file()` descriptor was no longer
//!   counted once that descriptor was dropped, though the lock's open file
//!   still held it, so `max_held_locks` could be exceeded
//!   (`finding_lock_through_dropped_duplicate_is_uncounted`);
//! - two requests on one descriptor waited for the same lock; the kernel
//!   granted both (a grant is the open file's), and dropping the younger
//!   uncollected gave the lock back, taking it from the older, which still
//!   answered `ok` (`finding_dropped_request_takes_sibling_grant`).
//!
//! The fuzzer's stores allow blocking the current thread
//! (`allow_blocking_current_thread`), so that the host's own file-system
//! work (opening a lock file, truncating it once locked) is done when a call
//! or a poll returns.
//!
//! # Layout
//!
//! - [`ops`]: the operations, the instances' settings, and their proptest
//!   strategies;
//! - [`model`]: the model of `flock(2)`, open files and file contents, with
//!   allowed states;
//! - [`probe`]: what the kernel says (`/proc/self/fd`, `/proc/self/fdinfo`,
//!   native probes, the engine's threads);
//! - [`instance`]: an instance, its resources, and how the fuzzer calls the
//!   host;
//! - [`world`]: the temporary directory, the instances and the model;
//!   applying an operation (one method per operation, by interface),
//!   checking the answer, and checking and settling the model after it;
//! - [`findings`]: the findings' regression tests.
//!
//! This module holds the proptest entry point.

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
