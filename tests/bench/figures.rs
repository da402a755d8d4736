//! Each figure, measured with its native baseline in the same run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use portalocker_tests::embed::{self, async_linker, sync_linker};
use portalocker_tests::native::{self, Holder, Mode, open};
use portalocker_tests::{Sandbox, component, eventually, guests};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::bindings::sync::CommandPre as SyncCommandPre;

use crate::report::Row;
use crate::stats::{median, micros};
use crate::{Size, engine};

/// Every figure in order, or only the one named `only` (`F0`, `P1` … `P9`,
/// `N1`, `N2`).
pub fn all(size: Size, only: Option<&str>) -> Vec<Row> {
    let wanted = |figure: &str| only.is_none_or(|only| only == figure);
    let mut rows = Vec::new();
    if wanted("F0") {
        rows.push(engine::floor(size));
    }
    if wanted("P1") {
        rows.push(lock_cost(size));
    }
    if wanted("P2") {
        rows.push(path_cycle(size));
    }
    if wanted("P3") {
        rows.extend(hand_off(size));
    }
    if wanted("P4") {
        rows.push(many_waiters(size));
    }
    if wanted("P5") {
        rows.push(cold_path(size));
    }
    if wanted("P6") {
        rows.extend(fairness(size));
    }
    if wanted("P7") {
        rows.push(engine::no_phantom_holds(size));
    }
    if wanted("P8") {
        rows.push(engine::thread_hygiene(size));
    }
    if wanted("P9") {
        rows.push(engine::cancellation_window(size));
    }
    #[cfg(unix)]
    if wanted("N1") {
        rows.extend(crate::named::cycle(size));
    }
    #[cfg(unix)]
    if wanted("N2") {
        rows.extend(crate::named::hand_off(size));
    }
    rows
}

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("a wall clock after 1970")
        .as_nanos()
}

/// Median ns per cycle of `repeats` guest runs of `bench_lock_cycle`.
pub fn guest_cycle_ns(sandbox: &Sandbox, layer: &str, size: Size) -> f64 {
    let cycles = size.cycles.to_string();
    let mut samples: Vec<f64> = (0..size.repeats)
        .map(|_| {
            let run = sandbox.run(guests::BENCH_LOCK_CYCLE, &[layer, "x.lock", &cycles]);
            run.assert_success();
            run.value("ns_per_cycle").expect("ns_per_cycle") as f64
        })
        .collect();
    median(&mut samples)
}

/// Median ns per iteration of `repeats` timed native loops of `body`.
fn native_cycle_ns(size: Size, mut body: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..size.repeats)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..size.cycles {
                body();
            }
            start.elapsed().as_nanos() as f64 / f64::from(size.cycles)
        })
        .collect();
    median(&mut samples)
}

/// P1: an uncontended lock+unlock pair on an open file.
fn lock_cost(size: Size) -> Row {
    let sandbox = Sandbox::new();
    let file = open(&sandbox.path("x.lock"));
    let native = native_cycle_ns(size, || {
        fs4::FileExt::lock(&file).unwrap();
        fs4::FileExt::unlock(&file).unwrap();
    });
    let guest = guest_cycle_ns(&sandbox, "handle", size);
    Row {
        figure: "P1 lock+unlock (handle)".into(),
        guest: guest / 1000.0,
        native: Some(native / 1000.0),
        unit: "µs",
        target: "≤ 1.2×".into(),
        limit: 1.2,
        note: format!("{} pairs × {} runs, medians", size.cycles, size.repeats),
    }
}

/// P2: open, lock, unlock, close by path.
fn path_cycle(size: Size) -> Row {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let native = native_cycle_ns(size, || {
        let file = open(&path);
        fs4::FileExt::lock(&file).unwrap();
        fs4::FileExt::unlock(&file).unwrap();
    });
    let guest = guest_cycle_ns(&sandbox, "path", size);
    Row {
        figure: "P2 acquire+release (path)".into(),
        guest: guest / 1000.0,
        native: Some(native / 1000.0),
        unit: "µs",
        target: "≤ 1.5×".into(),
        limit: 1.5,
        note: format!("{} cycles × {} runs, medians", size.cycles, size.repeats),
    }
}

/// P3: hand-off latencies, native→native (the baseline), native→guest and
/// guest→guest.
fn hand_off(size: Size) -> Vec<Row> {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let baseline = median(&mut micros(&native_hand_offs(&path, size.handoffs)));
    let mut rows = Vec::new();
    for layer in ["handle", "path", "request"] {
        let samples = native_to_guest_hand_offs(&sandbox, layer, size.handoffs);
        rows.push(Row {
            figure: format!("P3 hand-off native→guest ({layer})"),
            guest: median(&mut micros(&samples)),
            native: Some(baseline),
            unit: "µs",
            target: "≤ 2×".into(),
            limit: 2.0,
            note: format!("median of {}; waiter has a 10 s timeout", samples.len()),
        });
    }
    let samples = guest_to_guest_hand_offs(&sandbox, size.handoffs);
    rows.push(Row {
        figure: "P3 hand-off guest→guest (path)".into(),
        guest: median(&mut micros(&samples)),
        native: Some(baseline),
        unit: "µs",
        target: "≤ 2×".into(),
        limit: 2.0,
        note: format!("median of {}", samples.len()),
    });
    rows
}

