//! `portalocker demo --sqlite`: SQLite guests and the native `sqlite3`
//! program writing to one database.
//!
//! In a fresh temporary directory, guest instances of the embedded `sqlite`
//! example (each in its own store, on its own thread) and one native
//! `sqlite3` process each run N write transactions on the same database
//! (`BEGIN IMMEDIATE; INSERT` a row naming the writer; `UPDATE` a counter;
//! `COMMIT`): first with SQLite's lock-less WASI VFS (`unix-none`), then
//! with the `portalocker` VFS, whose locks are byte-range locks on the bytes
//! native SQLite locks. The table shows the commits lost (and errors, and a
//! damaged database) without the locks and every commit present with them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio as ProcessStdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use portalocker_cli::command::{CommandRunner, Exit, Invocation, Preopen, Stdio};
use portalocker_cli::examples;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The busy timeout of every writer, in milliseconds.
const BUSY_TIMEOUT_MS: u32 = 30_000;

/// One row of the table.
struct Round {
    label: &'static str,
    expected: u64,
    /// Rows in the log table, if it could be read.
    rows: Option<u64>,
    /// The counter's value, if it could be read.
    counter: Option<u64>,
    /// Transactions the writers reported as failed.
    errors: usize,
    /// What `PRAGMA integrity_check` said (first line).
    integrity: String,
    elapsed: Duration,
}

/// Runs both rounds and prints the table; fails if the locked round lost a
/// commit or damaged the database.
pub fn demo(guests: usize, transactions: u64) -> anyhow::Result<ExitCode> {
    let Some(sqlite) = examples::SQLITE else {
        bail!(
            "the SQLite guest is not built into this binary: install the C toolchain \
             (guest/c/install.sh), then build again"
        );
    };
    let version = Command::new("sqlite3").arg("--version").output();
    let Ok(version) = version
        .as_ref()
        .map(|output| String::from_utf8_lossy(&output.stdout))
    else {
        bail!(
            "the SQLite demo runs the native `sqlite3` program: install it (apt-get install sqlite3)"
        );
    };
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let runner = CommandRunner::new(&Engine::default())?;
    let component = runner.compile(sqlite)?;
    println!(
        "{guests} SQLite guests + native sqlite3 {}, {transactions} write transactions each, on one database in {}",
        version.split_whitespace().next().unwrap_or("?"),
        dir.path().display()
    );
    let rounds = [
        run_round(&runner, &component, dir.path(), guests, transactions, false)?,
        run_round(&runner, &component, dir.path(), guests, transactions, true)?,
    ];
    println!();
    println!(
        "{:<17} {:>8} {:>8} {:>8} {:>7}  {:<26} {:>8}",
        "", "expected", "commits", "counter", "errors", "integrity_check", "time"
    );
    let shown = |value: Option<u64>| value.map_or("?".to_owned(), |v| v.to_string());
    for round in &rounds {
        println!(
            "{:<17} {:>8} {:>8} {:>8} {:>7}  {:<26} {:>6.0}ms",
            round.label,
            round.expected,
            shown(round.rows),
            shown(round.counter),
            round.errors,
            round.integrity.chars().take(26).collect::<String>(),
            round.elapsed.as_secs_f64() * 1000.0
        );
    }
    let locked = &rounds[1];
    if locked.rows != Some(locked.expected)
        || locked.counter != Some(locked.expected)
        || locked.errors != 0
        || locked.integrity != "ok"
    {
        bail!("with range locks a commit was lost or the database was damaged");
    }
    Ok(ExitCode::SUCCESS)
}

/// The transaction every writer runs, `:i` being its round.
fn transaction(writer: &str) -> String {
    format!(
        "BEGIN IMMEDIATE; INSERT INTO log(writer, round) VALUES('{writer}', :i); \
         UPDATE counter SET n = n + 1; COMMIT;"
    )
}

