//! A wait on a FIFO nobody writes to: the attack that hangs a host thread
//! in `open` if anything on the wait path opens the file again.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use portalocker_tests::{Flavour, GuestRun, Sandbox, embed, guests, portalocker_bin};

use super::{WATCHDOG, line_value, run_async, spawn_run};

/// Creates a FIFO at `path`.
fn mkfifo(path: &Path) {
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `name` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Opens the FIFO at `path` for writing without waiting (it has readers:
/// the guest's descriptors), which lets any open blocked on it for
/// reading go on.
fn open_fifo_writer(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()
}

/// Checks a `waiting_fifo` run: its lock call failed with a typed error
/// (the lock cannot be granted) within a second.
#[track_caller]
fn assert_fifo_wait_failed_promptly(run: &GuestRun, what: &str) {
    run.assert_success();
    let first = line_value(run, "lock the first").expect("the guest prints the first lock");
    let outcome = line_value(run, "lock").expect("the guest prints `lock: <outcome>`");
    assert_ne!(
        outcome, "ok",
        "{what}: the second lock was granted (the first lock: `{first}`)"
    );
    let elapsed = run
        .value("elapsed_ms")
        .expect("the guest prints elapsed_ms");
    assert!(
        elapsed < 1000,
        "{what}: the lock call took {elapsed} ms to fail with `{outcome}`"
    );
    eprintln!("{what}: the first lock `{first}`, the second `{outcome}` after {elapsed} ms");
}

/// The run on `receive`, within [`WATCHDOG`]. A guest hung on the FIFO at
/// `fifo` is first set free (by opening the FIFO for writing) so that no
/// thread stays blocked, then the test fails.
#[track_caller]
fn finished_or_unblocked(receive: &Receiver<GuestRun>, fifo: &Path, what: &str) -> GuestRun {
    match receive.recv_timeout(WATCHDOG) {
        Ok(run) => run,
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the host panicked"),
        Err(RecvTimeoutError::Timeout) => {
            let writer = open_fifo_writer(fifo);
            let late = receive.recv_timeout(WATCHDOG);
            drop(writer);
            panic!(
                "{what}: the guest's lock call hung for {WATCHDOG:?} (a host thread blocked \
                 opening the FIFO); once the test opened the FIFO for writing the guest \
                 {}",
                match late {
                    Ok(run) => format!("printed:\n{}", run.stdout()),
                    Err(_) => "still did not finish".to_owned(),
                }
            );
        }
    }
}

/// A wait on a FIFO whose writer is gone ends at the guest's 100 ms
/// timeout: nothing on the wait path opens a file that can block.
fn fifo_wait_times_out(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let fifo = sandbox.path("fifo");
    mkfifo(&fifo);
    let receive = spawn_run(
        flavour,
        guests::WAITING_FIFO,
        sandbox.invocation(&["fifo", "100"]),
    );
    let run = finished_or_unblocked(&receive, &fifo, "a 100 ms wait on a FIFO");
    assert_fifo_wait_failed_promptly(&run, "a 100 ms wait on a FIFO");
}

under_both_linkers!(fifo_wait_times_out);

/// The same wait without a guest timeout, ended by `portalocker run
/// --max-wait-ms 200` (a process of its own, killed if it overstays).
#[test]
fn fifo_wait_ends_at_cli_max_wait() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let mut child = Command::new(portalocker_bin())
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.path().display()))
        .args(["--max-wait-ms", "200"])
        .arg(guests::WAITING_FIFO)
        .args(["fifo", "none"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn portalocker run");
    // The guest is compiled first, which may take a while; the watchdog
    // starts once it holds its first lock.
    let (send, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut locked_at = None;
    let mut printed = Vec::new();
    let status = loop {
        while let Ok(line) = lines.try_recv() {
            if line.starts_with("lock the first:") {
                locked_at = Some(Instant::now());
            }
            printed.push(line);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        let overdue = match locked_at {
            Some(locked) => locked.elapsed() > WATCHDOG,
            None => start.elapsed() > WATCHDOG * 6,
        };
        if overdue {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The reader ends at the end of the output.
    while let Ok(line) = lines.recv_timeout(WATCHDOG) {
        printed.push(line);
    }
    let stdout = printed.join("\n") + "\n";
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = status.unwrap_or_else(|| {
        panic!(
            "portalocker run --max-wait-ms 200 hung on the FIFO for {WATCHDOG:?} (killed)\n\
             --- stdout\n{stdout}--- stderr\n{stderr}"
        )
    });
    assert!(
        status.success(),
        "portalocker run: {status}\n--- stdout\n{stdout}--- stderr\n{stderr}"
    );
    let value = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no `{key}` line in\n{stdout}"))
    };
    let outcome = value("lock:");
    let elapsed: u64 = value("elapsed_ms=").parse().unwrap();
    assert_ne!(outcome, "ok", "the lock was granted: {stdout}");
    assert!(
        elapsed < 1000,
        "under --max-wait-ms 200 the lock call took {elapsed} ms to fail with `{outcome}`"
    );
    eprintln!("--max-wait-ms 200 on a FIFO: `{outcome}` after {elapsed} ms");
}

/// In an async embedding the FIFO wait must not take the executor thread:
/// another task on the same single-threaded runtime keeps running while
/// the guest waits (blocking an executor thread in a system call would
/// stop it).
#[test]
fn fifo_wait_leaves_the_executor_running() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.path("fifo");
    mkfifo(&fifo);
    let root = sandbox.root().to_path_buf();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let linker = embed::async_linker();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ticks = Arc::new(AtomicUsize::new(0));
        let (mut store, stdout) = embed::store(&root, &["fifo", "300"]);
        let exit = runtime.block_on(async {
            let counted = Arc::clone(&ticks);
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            });
            let exit = run_async(&linker, &mut store, guests::WAITING_FIFO).await;
            ticker.abort();
            exit
        });
        let _ = send.send((
            exit.map_err(|err| format!("{err:#}")),
            String::from_utf8_lossy(&stdout.contents()).into_owned(),
            ticks.load(Ordering::SeqCst),
        ));
    });
    let (exit, stdout, ticks) = match receive.recv_timeout(WATCHDOG) {
        Ok(done) => done,
        Err(RecvTimeoutError::Disconnected) => panic!("the host panicked"),
        Err(RecvTimeoutError::Timeout) => {
            let writer = open_fifo_writer(&fifo);
            let late = receive.recv_timeout(WATCHDOG).is_ok();
            drop(writer);
            panic!(
                "the async guest's lock call hung for {WATCHDOG:?} on the executor thread \
                 (finished once the FIFO had a writer: {late})"
            );
        }
    };
    assert_eq!(exit, Ok(true), "the guest failed:\n{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("lock: ") && l != "lock: ok"),
        "the lock was granted:\n{stdout}"
    );
    assert!(
        ticks > 0,
        "no other task ran on the executor while the guest waited 300 ms:\n{stdout}"
    );
    eprintln!("the executor ticked {ticks} times (every 5 ms) during the run");
}
