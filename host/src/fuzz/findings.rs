//! The fuzzer's findings, as reproductions (each failed until the host was
//! fixed), and the behaviour of the wait engine they pinned down.

use std::time::{Duration, Instant};

use super::instance::{at_once, borrow};
use super::ops::{Case, InstCfg, Op, Target, Waiters};
use super::probe;
use super::serial;
use super::world::World;
use crate::bindings::portalocker::filelock as wit;
use crate::bindings::portalocker::filelock::types::LockMode;

/// Two fair instances that wait in the kernel, each with a descriptor of
/// `a.lock`; instance 0 holds it in `held`.
fn two_instances(held: LockMode) -> World {
    let cfg = InstCfg {
        fair: true,
        read_only: false,
        read_only_exclusive: false,
        waiters: Waiters::Kernel,
        sync: false,
    };
    let case = Case {
        instances: vec![cfg, cfg],
        exist: [true, true],
        ops: vec![
            Op::Open {
                inst: 0,
                file: 0,
                read_only: false,
            },
            Op::Open {
                inst: 1,
                file: 0,
                read_only: false,
            },
            Op::TryLock {
                inst: 0,
                target: Target::Desc(0),
                mode: held,
            },
        ],
    };
    let mut world = World::new(&case);
    for op in &case.ops {
        world.run(op).expect("set-up");
    }
    world
}