/// Runs `sql` with the native `sqlite3` program on `db`; its stdout.
fn native(db: &Path, sql: &str) -> anyhow::Result<std::process::Output> {
    Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .context("cannot run sqlite3")
}

/// One round on its own database: the guests and a native `sqlite3`
/// process run their transactions at once.
fn run_round(
    runner: &CommandRunner,
    component: &Component,
    dir: &Path,
    guests: usize,
    transactions: u64,
    lock: bool,
) -> anyhow::Result<Round> {
    let name = if lock { "locked.db" } else { "unlocked.db" };
    let db = dir.join(name);
    let created = native(
        &db,
        "CREATE TABLE log(writer TEXT, round INTEGER); CREATE TABLE counter(n INTEGER); \
         INSERT INTO counter VALUES (0);",
    )?;
    if !created.status.success() {
        bail!(
            "sqlite3 could not create the database: {}",
            String::from_utf8_lossy(&created.stderr).trim()
        );
    }
    let mut script = format!(".timeout {BUSY_TIMEOUT_MS}\n");
    for round in 0..transactions {
        script.push_str(&transaction("native").replace(":i", &round.to_string()));
        script.push('\n');
    }
    let start = Instant::now();
    let mut sqlite3 = Command::new("sqlite3")
        .arg(&db)
        .stdin(ProcessStdio::piped())
        .stdout(ProcessStdio::null())
        .stderr(ProcessStdio::piped())
        .spawn()
        .context("cannot start sqlite3")?;
    let mut stdin = sqlite3.stdin.take().expect("piped");
    let feeder = thread::spawn(move || stdin.write_all(script.as_bytes()));
    let invocations: Vec<Invocation> = (1..=guests)
        .map(|guest| {
            let mut args = vec!["sqlite".to_owned()];
            if !lock {
                args.push("--no-lock".to_owned());
            }
            args.extend(
                [
                    "--keep-going",
                    "--timeout",
                    &BUSY_TIMEOUT_MS.to_string(),
                    "--repeat",
                    &transactions.to_string(),
                    name,
                    &transaction(&format!("guest-{guest}")),
                ]
                .map(str::to_owned),
            );
            Invocation {
                args,
                preopens: vec![Preopen {
                    host: dir.to_path_buf(),
                    guest: "/".to_owned(),
                    read_only: false,
                }],
                stdio: Stdio::Capture,
                ..Invocation::default()
            }
        })
        .collect();
    let outcomes = thread::scope(|scope| {
        let running: Vec<_> = invocations
            .iter()
            .map(|invocation| scope.spawn(|| runner.run(component, invocation)))
            .collect();
        running
            .into_iter()
            .map(|guest| guest.join().expect("guest thread panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut errors = 0;
    for outcome in &outcomes {
        if let Exit::Trap(trap) = &outcome.exit {
            bail!("an SQLite guest trapped: {}", trap.root_cause());
        }
        errors += String::from_utf8_lossy(&outcome.stderr)
            .lines()
            .filter(|line| line.starts_with("error:"))
            .count();
    }
    feeder
        .join()
        .expect("feeder thread panicked")
        .context("cannot feed sqlite3")?;
    let finished = sqlite3.wait_with_output()?;
    errors += String::from_utf8_lossy(&finished.stderr)
        .lines()
        .filter(|line| line.contains("rror"))
        .count();
    let elapsed = start.elapsed();

    let number = |sql: &str| -> Option<u64> {
        let output = native(&db, sql).ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    let check = native(&db, "PRAGMA integrity_check;")?;
    let integrity = if check.status.success() {
        String::from_utf8_lossy(&check.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    } else {
        String::from_utf8_lossy(&check.stderr).trim().to_owned()
    };
    Ok(Round {
        label: if lock {
            "with range locks"
        } else {
            "without locks"
        },
        expected: (guests as u64 + 1) * transactions,
        rows: number("SELECT count(*) FROM log;"),
        counter: number("SELECT n FROM counter;"),
        errors,
        integrity,
        elapsed,
    })
}
