//! A hostile guest against the sandbox: every attack fails with a typed
//! error (or, for forged resource handles, a trap), and nothing outside the
//! preopen is created, truncated, written or locked. The guests check the
//! errors; these tests check the files, from outside.
//!
//! `filelock_path_sandbox` (in `scenarios`) covers the basic cases; these go
//! further: the most damaging options (create, write, truncate) on every
//! attempt, symbolic links in the middle of paths, chains, loops and dangling
//! links, a symbolic link swapped in and out while the guest acquires, device
//! files and sockets, NUL bytes anywhere, over-long names, a read-only
//! preopen, and forged handles.
//!
//! Non-UTF-8 names cannot be attacked: a WIT `string` is UTF-8 by
//! construction (the component model traps a guest that passes anything
//! else before the host sees it), so instead unusual Unicode (bidi controls,
//! zero-width space, emoji) is checked to work inside.
//!
//! A symbolic link at the lock path is never followed, inside or out
//! (`bad-path`); links in the middle of a path may stay inside.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use portalocker_cli::command::Exit;
use portalocker_tests::Flavour;
use portalocker_tests::native::{self, Mode};
use portalocker_tests::{GuestRun, Sandbox, component, eventually, guests};

/// What a file system entry looks like from outside: enough to see that it
/// was not created, written, truncated, replaced or touched.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    contents: Option<Vec<u8>>,
}

/// Every entry under `dir`, recursively, without following symbolic links,
/// leaving out `skip` (the jail).
fn snapshot(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path == skip {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let kind = if meta.is_dir() {
                pending.push(path.clone());
                "dir"
            } else if meta.file_type().is_symlink() {
                "symlink"
            } else if meta.is_file() {
                "file"
            } else {
                "special"
            };
            let contents = (kind == "file").then(|| std::fs::read(&path).unwrap());
            entries.insert(
                path,
                Entry {
                    kind,
                    len: meta.len(),
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                    ctime: (meta.ctime(), meta.ctime_nsec()),
                    ino: meta.ino(),
                    contents,
                },
            );
        }
    }
    entries
}

/// The regular files in `snapshot`.
fn files(snapshot: &BTreeMap<PathBuf, Entry>) -> Vec<PathBuf> {
    snapshot
        .iter()
        .filter(|(_, entry)| entry.kind == "file")
        .map(|(path, _)| path.clone())
        .collect()
}

/// Asserts that nothing outside the jail changed since `before`.
#[track_caller]
fn assert_outside_untouched(sandbox: &Sandbox, before: &BTreeMap<PathBuf, Entry>) {
    let after = snapshot(sandbox.outside(), sandbox.root());
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "entries outside the jail were created or removed"
    );
    for (path, entry) in before {
        assert_eq!(
            entry,
            &after[path],
            "{} outside the jail changed",
            path.display()
        );
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Creates a character device like `/dev/null` (1:3) at `path`; needs root
/// (or CAP_MKNOD). Falls back to a FIFO, which is just as unlockable, and
/// says so.
fn mknod_null(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) };
    if made != 0 {
        eprintln!(
            "mknod failed ({}): not root? testing a FIFO in place of the device",
            std::io::Error::last_os_error()
        );
        mkfifo(path);
    }
}

/// The host-side lay-out `filelock_attack_paths` expects.
fn prepare_paths(sandbox: &Sandbox) -> std::os::unix::net::UnixListener {
    let outside = sandbox.outside();
    std::fs::write(outside.join("secret.lock"), "outside secret").unwrap();
    std::fs::create_dir(outside.join("outdir")).unwrap();
    std::fs::write(outside.join("outdir/victim.lock"), "outside victim").unwrap();

    std::fs::create_dir(sandbox.path("subdir")).unwrap();
    std::fs::write(sandbox.path("data.txt"), "inside").unwrap();
    for (link, target) in [
        ("subdir/link-upup", "../.."),
        ("link-rel-out", "../secret.lock"),
        ("link-dir-out", "../outdir"),
        ("link-chain1", "link-chain2"),
        ("link-chain2", "subdir/../../secret.lock"),
        ("link-root", "/"),
        ("link-dangling-out", "../created-by-guest.lock"),
        ("link-loop-a", "link-loop-b"),
        ("link-loop-b", "link-loop-a"),
    ] {
        symlink(target, sandbox.path(link)).unwrap();
    }
    mkfifo(&sandbox.path("fifo"));
    mknod_null(&sandbox.path("dev-null"));
    std::os::unix::net::UnixListener::bind(sandbox.path("sock")).unwrap()
}

