//! Named locks on PostgreSQL (session advisory locks): the shared behaviour
//! (see `named_lock`), a holder killed with SIGKILL (the server frees its
//! lock as soon as the connection is gone), a server that goes away while a
//! guest holds (the lost pollable fires, new calls get `unavailable`, nothing
//! hangs, and locks work again once it is back).
//!
//! The tests use `PORTALOCKER_POSTGRES_URL` (see `.ci/services.sh`) or start
//! a PostgreSQL server of their own; without one they are ignored.

use std::time::{Duration, Instant};

use portalocker_tests::named::{Host, wait_for_file};
use portalocker_tests::services::{PostgresServer, postgres_url, unique};
use portalocker_tests::{Flavour, Sandbox};

use crate::named_lock::{
    LIMIT, cancels_requests, counts_exactly, excludes_and_fences, refuses_bad_requests, scenario,
    shared_single_attempts_all_succeed, survives_a_killed_holder,
};

/// The shared server's URL with a key prefix of this test's own.
fn url() -> String {
    format!("{}?prefix={}", postgres_url(), unique("t"))
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL is not installed: apt-get install postgresql, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_postgres_scenario() {
    for flavour in [Flavour::Sync, Flavour::Async] {
        scenario(flavour, &url());
    }
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL is not installed: apt-get install postgresql, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_postgres_excludes_and_fences() {
    excludes_and_fences(&url());
    refuses_bad_requests(&url());
    cancels_requests(&url());
    shared_single_attempts_all_succeed(&url(), 100);
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL is not installed: apt-get install postgresql, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_postgres_counts_exactly_across_hosts() {
    counts_exactly(&url(), 2, 40);
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL is not installed: apt-get install postgresql, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_postgres_frees_a_killed_holder_at_once() {
    let waited = survives_a_killed_holder(&url(), Duration::ZERO);
    // No lease to wait out: the server frees the lock with the connection.
    assert!(
        waited < Duration::from_secs(5),
        "the lock came back only after {waited:?}"
    );
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL is not installed: apt-get install postgresql, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_postgres_server_going_away() {
    let mut server = PostgresServer::start();
    let check = Duration::from_millis(500);
    let url = format!(
        "{}?check_ms={}&timeout_ms=1000",
        server.url(),
        check.as_millis()
    );
    let sandbox = Sandbox::new();
    let host = Host::new(&[("jobs", &url)]);
    let holder = host.spawn(&sandbox, &["hold", "--write", "res", "jobs", "k", "600000"]);
    wait_for_file(&sandbox.path("res"), LIMIT);
    server.stop();
    let stopped = Instant::now();
    let run = holder.join().unwrap();
    let noticed = stopped.elapsed();
    run.assert_code(4)
        .assert_line("lost")
        .assert_line("release: lost");
    assert!(
        noticed < Duration::from_secs(10),
        "the loss was noticed after {noticed:?}"
    );
    for args in [
        ["hold", "--try", "jobs", "k", "0"].as_slice(),
        ["hold", "--timeout", "600000", "jobs", "k", "0"].as_slice(),
    ] {
        host.run(&sandbox, args)
            .assert_code(6)
            .assert_line("error: unavailable");
    }
    server.resume(false);
    host.run(&sandbox, &["hold", "--try", "jobs", "k", "0"])
        .assert_success()
        .assert_line("released");
}
