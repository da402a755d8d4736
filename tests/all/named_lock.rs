//! Named locks (WIT `named-lock`): the behaviour every backend shares,
//! checked on the local backend here and on Redis and PostgreSQL in
//! `named_lock_redis` and `named_lock_postgres`: the API in one instance by
//! the `filelock_named` scenario (under both linkers), and across hosts and
//! host processes by the `named` example guest. Where two hosts of this
//! process take part, one runs its guests on the sync linker and the other
//! on the async one.

use std::time::{Duration, Instant};

use portalocker_host::FileLockCtx;
use portalocker_tests::named::{Host, HostProcess, cli, file_url, token_of, wait_for_file};
use portalocker_tests::{Flavour, Sandbox, guests};

/// Long enough for anything that should happen to happen.
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// The `filelock_named` scenario in a host of `flavour` granting `jobs` at
/// `url`: the API's semantics under the default policy, and the host's
/// limits counting named locks.
pub(crate) fn scenario(flavour: Flavour, url: &str) {
    let sandbox = Sandbox::new();
    let ns = [("jobs", url)];
    Host::new(&ns)
        .on(flavour)
        .run_program(&sandbox, guests::FILELOCK_NAMED, &["semantics"])
        .assert_success()
        .assert_line("ok");
    let limited = FileLockCtx::builder()
        .max_held_locks(2)
        .max_pending_waits(1)
        .max_wait(Duration::from_millis(200))
        .build();
    Host::with_ctx(&ns, limited)
        .on(flavour)
        .run_program(&sandbox, guests::FILELOCK_NAMED, &["limits"])
        .assert_success()
        .assert_line("ok");
}

pub(crate) fn filelock_named(flavour: Flavour) {
    let dir = tempfile::tempdir().unwrap();
    scenario(flavour, &file_url(dir.path()));
}

/// Exclusion, timeouts, shared locks and fencing tokens in namespace `ns`
/// at `url`, between two hosts.
pub(crate) fn excludes_and_fences(url: &str) {
    let sandbox = Sandbox::new();
    let ns = [("jobs", url)];
    let (one, two) = Host::pair(&ns);

    // One holds the name exclusively until the gate opens.
    let holder = one.spawn(
        &sandbox,
        &[
            "hold", "--write", "res", "--until", "gate", "jobs", "k", "0",
        ],
    );
    wait_for_file(&sandbox.path("res"), LIMIT);
    for host in [&one, &two] {
        host.run(&sandbox, &["hold", "--try", "jobs", "k", "0"])
            .assert_code(2)
            .assert_line("error: already-locked");
        host.run(&sandbox, &["hold", "--shared", "--try", "jobs", "k", "0"])
            .assert_code(2);
        let start = Instant::now();
        host.run(&sandbox, &["hold", "--timeout", "300", "jobs", "k", "0"])
            .assert_code(3)
            .assert_line("error: timed-out");
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "waited the timeout out"
        );
    }
    // Another name is free meanwhile.
    two.run(&sandbox, &["hold", "--try", "jobs", "other", "0"])
        .assert_success();
    std::fs::write(sandbox.path("gate"), "").unwrap();
    let first = holder.join().unwrap();
    first.assert_success().assert_line("released");
    let first_token = token_of(first.stdout().lines().next().unwrap());

    // Shared holders share, across hosts; an exclusive one waits for both.
    std::fs::remove_file(sandbox.path("gate")).unwrap();
    let readers: Vec<_> = [&one, &two]
        .into_iter()
        .map(|host| {
            host.spawn(
                &sandbox,
                &["hold", "--shared", "--until", "gate", "jobs", "k", "0"],
            )
        })
        .collect();
    let both_in = portalocker_tests::eventually(LIMIT, || {
        one.run(&sandbox, &["hold", "--shared", "--try", "jobs", "k", "0"])
            .code()
            == 0
            && two
                .run(&sandbox, &["hold", "--try", "jobs", "k", "0"])
                .code()
                == 2
    });
    assert!(
        both_in,
        "shared holders admit a shared one and refuse an exclusive one"
    );
    let writer = two.spawn(&sandbox, &["hold", "--timeout", "60000", "jobs", "k", "0"]);
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(sandbox.path("gate"), "").unwrap();
    let mut tokens = vec![first_token];
    for reader in readers {
        let run = reader.join().unwrap();
        run.assert_success();
        tokens.push(token_of(run.stdout().lines().next().unwrap()));
    }
    let run = writer.join().unwrap();
    run.assert_success();
    let last = token_of(run.stdout().lines().next().unwrap());
    assert!(
        tokens[1..]
            .iter()
            .all(|&token| token > first_token && token < last),
        "fencing tokens follow the order of the grants: {tokens:?} then {last}"
    );
}

