//! `filelock_attack_paths SECRET_HOST_PATH`
//!
//! The path layer against hostile paths, beyond `filelock_path_sandbox`:
//! every attempt asks for the most damaging options it can (create, write,
//! truncate, exclusive) and must fail with its typed error. The host
//! prepares, inside the preopen `/` (a jail inside a temporary directory
//! whose other entries are `secret.lock` and `outdir/victim.lock`):
//!
//! * `subdir/` (with `subdir/link-upup` → `../..`), `data.txt`;
//! * `link-rel-out` → `../secret.lock`, `link-dir-out` → `../outdir`,
//!   `link-chain1` → `link-chain2` → `subdir/../../secret.lock`,
//!   `link-root` → `/`, `link-dangling-out` → `../created-by-guest.lock`
//!   (missing), `link-loop-a` ⇄ `link-loop-b`;
//! * `fifo` (a FIFO), `dev-null` (a character device, 1:3), `sock` (a Unix
//!   socket).
//!
//! `SECRET_HOST_PATH` is the absolute host path of `secret.lock`. Prints
//! `<case>: <kind>` per attempt; once done, holds nothing and waits at the
//! checkpoint `probe-now`/`probe-done` so the host can check, while this
//! instance is alive, that nothing outside is locked. Then prints `ok`.

use std::time::{Duration, Instant};

use portalocker_guest::preopens::resolve;
use portalocker_guest::{Error, ErrorKind, Lock, LockGuard};
use portalocker_programs::{args, checkpoint, elapsed_ms, expect_kind, expect_ok};

/// The most damaging lock a guest can ask for.
fn wrecking(path: &str) -> Lock {
    Lock::new(path)
        .exclusive()
        .create(true)
        .write(true)
        .truncate(true)
        .timeout(Duration::from_secs(2))
}

/// Checks that acquiring `lock` fails with `expected`, promptly.
#[track_caller]
fn refused(case: &str, lock: &Lock, expected: ErrorKind) {
    let start = Instant::now();
    let result = lock.acquire();
    let elapsed = elapsed_ms(start);
    expect_kind(case, result, expected);
    assert!(elapsed < 5000, "{case}: took {elapsed} ms");
    // The request API opens the file at once too: the same answer, ready at
    // once.
    let request = lock.request();
    let answer = match request {
        Err(error) => Err(error),
        Ok(request) => request
            .try_take()
            .unwrap_or_else(|| panic!("{case}: a request for it is still waiting")),
    };
    expect_kind(&format!("{case} (request)"), answer, expected);
}

/// Checks that `result` failed with one of `expected`; returns the kind.
#[track_caller]
fn refused_with_one_of(case: &str, result: Result<LockGuard, Error>, expected: &[ErrorKind]) {
    match result {
        Ok(_) => panic!("{case}: succeeded"),
        Err(error) => {
            println!("{case}: {}", error.kind().name());
            assert!(expected.contains(&error.kind()), "{case}: {error}");
        }
    }
}

fn main() {
    let [secret] = args()
        .try_into()
        .expect("usage: filelock_attack_paths SECRET_HOST_PATH");
    let (root, _) = expect_ok("resolve /", resolve("/"));

    // `..` in every position, at an existing outside file.
    for path in [
        "../secret.lock",
        "./../secret.lock",
        "subdir/../../secret.lock",
        "missing/../../secret.lock",
        "subdir/./../.././secret.lock",
        "../jail/../secret.lock",
        "../outdir/victim.lock",
    ] {
        refused(path, &wrecking(path), ErrorKind::BadPath);
    }
    // Climbing back and forth thousands of times, ending one level out.
    let deep = format!("subdir/{}../../secret.lock", "x/../".repeat(2000));
    refused("deep x/.. then out", &wrecking(&deep), ErrorKind::BadPath);

    // Absolute paths, relative to the preopen's descriptor.
    for path in [secret.as_str(), "//secret.lock", "/jail/data.txt"] {
        let start = Instant::now();
        let result = wrecking(path).acquire_in(&root);
        expect_kind(&format!("{path} in /"), result, ErrorKind::BadPath);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    // Symbolic links leading outside, in the last or a middle component.
    for path in [
        "link-rel-out",
        "link-dir-out/victim.lock",
        "link-chain1",
        "link-root",
        "link-root/etc/passwd",
        "subdir/link-upup/secret.lock",
        "link-dangling-out",
        "link-loop-a",
    ] {
        refused(path, &wrecking(path), ErrorKind::BadPath);
    }
    // Read-only and shared, too: the open itself must not leave the jail.
    for path in [
        "link-rel-out",
        "link-dir-out/victim.lock",
        "link-root/etc/passwd",
    ] {
        let lock = Lock::new(path)
            .shared()
            .write(false)
            .create(false)
            .no_wait();
        refused(&format!("{path} read-only"), &lock, ErrorKind::BadPath);
    }

    // NUL bytes anywhere: a C host would cut the path there and lock `x.lock`
    // or `sub`.
    for path in [
        "x.lock\0",
        "x.lock\0../../secret.lock",
        "\0",
        "sub\0dir/x.lock",
    ] {
        refused(&format!("{path:?}"), &wrecking(path), ErrorKind::BadPath);
    }

    // Over-long names: a typed error, never a trap or a hang.
    let long_name = format!("{}.lock", "n".repeat(300));
    refused("300-byte name", &wrecking(&long_name), ErrorKind::BadPath);
    let long_path = format!("{}x.lock", "d/".repeat(3000));
    let start = Instant::now();
    let result = wrecking(&long_path).acquire();
    refused_with_one_of(
        "6006-byte path",
        result,
        &[ErrorKind::NotFound, ErrorKind::BadPath],
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    let huge_path = "h".repeat(1 << 20);
    let start = Instant::now();
    let result = wrecking(&huge_path).acquire();
    refused_with_one_of("1 MiB name", result, &[ErrorKind::BadPath]);
    assert!(start.elapsed() < Duration::from_secs(5));

    // Not regular files, with the most damaging options: refused promptly,
    // nothing truncated.
    for path in [".", "subdir", "subdir/", "subdir/.", "subdir/.."] {
        refused(path, &wrecking(path), ErrorKind::NotLockable);
    }
    for path in ["fifo", "dev-null", "sock"] {
        refused(path, &wrecking(path), ErrorKind::NotLockable);
        let lock = Lock::new(path).shared().write(false).create(false);
        refused(&format!("{path} read-only"), &lock, ErrorKind::NotLockable);
    }

    // Unusual Unicode is just a name: it works, inside.
    let unicode = "ünï-🔒-\u{202e}kcol.\u{200b}-ℌ.lock";
    let guard = expect_ok("unicode", wrecking(unicode).acquire());
    expect_ok("unicode release", guard.release());

    checkpoint("probe-now", "probe-done");
    println!("ok");
}
