//! Torture: one counter file, incremented under an exclusive lock by every
//! kind of locker at once, and read under a shared lock meanwhile.
//!
//! The writers: several `portalocker run … counter` host processes (one host
//! and one guest instance each), several host processes with several guest
//! instances each (this test binary again, running [`child_host`]), several
//! guest instances in this test's own host, `portalocker native-counter`
//! processes (`flock(2)` through fs4), and
//! a shell loop running util-linux `flock(1)` around `cat`/`echo >` (which
//! truncates the file before it writes). The readers: `torture_reader`
//! guests in this host and in another `portalocker run` process, which check
//! that every read under their shared lock is a whole number, never empty
//! once a number was written and never going back. The final count must be
//! exact.
//!
//! The test runs the `portalocker` CLI binary of this build
//! (`target/debug/portalocker`). `cargo test --workspace` builds it;
//! after `cargo test -p portalocker-tests` alone, run
//! `cargo build -p portalocker-cli` first.
//!
//! The default size suits CI (a few seconds). For a long run, multiply the
//! increments and reads with `PORTALOCKER_TORTURE_SCALE`:
//!
//! ```sh
//! cargo build -p portalocker-cli && PORTALOCKER_TORTURE_SCALE=40 cargo test -p portalocker-tests --test all torture -- --nocapture
//! ```

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use portalocker_cli::command::{Invocation, Preopen, Stdio as GuestStdio};
use portalocker_tests::{GuestRun, Sandbox, component, guests, portalocker_bin, runner};

/// Tells [`child_host`] the directory and the increments per instance.
const CHILD_ENV: &str = "PORTALOCKER_TORTURE_CHILD";

/// `portalocker run … counter` processes.
const HOST_PROCESSES: usize = 3;
/// Host processes with several instances each (this binary, [`child_host`]).
const CHILD_HOSTS: usize = 2;
/// `counter` instances in this process's host, and in each child host.
const INSTANCES: usize = 3;
/// `portalocker native-counter` processes.
const NATIVE_PROCESSES: usize = 2;
/// Increments by each writer, times the scale.
const INCREMENTS: u64 = 30;
/// Reads by each reader at least, times the scale (they go on until the
/// writers are done).
const READS: u64 = 50;

/// `PORTALOCKER_TORTURE_SCALE`, 1 by default.
fn scale() -> u64 {
    match std::env::var("PORTALOCKER_TORTURE_SCALE") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("PORTALOCKER_TORTURE_SCALE={text:?} is not a number")),
        Err(_) => 1,
    }
}

/// A child process and what it is, for messages.
struct Proc {
    what: String,
    child: Child,
}

impl Proc {
    fn spawn(what: &str, command: &mut Command) -> Proc {
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {what}: {err}"));
        Proc {
            what: what.to_owned(),
            child,
        }
    }

    /// Waits for the process; panics with its output unless it succeeded.
    /// Returns its stdout.
    fn finish(self) -> String {
        let output = self.child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{} failed: {}\n--- stdout\n{stdout}--- stderr\n{}",
            self.what,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

/// `portalocker run --dir DIR::/ COMPONENT ARGS...`.
fn run_process(dir: &Path, component: &str, args: &[&str]) -> Command {
    let mut command = Command::new(portalocker_bin());
    command
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.display()))
        .arg(component)
        .args(args);
    command
}

/// A shell incrementing `path` `n` times, each time under `flock(1)`, with
/// `echo >` (truncate, then write).
fn flock_shell(path: &Path, n: u64) -> Command {
    let script = r#"f="$1"; n="$2"; i=0
while [ "$i" -lt "$n" ]; do
    flock "$f" sh -c 'v=$(cat "$1"); echo $((v + 1)) > "$1"' sh "$f" || exit 1
    i=$((i + 1))
done"#;
    let mut command = Command::new("sh");
    command
        .args(["-c", script, "sh"])
        .arg(path)
        .arg(n.to_string());
    command
}

/// Creates the readers' stop file when dropped, so that they end even when
/// the test fails half-way.
struct StopReaders<'a>(&'a Path);

impl Drop for StopReaders<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0, "");
    }
}

/// This test binary, running [`child_host`] on `dir` with `n` increments per
/// instance.
fn child_host_process(dir: &Path, n: u64) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--ignored", "--exact", "torture::child_host", "--nocapture"])
        .env(CHILD_ENV, format!("{n}:{}", dir.display()));
    command
}