/// A pollable request gets the lock when it comes first, and a request
/// dropped before its answer never takes the lock afterwards.
pub(crate) fn cancels_requests(url: &str) {
    let sandbox = Sandbox::new();
    let ns = [("jobs", url)];
    let (one, two) = Host::pair(&ns);
    two.run(&sandbox, &["request", "jobs", "k", "60000"])
        .assert_success()
        .assert_line("released");
    let holder = one.spawn(
        &sandbox,
        &[
            "hold", "--write", "res", "--until", "gate", "jobs", "k", "0",
        ],
    );
    wait_for_file(&sandbox.path("res"), LIMIT);
    for host in [&one, &two] {
        host.run(&sandbox, &["request", "jobs", "k", "200"])
            .assert_success()
            .assert_line("cancelled");
    }
    std::fs::write(sandbox.path("gate"), "").unwrap();
    holder.join().unwrap().assert_success();
    // Nobody took the lock for the cancelled requests: it is free.
    for host in [&one, &two] {
        host.run(&sandbox, &["hold", "--try", "jobs", "k", "0"])
            .assert_success();
    }
}

/// Bad requests are typed errors, never traps.
pub(crate) fn refuses_bad_requests(url: &str) {
    let sandbox = Sandbox::new();
    let host = Host::new(&[("jobs", url)]);
    host.run(&sandbox, &["hold", "--try", "nope", "k", "0"])
        .assert_code(1)
        .assert_line("error: no-such-namespace");
    let long = "x".repeat(256);
    host.run(&sandbox, &["hold", "--try", "jobs", &long, "0"])
        .assert_code(1)
        .assert_line("error: invalid-name");
    host.run(&sandbox, &["hold", "--try", "jobs", "", "0"])
        .assert_code(1)
        .assert_line("error: invalid-name");
    host.run(&sandbox, &["namespaces"])
        .assert_success()
        .assert_line("jobs");
}

