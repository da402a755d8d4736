//! A guest in a `compat=portalocker` Redis namespace and Python's
//! `portalocker.RedisLock` (4.4.2, `tests/python/redis_lock.py`) on the same
//! channel exclude each other, both ways, and share shared locks; exclusive
//! grants of both draw fencing tokens from the same counter.
//!
//! Needs `PORTALOCKER_REDIS_PYTHON` (a Python with portalocker 4.4.2 and redis, as
//! `.ci/services.sh start` prepares it) and a Redis server.

use std::path::Path;
use std::process::Command;

use portalocker_tests::Sandbox;
use portalocker_tests::named::{Host, HostProcess, token_of, wait_for_file};
use portalocker_tests::services::{python, redis_url, unique};

use crate::named_lock::LIMIT;

/// `python redis_lock.py ARGS`.
fn python_lock(port: &str, args: &[&str]) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/redis_lock.py");
    let mut command = Command::new(python());
    command
        .arg(script)
        .args(&args[..1])
        .arg(port)
        .args(&args[1..]);
    command
}

/// The port of the shared server's URL.
fn port(url: &str) -> String {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

#[test]
#[cfg_attr(
    not(all(has_redis, has_portalocker_py)),
    ignore = "needs redis-server and PORTALOCKER_REDIS_PYTHON: eval \"$(bash .ci/services.sh start)\""
)]
fn named_redis_compat_excludes_python_redislock() {
    let server = redis_url();
    let port = port(&server);
    let url = format!("{server}/?compat=portalocker");
    let sandbox = Sandbox::new();
    let host = Host::new(&[("py", &url)]);
    let channel = unique("chan");
    let gate = sandbox.path("gate");

    // Python holds: the guest is refused, then gets it once Python lets go.
    let mut python_holds = HostProcess::spawn(python_lock(
        &port,
        &["hold", &channel, "exclusive", gate.to_str().unwrap()],
    ));
    let python_token = token_of(&python_holds.line());
    host.run(&sandbox, &["hold", "--try", "py", &channel, "0"])
        .assert_code(2)
        .assert_line("error: already-locked");
    host.run(
        &sandbox,
        &["hold", "--shared", "--timeout", "300", "py", &channel, "0"],
    )
    .assert_code(3);
    std::fs::write(&gate, "").unwrap();
    assert_eq!(python_holds.line(), "released");
    let run = host.run(
        &sandbox,
        &["hold", "--timeout", "10000", "py", &channel, "0"],
    );
    run.assert_success();
    let guest_token = token_of(run.stdout().lines().next().unwrap());
    assert!(
        guest_token > python_token,
        "one fencing counter: {python_token} then {guest_token}"
    );

    // The guest holds: Python is refused, then gets it once the guest lets go.
    std::fs::remove_file(&gate).unwrap();
    let guest = host.spawn(
        &sandbox,
        &[
            "hold", "--write", "res", "--until", "gate", "py", &channel, "0",
        ],
    );
    wait_for_file(&sandbox.path("res"), LIMIT);
    for mode in ["exclusive", "shared"] {
        let out = python_lock(&port, &["try", &channel, mode])
            .output()
            .unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
            (Some(2), "already-locked"),
            "Python {mode} got a lock the guest holds: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::write(&gate, "").unwrap();
    guest
        .join()
        .unwrap()
        .assert_success()
        .assert_line("released");
    let out = python_lock(&port, &["try", &channel, "exclusive"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python_after = token_of(String::from_utf8_lossy(&out.stdout).lines().next().unwrap());
    assert!(python_after > guest_token);
}

#[test]
#[cfg_attr(
    not(all(has_redis, has_portalocker_py)),
    ignore = "needs redis-server and PORTALOCKER_REDIS_PYTHON: eval \"$(bash .ci/services.sh start)\""
)]
fn named_redis_compat_shares_with_python_readers() {
    let server = redis_url();
    let port = port(&server);
    let url = format!("{server}/?compat=portalocker");
    let sandbox = Sandbox::new();
    let host = Host::new(&[("py", &url)]);
    let channel = unique("chan");
    let gate = sandbox.path("gate");
    let mut reader = HostProcess::spawn(python_lock(
        &port,
        &["hold", &channel, "shared", gate.to_str().unwrap()],
    ));
    assert_eq!(reader.line(), "locked token=-");
    // A shared guest joins the Python reader (shared locks carry no token
    // in this protocol); an exclusive one is refused.
    host.run(
        &sandbox,
        &["hold", "--shared", "--try", "py", &channel, "0"],
    )
    .assert_success()
    .assert_line("locked token=-");
    host.run(&sandbox, &["hold", "--try", "py", &channel, "0"])
        .assert_code(2);
    std::fs::write(&gate, "").unwrap();
    assert_eq!(reader.line(), "released");
}