pub(crate) fn filelock_attack_paths(flavour: Flavour) {
    let sandbox = Sandbox::jailed().with_flavour(flavour);
    let _listener = prepare_paths(&sandbox);
    let before = snapshot(sandbox.outside(), sandbox.root());
    let secret = sandbox.outside().join("secret.lock");
    let jail_before: Vec<_> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    let guest = sandbox.spawn(guests::FILELOCK_ATTACK_PATHS, &[secret.to_str().unwrap()]);
    // While the guest is still alive, after all its attempts, nothing
    // outside is locked.
    assert!(
        eventually(Duration::from_secs(60), || sandbox
            .path("probe-now")
            .exists()
            || guest.is_finished()),
        "the guest never reached its checkpoint"
    );
    let locked: Vec<_> = files(&before)
        .into_iter()
        .filter(|file| !native::can_lock(file, Mode::Exclusive))
        .collect();
    std::fs::write(sandbox.path("probe-done"), "").unwrap();
    let run = guest.join().unwrap();
    run.assert_success().assert_line("ok");
    assert!(locked.is_empty(), "locked outside the jail: {locked:?}");

    assert_outside_untouched(&sandbox, &before);
    assert!(!sandbox.outside().join("created-by-guest.lock").exists());
    // Inside: the one legitimate file, the checkpoint files, and nothing a
    // NUL byte or a long name could have produced.
    let mut created: Vec<_> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| !jail_before.contains(name))
        .map(|name| name.into_string().unwrap())
        .collect();
    created.sort();
    assert_eq!(
        created,
        [
            "probe-done",
            "probe-now",
            "ünï-🔒-\u{202e}kcol.\u{200b}-ℌ.lock"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.path("data.txt")).unwrap(),
        "inside"
    );
    for special in ["fifo", "dev-null", "sock"] {
        let meta = std::fs::symlink_metadata(sandbox.path(special)).unwrap();
        assert!(!meta.is_file(), "{special} was replaced by a regular file");
    }
}

/// How many flips a race needs for its result to mean something.
const MIN_FLIPS: u64 = 200;

/// Runs `filelock_attack_race` on `target` while a host thread keeps calling
/// `flip(i)`, again (up to 20 runs) until the flipping thread has had
/// [`MIN_FLIPS`] flips: on a loaded machine it may hardly run during one
/// guest run. Returns the last run (the first that failed, if one did) and
/// how many flips happened.
fn race(
    sandbox: &Sandbox,
    target: &str,
    rounds: u64,
    flip: impl Fn(u64) + Send,
) -> (GuestRun, u64) {
    let done = AtomicBool::new(false);
    let flips = AtomicU64::new(0);
    let run = std::thread::scope(|scope| {
        let (done, flips) = (&done, &flips);
        scope.spawn(move || {
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                flip(i);
                i += 1;
                flips.store(i, Ordering::Relaxed);
            }
        });
        let mut runs = 0;
        let run = loop {
            let run = sandbox.run(guests::FILELOCK_ATTACK_RACE, &[target, &rounds.to_string()]);
            runs += 1;
            if run.code() != 0 || flips.load(Ordering::Relaxed) >= MIN_FLIPS || runs == 20 {
                break run;
            }
        };
        done.store(true, Ordering::Relaxed);
        run
    });
    (run, flips.load(Ordering::Relaxed))
}