/// `guests` guests across `processes` `portalocker run` processes and two
/// hosts in this process increment one counter `increments` times each
/// under the named lock: the count is exact.
pub(crate) fn counts_exactly(url: &str, processes: usize, increments: u64) {
    let sandbox = Sandbox::new();
    let ns = [("counters", url)];
    let n = increments.to_string();
    let args = ["count", "counters", "c", "counter.txt", n.as_str()];
    let children: Vec<_> = (0..processes)
        .map(|_| HostProcess::spawn(cli(sandbox.root(), &ns, &args)))
        .collect();
    let (one, two) = Host::pair(&ns);
    let hosts = [one, two];
    let threads: Vec<_> = hosts
        .iter()
        .flat_map(|host| [host.spawn(&sandbox, &args), host.spawn(&sandbox, &args)])
        .collect();
    for thread in threads {
        thread.join().unwrap().assert_success();
    }
    for mut child in children {
        assert_eq!(child.line(), format!("done {increments}"));
        assert!(child.child.wait().unwrap().success());
    }
    let total = (processes as u64 + 4) * increments;
    let count: u64 = std::fs::read_to_string(sandbox.path("counter.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(count, total, "no increment was lost");
}

/// The holder's host process dies (SIGKILL); the next holder gets the lock
/// (after `freed_after` at most), a larger fencing token, and the protected
/// resource refuses a write stamped with the dead holder's token.
pub(crate) fn survives_a_killed_holder(url: &str, freed_after: Duration) -> Duration {
    let sandbox = Sandbox::new();
    let ns = [("jobs", url)];
    let mut holder = HostProcess::spawn(cli(
        sandbox.root(),
        &ns,
        &["hold", "--write", "res", "jobs", "k", "600000"],
    ));
    let old = token_of(&holder.line());
    assert_eq!(holder.line(), "write accepted");
    holder.kill();
    let killed = Instant::now();
    let host = Host::new(&ns);
    let timeout = (freed_after + Duration::from_secs(10))
        .as_millis()
        .to_string();
    let next = host.run(
        &sandbox,
        &[
            "hold",
            "--timeout",
            &timeout,
            "--write",
            "res",
            "jobs",
            "k",
            "0",
        ],
    );
    let waited = killed.elapsed();
    next.assert_success().assert_line("write accepted");
    let new = token_of(next.stdout().lines().next().unwrap());
    assert!(
        new > old,
        "the next holder's token {new} is larger than {old}"
    );
    // The dead holder's late write, stamped with its token, is refused.
    host.run(&sandbox, &["write", "res", &old.to_string(), "stale"])
        .assert_code(5)
        .assert_line(&format!("rejected newest={new}"));
    waited
}

#[test]
fn named_local_excludes_and_fences() {
    let dir = tempfile::tempdir().unwrap();
    excludes_and_fences(&file_url(dir.path()));
}

#[test]
fn named_local_cancels_requests() {
    let dir = tempfile::tempdir().unwrap();
    cancels_requests(&file_url(dir.path()));
}

#[test]
fn named_local_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    refuses_bad_requests(&file_url(dir.path()));
}

#[test]
fn named_local_counts_exactly_across_hosts() {
    let dir = tempfile::tempdir().unwrap();
    counts_exactly(&file_url(dir.path()), 2, 50);
}

#[test]
fn named_local_survives_a_killed_holder() {
    let dir = tempfile::tempdir().unwrap();
    survives_a_killed_holder(&file_url(dir.path()), Duration::ZERO);
}

/// Shared holders never refuse each other, not even for an instant while
/// one of them draws its fencing token (the local backend's counter has a
/// lock of its own, which single attempts wait for briefly) or while another
/// guest of the same host is asking the server (PostgreSQL: this host's
/// attempts on a name wait for the one in flight).
pub(crate) fn shared_single_attempts_all_succeed(url: &str, tries: u32) {
    let sandbox = Sandbox::new();
    let ns = [("jobs", url)];
    let (one, two) = Host::pair(&ns);
    let hosts = [one, two];
    let n = tries.to_string();
    let runs: Vec<_> = hosts
        .iter()
        .flat_map(|host| {
            (0..2).map(|_| host.spawn(&sandbox, &["tries", "--shared", "jobs", "k", &n]))
        })
        .collect();
    for run in runs {
        run.join().unwrap().assert_success().assert_line("failed=0");
    }
}

#[test]
fn named_local_shared_single_attempts_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    shared_single_attempts_all_succeed(&file_url(dir.path()), 300);
}

#[test]
fn named_cli_reports_a_bad_namespace_on_one_line() {
    let sandbox = Sandbox::new();
    for (arg, expected) in [
        ("jobs", "is not NAME=URL"),
        ("jobs=ftp://x", "unknown scheme"),
        ("jobs=redis://127.0.0.1:1", "cannot connect"),
        ("jobs=postgres://nobody@127.0.0.1:1/x", "cannot connect"),
    ] {
        let out = std::process::Command::new(portalocker_tests::portalocker_bin())
            .args(["run", "--lock-namespace", arg, "--dir"])
            .arg(format!("{}::/", sandbox.root().display()))
            .args(["named", "namespaces"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{arg}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{arg}: one line: {stderr}");
        assert!(
            stderr.starts_with("error: --lock-namespace"),
            "{arg}: {stderr}"
        );
        assert!(stderr.contains(expected), "{arg}: {stderr}");
    }
}