/// Waits (at most `within`) until the open file of the raw file descriptor
/// `raw` holds `lock` in the kernel.
fn kernel_shows(raw: i32, lock: Option<LockMode>, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if probe::fd_lock(raw).expect("fdinfo") == lock {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

/// A request polled once while its lock is held elsewhere is a standing
/// order: once the holder releases, the kernel grants the lock to the
/// request's open file although nobody polls the request again. Dropping
/// the request uncollected gives the lock back at once, and a fair waiter
/// that waits for it meanwhile gets it promptly (with the polling engine, a
/// request nobody polled any more kept its place at the front of the line:
/// the waiter behind it waited forever).
#[test]
fn unpolled_request_is_served_and_dropping_it_frees_the_line() {
    serial(|| {
        let mut world = two_instances(LockMode::Exclusive);
        let raw0 = world.model.fds[world.instances[0].descs[0].fd].raw;
        let raw1 = world.model.fds[world.instances[1].descs[0].fd].raw;
        let (a, b) = world.instances.split_at_mut(1);
        let (holder, requester) = (&mut a[0], &mut b[0]);
        let (hfd, rfd) = (
            borrow(&holder.descs[0].res),
            borrow(&requester.descs[0].res),
        );

        let mut rv = requester.view();
        let request = at_once(
            "request-lock",
            wit::descriptor_lock::Host::request_lock(
                &mut rv,
                rfd,
                LockMode::Exclusive,
                Some(10_000_000_000),
            ),
        )
        .expect("request-lock answers at once")
        .expect("request-lock");
        let first = at_once(
            "get",
            wit::descriptor_lock::HostPendingLock::get(&mut rv, borrow(&request)),
        )
        .expect("get answers at once")
        .expect("get");
        assert!(first.is_none(), "the request waits while the lock is held");

        let mut hv = holder.view();
        at_once(
            "unlock",
            wit::descriptor_lock::Host::unlock(&mut hv, borrow(&hfd)),
        )
        .expect("unlock answers at once")
        .expect("unlock");
        assert!(
            kernel_shows(raw1, Some(LockMode::Exclusive), Duration::from_secs(1)),
            "the request's open file was not granted the free lock within 1 s \
             while nobody polled it"
        );

        let (dropped_at, waited) = world.rt.block_on(async {
            let wait = async {
                let res = tokio::time::timeout(
                    Duration::from_secs(5),
                    wit::descriptor_lock::Host::lock(&mut hv, hfd, LockMode::Exclusive, None),
                )
                .await;
                (res, Instant::now())
            };
            let drop_request = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                wit::descriptor_lock::HostPendingLock::drop(&mut rv, request)
                    .await
                    .expect("drop the request");
                Instant::now()
            };
            tokio::join!(drop_request, wait)
        });
        let (res, done_at) = waited;
        let res = res.expect("the fair waiter still waits 5 s after the request was dropped");
        assert!(res.is_ok(), "the fair waiter failed: {res:?}");
        assert!(
            done_at >= dropped_at,
            "the waiter got the lock while the request held it"
        );
        let handoff = done_at - dropped_at;
        assert!(
            handoff < Duration::from_secs(1),
            "the fair waiter got the lock {handoff:?} after the request was dropped"
        );
        assert_eq!(probe::fd_lock(raw1).expect("fdinfo"), None);
        assert_eq!(
            probe::fd_lock(raw0).expect("fdinfo"),
            Some(LockMode::Exclusive)
        );
    });
}

/// A descriptor that holds a shared lock and calls `lock` again (the same
/// mode, or exclusive), with any timeout but zero, while another waiter is
/// queued for the file, lined up behind that waiter, which waits for the
/// very lock the first holds: a deadlock that lasted until a timeout ended
/// one of the waits (forever if neither had one). `flock(2)` returns at
/// once.
#[test]
fn finding_relock_waits_behind_queue() {
    serial(|| {
        let mut world = two_instances(LockMode::Shared);
        let (a, b) = world.instances.split_at_mut(1);
        let (holder, waiter) = (&mut a[0], &mut b[0]);
        let (hfd, wfd) = (borrow(&holder.descs[0].res), borrow(&waiter.descs[0].res));
        let mut hv = holder.view();
        let mut wv = waiter.view();
        let start = Instant::now();
        let relocked = world.rt.block_on(async {
            let wait = wit::descriptor_lock::Host::lock(
                &mut wv,
                wfd,
                LockMode::Exclusive,
                Some(300_000_000),
            );
            let relock = async {
                // Let the waiter line up first.
                tokio::task::yield_now().await;
                let res =
                    wit::descriptor_lock::Host::lock(&mut hv, hfd, LockMode::Shared, None).await;
                (res.is_ok(), start.elapsed())
            };
            tokio::join!(wait, relock).1
        });
        assert!(relocked.0, "re-lock failed");
        assert!(
            relocked.1 < Duration::from_millis(100),
            "re-locking a held shared lock took {:?} (until the other waiter timed out)",
            relocked.1
        );
    });
}

/// Waits (at most `within`) until no thread of the wait engine runs: what
/// an idle engine comes back to.
fn engine_idle(within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if probe::engine_threads() == (0, 0) {
            return true;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    false
}

/// The interrupter thread slept until the deadline of the last alarm armed,
/// even once that alarm was disarmed (a wait granted its lock long before
/// its timeout), and without end after a wait without timeout: the
/// process's threads did not come back to their baseline after the waits
/// ended (found by the fuzzer's thread check at the end of each case).
#[test]
fn finding_interrupter_outlives_its_alarms() {
    serial(|| {
        assert!(
            engine_idle(Duration::from_secs(1)),
            "the wait engine runs threads before the test"
        );
        for timeout in [Some(10_000_000_000), None] {
            let mut world = two_instances(LockMode::Exclusive);
            let (a, b) = world.instances.split_at_mut(1);
            let (holder, waiter) = (&mut a[0], &mut b[0]);
            let (hfd, wfd) = (borrow(&holder.descs[0].res), borrow(&waiter.descs[0].res));
            let mut hv = holder.view();
            let mut wv = waiter.view();
            let (waited, ()) = world.rt.block_on(async {
                let wait =
                    wit::descriptor_lock::Host::lock(&mut wv, wfd, LockMode::Exclusive, timeout);
                let release = async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    wit::descriptor_lock::Host::unlock(&mut hv, hfd)
                        .await
                        .expect("unlock");
                };
                tokio::join!(wait, release)
            });
            assert!(waited.is_ok(), "the waiter failed: {waited:?}");
            drop(world);
            assert!(
                engine_idle(Duration::from_millis(500)),
                "the wait engine still runs {:?} (workers, interrupters) 500 ms after a wait \
                 with timeout {timeout:?} ended",
                probe::engine_threads()
            );
        }
    });
}
