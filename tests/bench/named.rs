//! Named-lock figures: N1, a guest's acquire+release per backend beside the
//! raw round trips of the same client crate (a `SET NX PX`/`DEL` pair; a
//! `pg_advisory_lock`/`pg_advisory_unlock` pair), measured in turns so that
//! both see the same load, and N2, the hand-off between two hosts (a
//! holder's release in one, the waiter's return in the other).
//!
//! The services are the ones the tests use (`PORTALOCKER_REDIS_URL`,
//! `PORTALOCKER_POSTGRES_URL`, or servers started here); a backend whose
//! server is not installed is left out, with a note.

use std::time::{Duration, Instant};

use portalocker_tests::Sandbox;
use portalocker_tests::guests;
use portalocker_tests::named::Host;
use portalocker_tests::services::{postgres_url, redis_url, unique};

use crate::Size;
use crate::report::Row;
use crate::stats::{median, micros, spread};

/// Round trips per timed loop: a tenth of the local figures' cycles.
fn cycles(size: Size) -> u64 {
    u64::from(size.cycles / 10).max(100)
}

/// Whether the service's tests could run here.
fn have(program: &str, env: &str) -> bool {
    std::env::var_os(env).is_some()
        || std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        || (program == "postgres"
            && std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|mut d| d.next().is_some()))
}

/// Runs `bench_named ARGS` in `host`.
fn bench(host: &Host, sandbox: &Sandbox, args: &[&str]) -> portalocker_tests::GuestRun {
    host.run_program(sandbox, guests::BENCH_NAMED, args)
}

/// Median ns per guest acquire+release in the namespace `url`.
fn guest_cycle_ns(url: &str, size: Size) -> f64 {
    let sandbox = Sandbox::new();
    let host = Host::new(&[("bench", url)]);
    let n = cycles(size).to_string();
    let mut samples: Vec<f64> = (0..size.repeats)
        .map(|_| {
            let run = bench(&host, &sandbox, &["cycle", "bench", "k", &n]);
            run.assert_success();
            run.value("ns_per_cycle").expect("ns_per_cycle") as f64
        })
        .collect();
    median(&mut samples)
}

/// A runtime for a client crate's connection (its driver task runs there).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Median ns of `repeats` timed loops of `cycles` runs of `pair`.
fn raw_cycle_ns<F: Future<Output = ()>>(
    runtime: &tokio::runtime::Runtime,
    size: Size,
    mut pair: impl FnMut() -> F,
) -> f64 {
    let n = cycles(size);
    let mut samples: Vec<f64> = (0..size.repeats)
        .map(|_| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    pair().await;
                }
                start.elapsed().as_nanos() as f64 / n as f64
            })
        })
        .collect();
    median(&mut samples)
}

/// The raw pair on Redis: `SET key value NX PX 10000`, `DEL key`.
fn redis_raw_ns(url: &str, size: Size) -> f64 {
    let client = redis::Client::open(url).expect("a Redis URL");
    let runtime = runtime();
    let connection = runtime
        .block_on(client.get_multiplexed_async_connection())
        .expect("connect to Redis");
    let key = unique("raw");
    raw_cycle_ns(&runtime, size, || {
        let mut connection = connection.clone();
        let key = key.clone();
        async move {
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg("token")
                .arg("NX")
                .arg("PX")
                .arg(10_000)
                .query_async(&mut connection)
                .await
                .expect("SET");
            assert!(set.is_some(), "the raw key was free");
            let _: i64 = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .expect("DEL");
        }
    })
}

/// The raw pair on PostgreSQL: `pg_advisory_lock`, `pg_advisory_unlock`,
/// prepared, on one connection.
fn postgres_raw_ns(url: &str, size: Size) -> f64 {
    let runtime = runtime();
    let (client, lock, unlock) = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(connection);
        let lock = client.prepare("SELECT pg_advisory_lock($1)").await.unwrap();
        let unlock = client
            .prepare("SELECT pg_advisory_unlock($1)")
            .await
            .unwrap();
        (client, lock, unlock)
    });
    let client = std::sync::Arc::new(client);
    let key: i64 = 0x5eed_0000 + i64::from(std::process::id());
    let ns = raw_cycle_ns(&runtime, size, || {
        let (client, lock, unlock) = (client.clone(), lock.clone(), unlock.clone());
        async move {
            client.query_one(&lock, &[&key]).await.expect("lock");
            client.query_one(&unlock, &[&key]).await.expect("unlock");
        }
    });
    drop(runtime);
    ns
}

/// The samples of `guest` and `raw`, measured in turns (one timed loop of
/// each per round, `repeats` rounds), so that both see the same load of a
/// shared machine.
fn in_turns(
    size: Size,
    guest: impl Fn(Size) -> f64,
    raw: impl Fn(Size) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let once = Size { repeats: 1, ..size };
    (0..size.repeats).map(|_| (guest(once), raw(once))).unzip()
}

