//! `portalocker demo`: the main job on an embedded default.
//!
//! In a fresh temporary directory, several `counter` guest instances (each in
//! its own store, on its own thread) and one native process increment the
//! same counter file at once: first without locks, then with them. The table
//! shows the updates lost without locks and the exact total with them.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use portalocker_cli::command::{CommandRunner, Exit, Invocation, Preopen, Stdio};
use portalocker_cli::examples;
use wasmtime::Engine;
use wasmtime::component::Component;

/// One row of the table.
struct Round {
    label: &'static str,
    expected: u64,
    got: u64,
    elapsed: Duration,
}

/// Runs both rounds and prints the table; fails if the locked round lost an
/// update.
pub fn demo(instances: usize, increments: u64) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let runner = CommandRunner::new(&Engine::default())?;
    let counter = runner.compile(examples::COUNTER)?;
    println!(
        "{instances} counter guests + 1 native process, {increments} increments each, in {}",
        dir.path().display()
    );
    let rounds = [
        run_round(&runner, &counter, dir.path(), instances, increments, false)?,
        run_round(&runner, &counter, dir.path(), instances, increments, true)?,
    ];
    println!();
    println!(
        "{:<14} {:>9} {:>9} {:>13} {:>10}",
        "", "expected", "got", "lost updates", "time"
    );
    for round in &rounds {
        println!(
            "{:<14} {:>9} {:>9} {:>13} {:>8.0}ms",
            round.label,
            round.expected,
            round.got,
            round.expected.saturating_sub(round.got),
            round.elapsed.as_secs_f64() * 1000.0
        );
    }
    let locked = &rounds[1];
    if locked.got != locked.expected {
        bail!(
            "with locks the counter ended at {} instead of {}",
            locked.got,
            locked.expected
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One round: every guest and the native process increment `counter-*.txt`.
fn run_round(
    runner: &CommandRunner,
    counter: &Component,
    dir: &Path,
    instances: usize,
    increments: u64,
    lock: bool,
) -> anyhow::Result<Round> {
    let name = if lock {
        "counter-locked.txt"
    } else {
        "counter-unlocked.txt"
    };
    let no_lock = (!lock).then_some("--no-lock");
    let start = Instant::now();
    let mut native = Command::new(std::env::current_exe()?)
        .arg("native-counter")
        .arg(dir.join(name))
        .arg(increments.to_string())
        .args(no_lock)
        .spawn()
        .context("cannot start the native counter process")?;
    let invocation = Invocation {
        args: ["counter", name, &increments.to_string()]
            .into_iter()
            .chain(no_lock)
            .map(str::to_owned)
            .collect(),
        preopens: vec![Preopen {
            host: dir.to_path_buf(),
            guest: "/".to_owned(),
            read_only: false,
        }],
        stdio: Stdio::Capture,
        ..Invocation::default()
    };
    let outcomes = thread::scope(|scope| {
        let guests: Vec<_> = (0..instances)
            .map(|_| scope.spawn(|| runner.run(counter, &invocation)))
            .collect();
        guests
            .into_iter()
            .map(|guest| guest.join().expect("guest thread panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    for outcome in outcomes {
        if let Exit::Trap(trap) = &outcome.exit {
            let stderr = String::from_utf8_lossy(&outcome.stderr);
            let why = stderr
                .lines()
                .find(|l| l.contains("panicked"))
                .unwrap_or("");
            bail!("a counter guest trapped: {} {why}", trap.root_cause());
        }
        if outcome.exit.code() != 0 {
            bail!(
                "a counter guest failed: {}",
                String::from_utf8_lossy(&outcome.stdout).trim()
            );
        }
    }
    let status = native.wait()?;
    if !status.success() {
        bail!("the native counter process failed ({status})");
    }
    let elapsed = start.elapsed();
    let text = std::fs::read_to_string(dir.join(name))?;
    Ok(Round {
        label: if lock { "with locks" } else { "without locks" },
        expected: (instances as u64 + 1) * increments,
        got: text.trim().parse().unwrap_or(0),
        elapsed,
    })
}