/// One host process with [`INSTANCES`] counter instances on the directory
/// the parent test names in [`CHILD_ENV`]; does nothing when run otherwise.
#[test]
#[ignore = "run by counter_is_exact_across_processes_instances_and_native_lockers as a child process"]
fn child_host() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        eprintln!("skipped: runs only as a child of the torture test");
        return;
    };
    let (n, dir) = spec.split_once(':').expect("N:DIR");
    let invocation = Invocation {
        args: vec!["counter".into(), "count.txt".into(), n.into()],
        preopens: vec![Preopen {
            host: dir.into(),
            guest: "/".into(),
            read_only: false,
        }],
        stdio: GuestStdio::Capture,
        ..Invocation::default()
    };
    let counter = component(guests::COUNTER);
    let instances: Vec<_> = (0..INSTANCES)
        .map(|_| {
            let (counter, invocation) = (counter.clone(), invocation.clone());
            std::thread::spawn(move || runner().run(&counter, &invocation).unwrap())
        })
        .collect();
    for instance in instances {
        GuestRun::new(guests::COUNTER, instance.join().unwrap()).assert_success();
    }
    println!("child host: {INSTANCES} instances done");
}

/// The number after `key=` in `text`.
fn value(text: &str, key: &str) -> u64 {
    let prefix = format!("{key}=");
    text.split_whitespace()
        .find_map(|word| word.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {text:?}"))
}

#[test]
#[cfg_attr(windows, ignore = "runs util-linux `flock(1)` in a shell loop")]
fn counter_is_exact_across_processes_instances_and_native_lockers() {
    let scale = scale();
    let n = INCREMENTS * scale;
    let reads = (READS * scale).to_string();
    let n_arg = n.to_string();
    let sandbox = Sandbox::new();
    let dir = sandbox.root();
    let path = sandbox.path("count.txt");
    let start = Instant::now();
    let stop = sandbox.path("stop");
    let stop_readers = StopReaders(&stop);

    // Readers first, so that they see the file from its first number on.
    let reader_args = ["count.txt", reads.as_str(), "stop"];
    let reader_process = Proc::spawn(
        "torture_reader process",
        &mut run_process(dir, guests::TORTURE_READER, &reader_args),
    );
    let readers: Vec<_> = (0..2)
        .map(|_| sandbox.spawn(guests::TORTURE_READER, &reader_args))
        .collect();

    let mut writers = Vec::new();
    for i in 0..HOST_PROCESSES {
        writers.push(Proc::spawn(
            &format!("portalocker run counter #{i}"),
            &mut run_process(dir, "counter", &["count.txt", &n_arg]),
        ));
    }
    for i in 0..CHILD_HOSTS {
        writers.push(Proc::spawn(
            &format!("child host #{i}"),
            &mut child_host_process(dir, n),
        ));
    }
    for i in 0..NATIVE_PROCESSES {
        writers.push(Proc::spawn(
            &format!("portalocker native-counter #{i}"),
            Command::new(portalocker_bin())
                .arg("native-counter")
                .arg(&path)
                .arg(&n_arg),
        ));
    }
    writers.push(Proc::spawn("flock(1) shell", &mut flock_shell(&path, n)));
    let instances: Vec<_> = (0..INSTANCES)
        .map(|_| sandbox.spawn(guests::COUNTER, &["count.txt", &n_arg]))
        .collect();

    for instance in instances {
        instance.join().unwrap().assert_success();
    }
    for writer in writers {
        let child_host = writer.what.starts_with("child host");
        let stdout = writer.finish();
        if child_host {
            // The filter matched the test, which did its work.
            assert!(stdout.contains("instances done"), "{stdout}");
        }
    }
    let writers_done = start.elapsed();
    drop(stop_readers);

    let writer_count = HOST_PROCESSES + CHILD_HOSTS * INSTANCES + INSTANCES + NATIVE_PROCESSES + 1;
    let expected = n * writer_count as u64;
    let total: u64 = std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(total, expected, "lost or extra updates");

    let mut reader_outputs = vec![reader_process.finish()];
    for reader in readers {
        let run = reader.join().unwrap();
        run.assert_success();
        reader_outputs.push(run.stdout());
    }
    let mut total_reads = 0;
    for output in &reader_outputs {
        assert!(value(output, "max") <= expected, "{output}");
        total_reads += value(output, "reads");
    }
    eprintln!(
        "torture ×{scale}: {expected} increments by {} writers in {writers_done:?}; \
         {total_reads} shared reads by {} readers, all whole; {:?} in all",
        writer_count,
        reader_outputs.len(),
        start.elapsed()
    );
}
