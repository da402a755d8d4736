//! The figures of the waiting engine beyond speed: the host-call floor under
//! P1, no lock held for nobody (P7), and threads and descriptors that end
//! with the waits that needed them (P8).

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use portalocker_tests::embed::{self, async_linker};
use portalocker_tests::native::{Holder, Mode, open};
use portalocker_tests::{Sandbox, component, guests};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::Size;
use crate::figures::{guest_cycle_ns, threads_and_peak_rss};
use crate::report::Row;

/// F0: what two host calls that do no locking cost, through the same
/// component-model path as P1's lock+unlock pair (`file-lock.is-held` on a
/// held lock: a table lookup, no system call).
pub fn floor(size: Size) -> Row {
    let sandbox = Sandbox::new();
    let floor = guest_cycle_ns(&sandbox, "floor", size);
    let locking = guest_cycle_ns(&sandbox, "handle", size);
    Row {
        figure: "F0 host-call floor (2 calls)".into(),
        guest: floor / 1000.0,
        native: None,
        unit: "µs",
        target: "–".into(),
        limit: f64::INFINITY,
        note: format!(
            "two `is-held` calls per cycle, {} cycles × {} runs, medians; P1's pair in this run: {:.2} µs, {:.2} µs above the floor",
            size.cycles,
            size.repeats,
            locking / 1000.0,
            (locking - floor) / 1000.0
        ),
    }
}

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("a wall clock after 1970")
        .as_nanos()
}

/// Tries an exclusive lock on `probe` without waiting; releases it at once.
fn probe_free(probe: &File) -> bool {
    match fs4::FileExt::try_lock(probe) {
        Ok(()) => {
            fs4::FileExt::unlock(probe).expect("unlock the probe");
            true
        }
        Err(fs4::TryLockError::WouldBlock) => false,
        Err(fs4::TryLockError::Error(err)) => panic!("probe: {err}"),
    }
}

