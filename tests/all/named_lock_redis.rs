//! Named locks on Redis: the shared behaviour (see `named_lock`), a holder
//! killed with SIGKILL (the lock comes back after its lease), a server that
//! goes away while a guest holds (the lost pollable fires, new calls get
//! `unavailable`, nothing hangs, and locks work again once it is back), in
//! both waiting modes.
//!
//! The tests use `PORTALOCKER_REDIS_URL` (see `.ci/services.sh`) or start a
//! `redis-server` of their own; without one they are ignored.

use std::time::{Duration, Instant};

use portalocker_tests::named::{Host, wait_for_file};
use portalocker_tests::services::{RedisServer, redis_url, unique};
use portalocker_tests::{Flavour, Sandbox};

use crate::named_lock::{
    LIMIT, cancels_requests, counts_exactly, excludes_and_fences, refuses_bad_requests, scenario,
    shared_single_attempts_all_succeed, survives_a_killed_holder,
};

/// The shared server's URL with a prefix of this test's own, and `options`.
fn url(options: &str) -> String {
    format!("{}/?prefix={}:{options}", redis_url(), unique("t"))
}

#[test]
#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed: apt-get install redis-server, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_redis_scenario() {
    for flavour in [Flavour::Sync, Flavour::Async] {
        scenario(flavour, &url("&wait=notify"));
    }
    scenario(Flavour::Sync, &url("&wait=poll"));
}

#[test]
#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed: apt-get install redis-server, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_redis_excludes_and_fences() {
    excludes_and_fences(&url("&wait=notify"));
    excludes_and_fences(&url("&wait=poll"));
    refuses_bad_requests(&url(""));
    cancels_requests(&url(""));
    shared_single_attempts_all_succeed(&url(""), 100);
}

#[test]
#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed: apt-get install redis-server, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_redis_counts_exactly_across_hosts() {
    counts_exactly(&url(""), 2, 40);
    counts_exactly(&url("&wait=poll"), 2, 20);
}

#[test]
#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed: apt-get install redis-server, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_redis_frees_a_killed_holder_after_its_lease() {
    let ttl = Duration::from_millis(1500);
    let waited = survives_a_killed_holder(&url(&format!("&ttl_ms={}", ttl.as_millis())), ttl);
    // Nobody released the lock: it came back only when the lease ran out.
    assert!(
        waited >= ttl / 2,
        "the lock came back after {waited:?}, before its lease ran out"
    );
}

#[test]
#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed: apt-get install redis-server, or eval \"$(bash .ci/services.sh start)\""
)]
fn named_redis_server_going_away() {
    let mut server = RedisServer::start();
    let ttl = Duration::from_millis(3000);
    let url = format!(
        "{}/?ttl_ms={}&timeout_ms=1000",
        server.url(),
        ttl.as_millis()
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
    // Renewals run every third of the lease: the loss is known before the
    // lease could have run out on a server that was still there.
    assert!(noticed < ttl, "the loss was noticed after {noticed:?}");
    // New calls fail at once with `unavailable`, whatever their timeout.
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
