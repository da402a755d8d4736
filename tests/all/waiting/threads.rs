//! Many timed-out waits on many files that stay locked: the host's threads
//! never pile up, and nothing of the waits stays behind.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use portalocker_cli::command::{Exit, Outcome};
use portalocker_host::FileLockCtx;
use portalocker_tests::embed::{self, State};
use portalocker_tests::{Flavour, GuestRun, Sandbox, component, engine, eventually, guests};
use wasmtime::Store;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx};

use super::open_files::{OpenFiles, thread_names, threads};
use super::{WATCHDOG, finished, reached};

/// Set in the child process that runs [`many_timed_out_waits_in_own_process`].
const THREADS_CHILD: &str = "PORTALOCKER_WAITING_THREADS_CHILD";

/// Files the attack waits on.
const ATTACK_FILES: usize = 300;

/// Most threads the host may add while the attack runs: a cap of 64
/// blocked waiters and a few of its own.
const THREAD_ALLOWANCE: usize = 64 + 8;

/// Threads and open files that may remain above the baseline afterwards.
const SLACK: usize = 4;

/// How soon after the last timed-out wait the counts must be back.
const PROMPTLY: Duration = Duration::from_millis(100);

/// 300 guest waits with a 1 µs timeout, each on a file the guest keeps
/// locked: the host's threads never pile up, and once the waits have timed
/// out, threads and open files are back at the baseline (plus the guest's
/// own 300 locked files) within 100 ms. Thread counts are per process, and
/// the other tests of this binary run in parallel: the measurement runs in
/// a process of its own.
#[test]
fn many_timed_out_waits_leave_no_threads() {
    let name = "waiting::threads::many_timed_out_waits_in_own_process";
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            name,
            "--test-threads=1",
            "--nocapture",
        ])
        .env(THREADS_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed in its own process: {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status
    );
    eprint!("{stderr}");
}

#[test]
#[ignore = "run by many_timed_out_waits_leave_no_threads in a process of its own"]
fn many_timed_out_waits_in_own_process() {
    if std::env::var_os(THREADS_CHILD).is_none() {
        eprintln!("skipped: runs only as the child of many_timed_out_waits_leave_no_threads");
        return;
    }
    let mut failures = Vec::new();
    for flavour in [Flavour::Sync, Flavour::Async] {
        for layer in ["path", "handle"] {
            if let Err(failure) = timed_out_waits(flavour, layer) {
                failures.push(failure);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs the `waiting_many_files` guest with `args` in `sandbox`, on a
/// thread of its own, with file system calls made on the calling thread
/// (`allow_blocking_current_thread`): no blocking-pool threads come and go
/// with them, so the host's own threads are all a count shows.
fn spawn_inline_run(flavour: Flavour, sandbox: &Sandbox, args: &[&str]) -> Receiver<GuestRun> {
    let guest = guests::WAITING_MANY_FILES;
    let component = component(guest);
    let mut wasi = WasiCtx::builder();
    wasi.args(&[&["guest"], args].concat())
        .allow_blocking_current_thread(true)
        .preopened_dir(sandbox.root(), "/", FsPerms::ReadWrite)
        .expect("preopen");
    let stdout = MemoryOutputPipe::new(1 << 16);
    let stderr = MemoryOutputPipe::new(1 << 16);
    wasi.stdout(stdout.clone()).stderr(stderr.clone());
    let locks = FileLockCtx::builder()
        .allow_blocking_current_thread(true)
        .build();
    let mut store = Store::new(engine(), State::new(wasi.build(), locks));
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let linker = embed::linker_on(engine(), flavour);
        let exit = match embed::call_run(flavour, &linker, &mut store, &component) {
            Ok(Ok(())) => Exit::Code(0),
            Ok(Err(())) => Exit::Code(1),
            Err(trap) => Exit::Trap(trap),
        };
        drop(store);
        let outcome = Outcome {
            exit,
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
        };
        let _ = send.send(GuestRun::new(guest, outcome));
    });
    receive
}

/// One run of the attack, measured (printed); what went wrong, if
/// anything.
fn timed_out_waits(flavour: Flavour, layer: &str) -> Result<(), String> {
    let what = format!("{flavour:?} linker, {layer} layer");
    let files = ATTACK_FILES.to_string();
    // The warm-up, the same run, starts what stays: runtimes, their workers,
    // and the idle threads of their blocking pools (which serve the guest's
    // file system calls and linger 10 s). The baseline is taken once the
    // count has settled.
    let warm_up = Sandbox::new().with_flavour(flavour);
    let receive = spawn_inline_run(flavour, &warm_up, &[layer, &files]);
    reached(&warm_up, "waited");
    std::fs::write(warm_up.path("counted"), "").unwrap();
    finished(&receive, WATCHDOG * 3, &what).assert_success();
    drop(warm_up);
    let mut last = threads();
    eventually(Duration::from_secs(2), || {
        std::thread::sleep(Duration::from_millis(50));
        let now = threads();
        std::mem::replace(&mut last, now) == now
    });

    let sandbox = Sandbox::new().with_flavour(flavour);
    let root = sandbox.root().canonicalize().unwrap();
    // The sampler runs from before the baseline, so that it is in it.
    let peak = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(threads(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let baseline_threads = threads();
    let baseline = OpenFiles::now(&root);
    let receive = spawn_inline_run(flavour, &sandbox, &[layer, &files]);
    reached(&sandbox, "waited");
    // The guest has timed out its last wait and holds its 300 locks, one
    // open file each: the host must have let go of everything else it used
    // for the waits, threads and open files.
    let checked = Instant::now();
    let back = |(threads, open): (usize, OpenFiles)| {
        threads <= baseline_threads + SLACK
            && open.descriptions_under == ATTACK_FILES
            && open.descriptors - open.under <= baseline.descriptors + SLACK
    };
    let mut now = (threads(), OpenFiles::now(&root));
    while !back(now) && checked.elapsed() < PROMPTLY {
        std::thread::sleep(Duration::from_millis(2));
        now = (threads(), OpenFiles::now(&root));
    }
    let settled_in = checked.elapsed();
    let names = thread_names();
    std::fs::write(sandbox.path("counted"), "").unwrap();
    let run = finished(&receive, WATCHDOG * 3, &what);
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    run.assert_success()
        .assert_line(&format!("timed_out={ATTACK_FILES}"));
    let peak = peak.load(Ordering::SeqCst);
    let (threads_now, open) = now;
    eprintln!(
        "{what}: threads {baseline_threads} before, peak {peak}, {threads_now} {settled_in:?} \
         after the last timed-out wait; descriptors {} before, {} after, {} of them on {} open \
         files in the sandbox (the guest holds {ATTACK_FILES})",
        baseline.descriptors, open.descriptors, open.under, open.descriptions_under
    );
    if peak > baseline_threads + THREAD_ALLOWANCE {
        return Err(format!(
            "{what}: {peak} threads while {ATTACK_FILES} waits timed out, {baseline_threads} \
             before (allowed: {THREAD_ALLOWANCE} more)"
        ));
    }
    if !back(now) {
        return Err(format!(
            "{what}: {PROMPTLY:?} after the last wait timed out the host has {threads_now} \
             threads ({baseline_threads} before), {} open files in the sandbox where the guest \
             holds {ATTACK_FILES}, and {} descriptors elsewhere ({} before); threads: {names}",
            open.descriptions_under,
            open.descriptors - open.under,
            baseline.descriptors
        ));
    }
    Ok(())
}