/// Native blocking-flock hand-offs between two open files on two threads.
fn native_hand_offs(path: &Path, count: usize) -> Vec<Duration> {
    (0..count)
        .map(|_| {
            let holder = open(path);
            fs4::FileExt::lock(&holder).unwrap();
            let waiter_path = path.to_path_buf();
            let waiter = std::thread::spawn(move || {
                let file = open(&waiter_path);
                fs4::FileExt::lock(&file).unwrap();
                let t1 = wall_ns();
                fs4::FileExt::unlock(&file).unwrap();
                t1
            });
            std::thread::sleep(Duration::from_millis(5));
            let t0 = wall_ns();
            fs4::FileExt::unlock(&holder).unwrap();
            let t1 = waiter.join().unwrap();
            Duration::from_nanos(t1.saturating_sub(t0) as u64)
        })
        .collect()
}

/// A native holder releases; a waiting guest (`bench_wait`) returns.
fn native_to_guest_hand_offs(sandbox: &Sandbox, layer: &str, count: usize) -> Vec<Duration> {
    let path = sandbox.path("x.lock");
    (0..count)
        .map(|_| {
            let mut holder = Holder::lock(&path, Mode::Exclusive);
            let waiter = sandbox.spawn(guests::BENCH_WAIT, &[layer, "x.lock", "10000"]);
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

/// A guest holder (`bench_hold`) releases; a waiting guest returns.
fn guest_to_guest_hand_offs(sandbox: &Sandbox, count: usize) -> Vec<Duration> {
    let path = sandbox.path("x.lock");
    (0..count)
        .map(|_| {
            let holder = sandbox.spawn(guests::BENCH_HOLD, &["x.lock", "30"]);
            assert!(
                eventually(Duration::from_secs(10), || !native::can_lock(
                    &path,
                    Mode::Shared
                )),
                "the holder guest never locked"
            );
            let waiter = sandbox.spawn(guests::BENCH_WAIT, &["path", "x.lock", "10000"]);
            let held = holder.join().unwrap();
            let waited = waiter.join().unwrap();
            held.assert_success();
            waited.assert_success();
            let t0 = u128::from(held.value("t0").expect("t0"));
            let t1 = u128::from(waited.value("t1").expect("t1"));
            Duration::from_nanos(t1.saturating_sub(t0) as u64)
        })
        .collect()
}

/// The process's current thread count and peak resident memory (kB).
pub fn threads_and_peak_rss() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("Threads:"), field("VmHWM:"))
}

/// P4: many guests in one async host wait on many locks (`size.waiters`
/// spread over `size.files` files, each held natively until all wait), each
/// takes its lock once, while another guest keeps running.
fn many_waiters(size: Size) -> Row {
    let sandbox = Sandbox::new();
    let names: Vec<String> = (0..size.files).map(|i| format!("x{i}.lock")).collect();
    let mut holders: Vec<Holder> = names
        .iter()
        .map(|name| Holder::lock(&sandbox.path(name), Mode::Exclusive))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (threads_before, _) = threads_and_peak_rss();
    let max_threads = Arc::new(AtomicUsize::new(threads_before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (max_threads, sampling) = (Arc::clone(&max_threads), Arc::clone(&sampling));
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                max_threads.fetch_max(threads_and_peak_rss().0, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let (finished, other_runs, drain) = runtime.block_on(async {
        let linker = async_linker();
        let hold =
            CommandPre::new(linker.instantiate_pre(&component(guests::HOLD)).unwrap()).unwrap();
        let counter =
            CommandPre::new(linker.instantiate_pre(&component(guests::COUNTER)).unwrap()).unwrap();
        let mut waiters = tokio::task::JoinSet::new();
        for i in 0..size.waiters {
            let name = &names[i % names.len()];
            let (mut store, _) = embed::store(sandbox.root(), &[name, "exclusive", "0"]);
            let hold = hold.clone();
            waiters.spawn(async move {
                let command = hold.instantiate_async(&mut store).await.unwrap();
                command
                    .wasi_cli_run()
                    .call_run(&mut store)
                    .await
                    .unwrap()
                    .is_ok()
            });
        }
        // Another guest keeps running while they all wait.
        let mut other_runs = 0;
        let waiting_since = Instant::now();
        while waiting_since.elapsed() < Duration::from_millis(500) {
            let (mut store, _) = embed::store(sandbox.root(), &["other.txt", "1"]);
            let command = counter.instantiate_async(&mut store).await.unwrap();
            assert!(
                command
                    .wasi_cli_run()
                    .call_run(&mut store)
                    .await
                    .unwrap()
                    .is_ok()
            );
            other_runs += 1;
        }
        let released = Instant::now();
        for holder in &mut holders {
            holder.release();
        }
        let mut finished = 0;
        while let Some(done) = waiters.join_next().await {
            if done.unwrap() {
                finished += 1;
            }
        }
        (finished, other_runs, released.elapsed())
    });
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let (_, peak_rss_kb) = threads_and_peak_rss();
    Row {
        figure: format!("P4 {} waiters on {} files", size.waiters, size.files),
        guest: drain.as_secs_f64() * 1000.0,
        native: None,
        unit: "ms",
        target: "all finish".into(),
        limit: f64::INFINITY,
        note: format!(
            "{finished}/{} finished (time from release to the last); another guest ran {other_runs}× during the wait; threads {threads_before}→max {} (kernel-waiter cap 128); peak RSS {} MiB",
            size.waiters,
            max_threads.load(Ordering::Relaxed),
            peak_rss_kb / 1024
        ),
    }
}

/// P5: instantiate a pre-compiled guest and take its first lock.
fn cold_path(size: Size) -> Row {
    let sandbox = Sandbox::new();
    let linker = sync_linker();
    let pre = SyncCommandPre::new(
        linker
            .instantiate_pre(&component(guests::BENCH_FIRST_LOCK))
            .unwrap(),
    )
    .unwrap();
    let runs = size.repeats * 20;
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let (mut store, _) = embed::store(sandbox.root(), &["x.lock"]);
            let start = Instant::now();
            let command = pre.instantiate(&mut store).unwrap();
            let ok = command.wasi_cli_run().call_run(&mut store).unwrap().is_ok();
            let elapsed = start.elapsed();
            assert!(ok, "bench_first_lock failed");
            elapsed.as_secs_f64() * 1e6
        })
        .collect();
    Row {
        figure: "P5 instantiate + first lock".into(),
        guest: median(&mut samples) / 1000.0,
        native: None,
        unit: "ms",
        target: "< 1 ms".into(),
        limit: 1.0,
        note: format!("median of {runs}, InstancePre, whole guest run"),
    }
}

/// The turns of `contenders` native threads, each with its own open file,
/// taking the lock with a blocking `flock` for `millis` ms.
fn native_turns(path: &Path, contenders: usize, millis: u64) -> Vec<u64> {
    let threads: Vec<_> = (0..contenders)
        .map(|_| {
            let file = open(path);
            std::thread::spawn(move || {
                let end = Instant::now() + Duration::from_millis(millis);
                let mut turns = 0;
                while Instant::now() < end {
                    fs4::FileExt::lock(&file).unwrap();
                    let held = Instant::now();
                    while held.elapsed() < Duration::from_micros(100) {
                        std::hint::spin_loop();
                    }
                    fs4::FileExt::unlock(&file).unwrap();
                    turns += 1;
                }
                turns
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// The turns of `contenders` guests (`bench_contend`) in one host.
fn guest_turns(sandbox: &Sandbox, contenders: usize, millis: u64, fair: bool) -> Vec<u64> {
    let millis = millis.to_string();
    let mut invocation = sandbox.invocation(&["x.lock", &millis]);
    invocation.locks = portalocker_host::FileLockCtx::builder().fair(fair).build();
    let component = component(guests::BENCH_CONTEND);
    let runs: Vec<_> = (0..contenders)
        .map(|_| {
            let (component, invocation) = (component.clone(), invocation.clone());
            std::thread::spawn(move || {
                portalocker_tests::runner()
                    .run(&component, &invocation)
                    .expect("run bench_contend")
            })
        })
        .collect();
    runs.into_iter()
        .map(|run| {
            let outcome = run.join().unwrap();
            let stdout = String::from_utf8_lossy(&outcome.stdout).into_owned();
            stdout
                .trim()
                .strip_prefix("count=")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bench_contend printed {stdout:?}"))
        })
        .collect()
}

/// Most turns ÷ fewest turns (1 is perfectly even).
fn spread(turns: &[u64]) -> f64 {
    let max = turns.iter().copied().max().unwrap_or(0) as f64;
    let min = turns.iter().copied().min().unwrap_or(0).max(1) as f64;
    max / min
}

/// P6: how evenly contenders share a lock, with and without the host's
/// first-come-first-served queue, beside native `flock` contenders.
fn fairness(size: Size) -> Vec<Row> {
    let contenders = 8;
    let millis = if size.waiters >= 1000 { 2000 } else { 300 };
    let sandbox = Sandbox::new();
    let native = native_turns(&sandbox.path("x.lock"), contenders, millis);
    let native_spread = spread(&native);
    [true, false]
        .into_iter()
        .map(|fair| {
            let turns = guest_turns(&sandbox, contenders, millis, fair);
            Row {
                figure: format!("P6 max÷min turns, {}", if fair { "fair queue" } else { "no queue" }),
                guest: spread(&turns),
                native: Some(native_spread),
                unit: "",
                target: "≤ native".into(),
                limit: 1.0,
                note: format!(
                    "{contenders} contenders × {millis} ms, 100 µs holds; turns {turns:?}, native {native:?}"
                ),
            }
        })
        .collect()
}