/// A row of guest ÷ raw medians from loops measured in turns, with each
/// side's spread in the note.
fn turns_row(figure: String, mut guests: Vec<f64>, mut raws: Vec<f64>, note: String) -> Row {
    let note = format!(
        "{note}; guest {} µs, baseline {} µs (min–max)",
        spread(&guests, 1000.0),
        spread(&raws, 1000.0)
    );
    Row {
        figure,
        guest: median(&mut guests) / 1000.0,
        native: Some(median(&mut raws) / 1000.0),
        unit: "µs",
        target: "≤ 1.5×".into(),
        limit: 1.5,
        note,
    }
}

/// N1: acquire+release per backend.
pub fn cycle(size: Size) -> Vec<Row> {
    let mut rows = Vec::new();
    let note = |raw: &str| {
        format!(
            "{} cycles × {} runs in turns with the baseline, medians; baseline: {raw}",
            cycles(size),
            size.repeats
        )
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let local_url = format!("file://{}", dir.path().display());
    let mut local: Vec<f64> = (0..size.repeats)
        .map(|_| guest_cycle_ns(&local_url, Size { repeats: 1, ..size }))
        .collect();
    rows.push(Row {
        figure: "N1 named acquire+release (local)".into(),
        guest: median(&mut local) / 1000.0,
        native: None,
        unit: "µs",
        target: "–".into(),
        limit: f64::INFINITY,
        note: format!(
            "lock file + fencing counter file, flock; {} µs (min–max)",
            spread(&local, 1000.0)
        ),
    });
    if have("redis-server", "PORTALOCKER_REDIS_URL") {
        let server = redis_url();
        for wait in ["notify", "poll"] {
            let url = format!("{server}/?prefix={}:&wait={wait}", unique("bench"));
            let (guests, raws) = in_turns(
                size,
                |size| guest_cycle_ns(&url, size),
                |size| redis_raw_ns(&server, size),
            );
            rows.push(turns_row(
                format!("N1 named acquire+release (Redis, {wait})"),
                guests,
                raws,
                note("SET NX PX + DEL, same crate"),
            ));
        }
    } else {
        eprintln!("N1 Redis skipped: redis-server is not installed");
    }
    if have("postgres", "PORTALOCKER_POSTGRES_URL") {
        let server = postgres_url();
        let url = format!("{server}?prefix={}", unique("bench"));
        let (guests, raws) = in_turns(
            size,
            |size| guest_cycle_ns(&url, size),
            |size| postgres_raw_ns(&server, size),
        );
        rows.push(turns_row(
            "N1 named acquire+release (PostgreSQL)".into(),
            guests,
            raws,
            note("pg_advisory_lock + unlock, prepared, same crate"),
        ));
    } else {
        eprintln!("N1 PostgreSQL skipped: PostgreSQL is not installed");
    }
    rows
}

/// Hand-offs from a holder in one host to a waiter in another, in `url`.
fn hand_offs(url: &str, count: usize) -> Vec<Duration> {
    let (one, two) = (Host::new(&[("bench", url)]), Host::new(&[("bench", url)]));
    let sandbox = Sandbox::new();
    (0..count)
        .map(|_| {
            let _ = std::fs::remove_file(sandbox.path("held"));
            let holder =
                one.spawn_program(&sandbox, guests::BENCH_NAMED, &["hold", "bench", "k", "30"]);
            let start = Instant::now();
            while !sandbox.path("held").exists() {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the holder never locked"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            let waiter = two.spawn_program(
                &sandbox,
                guests::BENCH_NAMED,
                &["wait", "bench", "k", "10000"],
            );
            let (held, waited) = (holder.join().unwrap(), waiter.join().unwrap());
            held.assert_success();
            waited.assert_success();
            let t0 = u128::from(held.value("t0").expect("t0"));
            let t1 = u128::from(waited.value("t1").expect("t1"));
            Duration::from_nanos(t1.saturating_sub(t0) as u64)
        })
        .collect()
}

/// N2: hand-off between two hosts per backend and waiting mode.
pub fn hand_off(size: Size) -> Vec<Row> {
    let count = size.handoffs.min(50);
    let mut cases = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    cases.push((
        "local".to_owned(),
        format!("file://{}", dir.path().display()),
        "flock wake-up",
    ));
    if have("redis-server", "PORTALOCKER_REDIS_URL") {
        let server = redis_url();
        cases.push((
            "Redis, notify".into(),
            format!("{server}/?prefix={}:&wait=notify", unique("bench")),
            "pub/sub notice of the release",
        ));
        cases.push((
            "Redis, poll".into(),
            format!("{server}/?prefix={}:&wait=poll", unique("bench")),
            "polling, 1 ms doubling to 50 ms",
        ));
    }
    if have("postgres", "PORTALOCKER_POSTGRES_URL") {
        cases.push((
            "PostgreSQL".into(),
            format!("{}?prefix={}", postgres_url(), unique("bench")),
            "LISTEN/NOTIFY of the release",
        ));
    }
    cases
        .into_iter()
        .map(|(backend, url, how)| {
            let samples = micros(&hand_offs(&url, count));
            Row {
                figure: format!("N2 named hand-off, two hosts ({backend})"),
                guest: median(&mut samples.clone()),
                native: None,
                unit: "µs",
                target: "–".into(),
                limit: f64::INFINITY,
                note: format!(
                    "median of {}, {} µs (min–max); {how}",
                    samples.len(),
                    spread(&samples, 1.0)
                ),
            }
        })
        .collect()
}