pub(crate) fn filelock_attack_race(flavour: Flavour) {
    const ROUNDS: u64 = 3000;
    let sandbox = Sandbox::jailed().with_flavour(flavour);
    let outside = sandbox.outside();
    std::fs::write(outside.join("secret.lock"), "outside secret").unwrap();
    std::fs::create_dir(outside.join("outdir")).unwrap();
    std::fs::write(outside.join("outdir/victim.lock"), "outside victim").unwrap();
    std::fs::create_dir(sandbox.path("realdir")).unwrap();
    // What the guest finds before the first swap (rename(2) keeps the names
    // there from then on).
    std::fs::write(sandbox.path("swap"), "x").unwrap();
    symlink("realdir", sandbox.path("swapdir")).unwrap();
    let before = snapshot(outside, sandbox.root());

    // The last component: `swap` is a regular file inside, then a symbolic
    // link to the secret (relative or absolute), swapped in by rename(2) so
    // that it always exists.
    let secret = outside.join("secret.lock");
    let (run, flips) = race(&sandbox, "swap", ROUNDS, |i| {
        let new = sandbox.path("swap.new");
        let _ = std::fs::remove_file(&new);
        match i % 3 {
            0 => std::fs::write(&new, "x").unwrap(),
            1 => symlink("../secret.lock", &new).unwrap(),
            _ => symlink(&secret, &new).unwrap(),
        }
        std::fs::rename(&new, sandbox.path("swap")).unwrap();
    });
    run.assert_success();
    eprintln!("swap: {} with {flips} swaps", run.stdout().trim());
    assert_outside_untouched(&sandbox, &before);
    assert!(
        flips >= MIN_FLIPS,
        "the swapping thread hardly ran: {flips}"
    );

    // A middle component: `swapdir` is a link to `realdir` inside, then a link
    // to `../outdir`, which holds a `victim.lock` too.
    let (run, flips) = race(&sandbox, "swapdir/victim.lock", ROUNDS, |i| {
        let new = sandbox.path("swapdir.new");
        let _ = std::fs::remove_file(&new);
        let target = if i % 2 == 0 { "realdir" } else { "../outdir" };
        symlink(target, &new).unwrap();
        std::fs::rename(&new, sandbox.path("swapdir")).unwrap();
    });
    run.assert_success();
    eprintln!("swapdir: {} with {flips} swaps", run.stdout().trim());
    assert_outside_untouched(&sandbox, &before);
    assert!(native::can_lock(&secret, Mode::Exclusive));
}

pub(crate) fn filelock_attack_readonly(flavour: Flavour) {
    let sandbox = Sandbox::jailed().with_flavour(flavour);
    let data = sandbox.path("data.txt");
    std::fs::write(&data, "inside").unwrap();
    let before = snapshot(sandbox.outside(), Path::new("/nonexistent"));
    let mut invocation = sandbox.invocation(&[]);
    invocation.preopens[0].read_only = true;
    let outcome = sandbox
        .runner()
        .run(&component(guests::FILELOCK_ATTACK_READONLY), &invocation)
        .unwrap();
    GuestRun::new(guests::FILELOCK_ATTACK_READONLY, outcome)
        .assert_success()
        .assert_line("ok");
    // The jail is included this time: nothing in it changed either.
    assert_eq!(
        before,
        snapshot(sandbox.outside(), Path::new("/nonexistent"))
    );
    assert!(!sandbox.path("missing.lock").exists());
    assert!(native::can_lock(&data, Mode::Exclusive));
}

pub(crate) fn filelock_attack_handles(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    for case in [
        "bogus-descriptor",
        "dropped-descriptor",
        "wrong-type",
        "bogus-file-lock",
        "dropped-file-lock",
        "double-drop",
        "bogus-dir",
    ] {
        // A host panic would unwind through this call and fail the test; a
        // trap is an ordinary outcome.
        let run = sandbox.run(guests::FILELOCK_ATTACK_HANDLES, &[case]);
        run.assert_line("calling");
        assert!(
            !run.stdout().contains("not trapped"),
            "{case}: the forged handle was accepted\n{}",
            run.stderr()
        );
        let Exit::Trap(trap) = &run.outcome.exit else {
            panic!("{case}: expected a trap, got {:?}", run.outcome.exit);
        };
        eprintln!("{case}: {}", trap.root_cause());
        assert!(
            native::flock_n(&sandbox.path("x.lock")) || !sandbox.path("x.lock").exists(),
            "{case}: a lock outlived the trapped instance"
        );
    }
    // The host is fine: the same runner runs guests and locks as before.
    sandbox
        .run(guests::HOLD, &["--try", "x.lock", "exclusive", "0"])
        .assert_success();
}
