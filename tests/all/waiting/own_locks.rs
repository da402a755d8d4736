//! No lock the host takes for itself: while a guest waits, the host has no
//! open file of its own on the lock file, and holds no lock between a
//! native holder's releases that no guest asked for.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portalocker_tests::native::{self, Mode};
use portalocker_tests::{Flavour, Sandbox, eventually, guests};

use super::open_files::open_files_of;
use super::{WATCHDOG, finished, reached, spawn_run};
use portalocker_cli::command::Invocation;
use portalocker_tests::{GuestRun, component, runner_for};
use std::sync::mpsc::{self, Receiver};

/// A native child process holding a file exclusively until dropped:
/// util-linux `flock -o FILE cat`. `flock` keeps the lock on an open file of
/// its own (`-o`: its command does not inherit it), and its command `cat`
/// ends when its stdin, a pipe from this process, closes.
struct NativeChild {
    flock: std::process::Child,
}

impl NativeChild {
    fn hold(path: &Path) -> NativeChild {
        let flock = Command::new("flock")
            .arg("-o")
            .arg(path)
            .arg("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run flock(1) from util-linux");
        let child = NativeChild { flock };
        assert!(
            eventually(WATCHDOG, || !native::can_lock(path, Mode::Exclusive)),
            "flock(1) never took {}",
            path.display()
        );
        child
    }
}

impl Drop for NativeChild {
    fn drop(&mut self) {
        // Killing `flock` closes the only open file that holds the lock;
        // closing the pipe ends `cat`.
        let _ = self.flock.kill();
        let _ = self.flock.wait();
        drop(self.flock.stdin.take());
    }
}