/// P7: a native holder takes and releases the lock `size.releases` times
/// while guests wait for it (each round: a lock call with a timeout, then a
/// release); right after each release a native prober tries the lock
/// without waiting. A failed probe is a guest's doing when a guest held the
/// lock then (by the intervals the guests report); any other failed probe
/// is a lock the host held for nobody.
pub fn no_phantom_holds(size: Size) -> Row {
    const GUESTS: usize = 2;
    const MARGIN_NS: u128 = 200_000;
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let holder = open(&path);
    let prober = open(&path);
    let running = AtomicBool::new(true);
    let (failures, intervals) = std::thread::scope(|scope| {
        let guests: Vec<_> = (0..GUESTS)
            .map(|_| {
                scope.spawn(|| {
                    let mut intervals = Vec::new();
                    while running.load(Ordering::Relaxed) {
                        let run = sandbox.run(guests::BENCH_HOLD_LOOP, &["x.lock", "200", "2"]);
                        run.assert_success();
                        intervals.extend(held_intervals(&run.stdout()));
                    }
                    intervals
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut failures = Vec::new();
        for round in 0..size.releases {
            fs4::FileExt::lock(&holder).expect("the holder locks");
            if round % 3 == 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
            fs4::FileExt::unlock(&holder).expect("the holder unlocks");
            let at = wall_ns();
            if !probe_free(&prober) {
                failures.push(at);
            }
        }
        running.store(false, Ordering::Relaxed);
        let intervals: Vec<(u128, u128)> = guests
            .into_iter()
            .flat_map(|guest| guest.join().expect("a guest thread"))
            .collect();
        (failures, intervals)
    });
    let by_host = failures
        .iter()
        .filter(|&&at| {
            !intervals
                .iter()
                .any(|&(t0, t1)| at + MARGIN_NS >= t0 && at <= t1 + MARGIN_NS)
        })
        .count();
    Row {
        figure: "P7 probe failures caused by the host".into(),
        guest: by_host as f64,
        native: None,
        unit: "",
        target: "0".into(),
        limit: 0.0,
        note: format!(
            "{} native releases while {GUESTS} guests waited; probes failing while a guest held the lock: {}; guest holds: {}",
            size.releases,
            failures.len() - by_host,
            intervals.len()
        ),
    }
}

/// P9: the window of a cancelled wait that won the race. Guests wait with a
/// 1 ms timeout while a native holder keeps the lock for 0.6–1.4 ms a
/// round, so deadlines and releases land together: the kernel may grant a
/// waiter its lock just as its deadline interrupts the wait, and the engine
/// then gives the lock back before the call returns `timed-out`. After each
/// release a native prober spins until the lock is free; a round whose lock
/// stayed taken with no guest holding it (by the intervals the guests
/// report) is such a window, and its length is how long the lock was held
/// for nobody.
pub fn cancellation_window(size: Size) -> Row {
    const GUESTS: usize = 2;
    const MARGIN_NS: u128 = 200_000;
    let rounds = size.releases;
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let holder = open(&path);
    let prober = open(&path);
    let running = AtomicBool::new(true);
    let (taken, intervals) = std::thread::scope(|scope| {
        let guests: Vec<_> = (0..GUESTS)
            .map(|_| {
                scope.spawn(|| {
                    let mut intervals = Vec::new();
                    while running.load(Ordering::Relaxed) {
                        let run = sandbox.run(guests::BENCH_HOLD_LOOP, &["x.lock", "50", "1"]);
                        run.assert_success();
                        intervals.extend(held_intervals(&run.stdout()));
                    }
                    intervals
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut taken = Vec::new();
        for round in 0..rounds {
            fs4::FileExt::lock(&holder).expect("the holder locks");
            // 0.6–1.4 ms, spread evenly over the rounds.
            let hold = 600 + (round * 7919) % 800;
            std::thread::sleep(Duration::from_micros(hold as u64));
            fs4::FileExt::unlock(&holder).expect("the holder unlocks");
            let released = wall_ns();
            if probe_free(&prober) {
                continue;
            }
            let spinning = Instant::now();
            while !probe_free(&prober) && spinning.elapsed() < Duration::from_secs(1) {}
            taken.push((released, wall_ns()));
        }
        running.store(false, Ordering::Relaxed);
        let intervals: Vec<(u128, u128)> = guests
            .into_iter()
            .flat_map(|guest| guest.join().expect("a guest thread"))
            .collect();
        (taken, intervals)
    });
    let mut windows: Vec<f64> = taken
        .iter()
        .filter(|&&(from, to)| {
            !intervals
                .iter()
                .any(|&(t0, t1)| to + MARGIN_NS >= t0 && from <= t1 + MARGIN_NS)
        })
        .map(|&(from, to)| (to - from) as f64 / 1000.0)
        .collect();
    windows.sort_by(f64::total_cmp);
    let longest = windows.last().copied().unwrap_or(0.0);
    Row {
        figure: "P9 cancelled-wait window (longest)".into(),
        guest: longest,
        native: None,
        unit: "µs",
        target: "reported".into(),
        limit: f64::INFINITY,
        note: format!(
            "{rounds} releases racing {GUESTS} guests' 1 ms deadlines; rounds where the lock stayed taken with no guest holding it: {} (median {:.1} µs); rounds a guest held it: {}; guest holds: {}",
            windows.len(),
            if windows.is_empty() {
                0.0
            } else {
                windows[windows.len() / 2]
            },
            taken.len() - windows.len(),
            intervals.len()
        ),
    }
}

/// The `held <t0> <t1>` lines `bench_hold_loop` prints.
fn held_intervals(stdout: &str) -> Vec<(u128, u128)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip(1);
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

/// The number of open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// P8: `size.timed_out` guests in one async host each wait for a different
/// file that a native holder keeps locked, with a 20 ms timeout, all at
/// once; how long until the host's threads and descriptors are back at
/// their count before the waits.
pub fn thread_hygiene(size: Size) -> Row {
    let sandbox = Sandbox::new();
    let names: Vec<String> = (0..size.timed_out).map(|i| format!("f{i}.lock")).collect();
    let _holders: Vec<Holder> = names
        .iter()
        .map(|name| Holder::lock(&sandbox.path(name), Mode::Exclusive))
        .collect();
    // The opens and file reads of 1,000 guests at once run on the runtime's
    // blocking pool, whose idle threads tokio keeps for 10 s by default:
    // they belong to the embedder's runtime, not to the lock host, so they
    // are let go after 10 ms here and the count shows the host's own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(Duration::from_millis(10))
        .enable_all()
        .build()
        .unwrap();
    let linker = async_linker();
    let hold = CommandPre::new(linker.instantiate_pre(&component(guests::HOLD)).unwrap()).unwrap();
    // Warm the runtime's own threads and the engine before the baseline.
    runtime.block_on(async {
        let (mut store, _) = embed::store(sandbox.root(), &["warm.lock", "exclusive", "0"]);
        let command = hold.instantiate_async(&mut store).await.unwrap();
        command
            .wasi_cli_run()
            .call_run(&mut store)
            .await
            .unwrap()
            .unwrap();
    });
    // The sampler counts itself: it starts before the baseline.
    let max_threads = Arc::new(AtomicUsize::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (max_threads, sampling) = (Arc::clone(&max_threads), Arc::clone(&sampling));
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                max_threads.fetch_max(threads_and_peak_rss().0, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let (threads_before, _) = threads_and_peak_rss();
    let fds_before = open_fds();
    let timed_out = runtime.block_on(async {
        let mut waits = tokio::task::JoinSet::new();
        for name in &names {
            let (mut store, _) =
                embed::store(sandbox.root(), &["--timeout", "20", name, "exclusive", "0"]);
            let hold = hold.clone();
            waits.spawn(async move {
                let command = hold.instantiate_async(&mut store).await.unwrap();
                match command.wasi_cli_run().call_run(&mut store).await {
                    Err(err) => err
                        .downcast_ref::<wasmtime_wasi::I32Exit>()
                        .is_some_and(|exit| exit.0 == 3),
                    Ok(_) => false,
                }
            });
        }
        let mut timed_out = 0;
        while let Some(done) = waits.join_next().await {
            timed_out += usize::from(done.unwrap());
        }
        timed_out
    });
    let ended = Instant::now();
    let (mut threads, mut fds) = (threads_and_peak_rss().0, open_fds());
    while (threads > threads_before || fds > fds_before) && ended.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(1));
        (threads, fds) = (threads_and_peak_rss().0, open_fds());
    }
    let settled = ended.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    Row {
        figure: format!(
            "P8 back to baseline after {} timed-out waits",
            size.timed_out
        ),
        guest: settled.as_secs_f64() * 1000.0,
        native: None,
        unit: "ms",
        target: "≤ 100 ms".into(),
        limit: 100.0,
        note: format!(
            "{timed_out}/{} timed out (distinct locked files, one async host, its runtime's blocking pool keeps idle threads 10 ms); threads {threads_before}→max {}→{threads}, fds {fds_before}→{fds}",
            size.timed_out,
            max_threads.load(Ordering::Relaxed)
        ),
    }
}