/// While a guest waits for a file a native child process holds, the host
/// process has exactly one open file of it: the guest's own. A second one
/// would be the host's, and a lock taken on it a lock for nobody.
fn one_open_file_while_waiting(flavour: Flavour) {
    for layer in ["handle", "path"] {
        let sandbox = Sandbox::new().with_flavour(flavour);
        let path = sandbox.path("x.lock");
        let child = NativeChild::hold(&path);
        let receive = spawn_run(
            flavour,
            guests::HOLD,
            sandbox.invocation(&["--layer", layer, "x.lock", "exclusive", "0"]),
        );
        assert!(
            eventually(WATCHDOG, || open_files_of(&path) >= 1),
            "the {layer} guest never opened the file"
        );
        // Watch the guest wait for a while.
        let watched = Instant::now();
        let mut most = 0;
        while watched.elapsed() < Duration::from_millis(300) {
            most = most.max(open_files_of(&path));
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(child);
        let run = receive.recv_timeout(WATCHDOG);
        assert_eq!(
            most, 1,
            "{layer} layer: while the guest waited, this process had {most} open files of the \
             lock file"
        );
        let run = run.unwrap_or_else(|err| panic!("{layer} layer: the guest did not end: {err}"));
        run.assert_success().assert_line("locked");
    }
}

under_both_linkers!(one_open_file_while_waiting);

/// Native releases observed.
const RELEASES: usize = 300;

/// How long the native holder keeps the lock each time.
const HOLD: Duration = Duration::from_millis(2);

/// How long the prober looks after each release.
const PROBE_WINDOW: Duration = Duration::from_millis(3);

/// How long the lock must stay held, after a release, before the guest is
/// asked whether its request holds it. A lock taken for nobody is held for
/// microseconds; the guest's request keeps its lock until it is collected.
const PERSISTENT: Duration = Duration::from_millis(10);

/// A try-lock of `file` (exclusive), released at once: whether it was
/// free.
fn probe(file: &File) -> bool {
    match fs4::FileExt::try_lock(file) {
        Ok(()) => {
            fs4::FileExt::unlock(file).unwrap();
            true
        }
        Err(fs4::TryLockError::WouldBlock) => false,
        Err(fs4::TryLockError::Error(err)) => panic!("probe: {err}"),
    }
}

/// The processors the calling thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed.
    let got = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(
        got,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    (0..usize::try_from(libc::CPU_SETSIZE).unwrap())
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Lets the calling thread run on `cpus` only.
fn set_affinity(cpus: &[usize]) {
    // SAFETY: an all-zero `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `cpu` came from `allowed_cpus`, below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed.
    let set = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(
        set,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

/// Keeps the calling thread on the processor `cpu`.
fn pin_to(cpu: usize) {
    set_affinity(&[cpu]);
}

/// [`spawn_run`], the guest's thread kept on the processor `cpu` if given.
fn spawn_pinned(
    flavour: Flavour,
    guest: &str,
    invocation: Invocation,
    cpu: Option<usize>,
) -> Receiver<GuestRun> {
    let component = component(guest);
    let guest = guest.to_owned();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            pin_to(cpu);
        }
        let outcome = runner_for(flavour)
            .run(&component, &invocation)
            .expect("run guest");
        let _ = send.send(GuestRun::new(&guest, outcome));
    });
    receive
}

/// A native holder locks `x.lock`, keeps it 2 ms and releases it, 300
/// times; after each release a native prober tries
/// `flock(LOCK_EX|LOCK_NB)` on its own open file for 3 ms. Meanwhile a
/// guest has a request for the file that it polled once and then leaves
/// alone (`waiting_idle_request`).
///
/// The guest may legitimately get the lock through its request (the
/// kernel may hand it to the request's own open file), and then keeps it
/// until it collects the answer. So when the holder cannot take the lock
/// back for a while, the guest is asked: its request must answer `ok` (it
/// then releases the lock and, once the holder has it again, asks anew).
/// A lock the prober saw held that came free again without the guest
/// doing anything was held for nobody.
fn no_phantom_holds_after_releases(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let path = sandbox.path("x.lock");
    let prober = native::open(&path);
    let holder = native::open(&path);
    fs4::FileExt::try_lock(&holder).expect("a new file is free");
    std::thread::sleep(HOLD);
    // The prober sees a hold that lasts a microsecond only while the holder
    // runs on another processor at the same time: the guest's thread (and
    // any thread the host starts from it, which inherits its processors)
    // runs on one, the prober on another.
    let cpus = allowed_cpus();
    let split = (cpus.len() >= 2).then(|| (cpus[0], cpus[cpus.len() - 1]));
    let receive = spawn_pinned(
        flavour,
        guests::WAITING_IDLE_REQUEST,
        sandbox.invocation(&["x.lock"]),
        split.map(|(_, guest)| guest),
    );
    if let Some((prober, _)) = split {
        pin_to(prober);
    }
    let mut request = 0;
    reached(&sandbox, &format!("requested-{request}"));
    let mut phantoms = 0;
    let mut failed_probes = 0;
    let mut granted = 0;
    let mut report = Vec::new();
    for release in 0..RELEASES {
        fs4::FileExt::unlock(&holder).unwrap();
        let window = Instant::now();
        let mut failed = 0;
        while window.elapsed() < PROBE_WINDOW {
            failed += usize::from(!probe(&prober));
        }
        failed_probes += failed;
        // The holder takes the lock back. Held for a while by someone else,
        // it must be the guest's request's.
        let mut asked = false;
        let mut held_since = None;
        while fs4::FileExt::try_lock(&holder).is_err() {
            let since = *held_since.get_or_insert_with(Instant::now);
            if since.elapsed() > PERSISTENT {
                assert!(
                    !asked,
                    "release {release}: the guest released, yet the file stays locked"
                );
                std::fs::write(sandbox.path(&format!("collect-{request}")), "").unwrap();
                reached(&sandbox, &format!("collected-{request}"));
                let answer =
                    std::fs::read_to_string(sandbox.path(&format!("collected-{request}"))).unwrap();
                assert_eq!(
                    answer, "ok",
                    "release {release}: the file stayed locked {PERSISTENT:?}, but the guest's \
                     request answers `{answer}`: the lock was held for nobody"
                );
                granted += 1;
                asked = true;
                held_since = None;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        if failed > 0 && !asked {
            phantoms += 1;
            report.push(format!(
                "release {release}: {failed} probes failed, then the file came free by itself"
            ));
        }
        // Long enough for a waiter to block in the kernel behind the holder.
        std::thread::sleep(HOLD);
        if asked {
            std::fs::write(sandbox.path(&format!("again-{request}")), "").unwrap();
            request += 1;
            reached(&sandbox, &format!("requested-{request}"));
        }
    }
    fs4::FileExt::unlock(&holder).unwrap();
    set_affinity(&cpus);
    std::fs::write(sandbox.path("stop"), "").unwrap();
    let run = finished(&receive, WATCHDOG, "waiting_idle_request");
    run.assert_success().assert_line("ok");
    eprintln!(
        "{flavour:?}: {RELEASES} native releases, {failed_probes} failed probes, {phantoms} \
         holds for nobody, {granted} grants to the guest's request"
    );
    assert_eq!(
        phantoms,
        0,
        "the file was locked by nobody after {phantoms} of {RELEASES} native releases \
         (the first ones):\n  {}",
        report[..report.len().min(10)].join("\n  ")
    );
}

/// [`no_phantom_holds_after_releases`] under both linkers, one after the
/// other: the prober sees a hold that lasts microseconds only while the
/// holder runs on another processor, and two probers at once would take
/// both of a small machine's.
#[test]
fn no_phantom_holds_between_native_releases() {
    for flavour in [Flavour::Sync, Flavour::Async] {
        no_phantom_holds_after_releases(flavour);
    }
}
