//! The fuzzer's findings, as reproductions (each failed until the host was
//! fixed), and the behaviour of the wait engine they pinned down.

use std::fs::File;
use std::time::{Duration, Instant};

use super::instance::{at_once, borrow};
use super::ops::{Case, InstCfg, Op, Target, Waiters};
use super::probe;
use super::serial;
use super::world::World;
use crate::bindings::portalocker::filelock as wit;
use crate::bindings::portalocker::filelock::types::LockMode;
use wasmtime_wasi_io::bindings::wasi::io::poll::HostPollable;

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

/// Waits (at most `within`) until a request blocked in the kernel waits
/// for the file of the raw file descriptor `raw` (a `->` line of
/// `/proc/locks` naming its inode).
fn kernel_waiter_on(raw: i32, within: Duration) -> bool {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(format!("/proc/self/fd/{raw}"))
        .expect("stat the file")
        .ino();
    let start = Instant::now();
    while start.elapsed() < within {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        let waiting = locks.lines().any(|line| {
            line.contains("->")
                && line
                    .split_whitespace()
                    .any(|field| field.rsplit(':').next() == Some(&inode.to_string()))
        });
        if waiting {
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

/// A request that converts its descriptor's lock (shared to exclusive, the
/// conversion contended), granted its lock in the background and dropped
/// uncollected, gave the lock back when nobody had polled it since the
/// grant, but kept it when the guest had awaited it without collecting:
/// whether a guest's lock survived depended on an unobservable race. A
/// request that repeats or converts a held lock leaves the lock it took
/// held, however it learnt of the grant.
#[test]
fn finding_converting_request_loses_background_grant_on_drop() {
    serial(|| {
        for awaited in [false, true] {
            let mut world = two_instances(LockMode::Shared);
            world
                .run(&Op::TryLock {
                    inst: 1,
                    target: Target::Desc(0),
                    mode: LockMode::Shared,
                })
                .expect("instance 1 shares the lock");
            let raw0 = world.model.fds[world.instances[0].descs[0].fd].raw;
            let (a, b) = world.instances.split_at_mut(1);
            let (converter, other) = (&mut a[0], &mut b[0]);
            let (cfd, ofd) = (borrow(&converter.descs[0].res), borrow(&other.descs[0].res));
            let mut cv = converter.view();
            let request = at_once(
                "request-lock",
                wit::descriptor_lock::Host::request_lock(
                    &mut cv,
                    cfd,
                    LockMode::Exclusive,
                    Some(10_000_000_000),
                ),
            )
            .expect("request-lock answers at once")
            .expect("request-lock");
            let first = at_once(
                "get",
                wit::descriptor_lock::HostPendingLock::get(&mut cv, borrow(&request)),
            )
            .expect("get answers at once")
            .expect("get");
            assert!(first.is_none(), "the conversion waits for instance 1");
            at_once(
                "unlock",
                wit::descriptor_lock::Host::unlock(&mut other.view(), ofd),
            )
            .expect("unlock answers at once")
            .expect("unlock");
            assert!(
                kernel_shows(raw0, Some(LockMode::Exclusive), Duration::from_secs(1)),
                "the conversion was not granted in the background"
            );
            if awaited {
                let pollable = at_once(
                    "subscribe",
                    wit::descriptor_lock::HostPendingLock::subscribe(&mut cv, borrow(&request)),
                )
                .expect("subscribe answers at once")
                .expect("subscribe");
                world
                    .rt
                    .block_on(HostPollable::block(cv.table, borrow(&pollable)))
                    .expect("block");
                HostPollable::drop(cv.table, pollable).expect("drop the pollable");
            }
            at_once(
                "drop",
                wit::descriptor_lock::HostPendingLock::drop(&mut cv, request),
            )
            .expect("drop answers at once")
            .expect("drop the request");
            assert_eq!(
                probe::fd_lock(raw0).expect("fdinfo"),
                Some(LockMode::Exclusive),
                "dropping the converting request (awaited first: {awaited}) gave up the lock it took"
            );
        }
    });
}

/// An instance whose request was granted its lock in the background (not
/// collected yet) holds the lock, but a lock call of the same instance on
/// the same descriptor (a conversion to shared) lined up behind another
/// instance's waiter, which waited for that very lock: the call returned
/// only at its own deadline. `flock(2)` converts at once, and an instance
/// that holds a lock on a file never queues behind waiters of it.
#[test]
fn finding_holder_through_granted_request_queues_behind_waiter() {
    serial(|| {
        let cfg = InstCfg {
            fair: true,
            read_only: false,
            read_only_exclusive: false,
            waiters: Waiters::Kernel,
            sync: false,
        };
        let case = Case {
            instances: vec![cfg, cfg, cfg],
            exist: [true, true],
            ops: Vec::new(),
        };
        let mut world = World::new(&case);
        for inst in 0..3 {
            world
                .run(&Op::Open {
                    inst,
                    file: 0,
                    read_only: false,
                })
                .expect("open");
        }
        world
            .run(&Op::TryLock {
                inst: 1,
                target: Target::Desc(0),
                mode: LockMode::Shared,
            })
            .expect("instance 1 holds the lock");
        let raw0 = world.model.fds[world.instances[0].descs[0].fd].raw;
        let [a, b, c] = &mut world.instances[..] else {
            unreachable!("three instances")
        };
        let (afd, bfd, cfd) = (
            borrow(&a.descs[0].res),
            borrow(&b.descs[0].res),
            borrow(&c.descs[0].res),
        );
        let (mut av, mut cv) = (a.view(), c.view());
        let mut requests = Vec::new();
        for (view, fd) in [(&mut av, borrow(&afd)), (&mut cv, cfd)] {
            let request = at_once(
                "request-lock",
                wit::descriptor_lock::Host::request_lock(
                    view,
                    fd,
                    LockMode::Exclusive,
                    Some(10_000_000_000),
                ),
            )
            .expect("request-lock answers at once")
            .expect("request-lock");
            let first = at_once(
                "get",
                wit::descriptor_lock::HostPendingLock::get(view, borrow(&request)),
            )
            .expect("get answers at once")
            .expect("get");
            assert!(first.is_none(), "the request waits for instance 1");
            requests.push(request);
        }
        at_once(
            "unlock",
            wit::descriptor_lock::Host::unlock(&mut b.view(), bfd),
        )
        .expect("unlock answers at once")
        .expect("unlock");
        assert!(
            kernel_shows(raw0, Some(LockMode::Exclusive), Duration::from_secs(1)),
            "instance 0's request was not granted in the background"
        );
        let start = Instant::now();
        let res = world.rt.block_on(wit::descriptor_lock::Host::lock(
            &mut av,
            afd,
            LockMode::Shared,
            Some(2_000_000_000),
        ));
        let took = start.elapsed();
        assert!(res.is_ok(), "the holder's conversion failed: {res:?}");
        assert!(
            took < Duration::from_secs(1),
            "the holder's conversion took {took:?}: it waited behind a waiter for its own lock"
        );
        assert_eq!(
            probe::fd_lock(raw0).expect("fdinfo"),
            Some(LockMode::Shared)
        );
        drop(requests);
    });
}

/// A request that converts its descriptor's lock fails (its timeout
/// passes) after the guest took the descriptor's lock again meanwhile: the
/// host stops counting the descriptor's lock when the request fails, though
/// the descriptor holds it. The instance then holds the lock unbeknown to
/// the host, and a lock call of its own lines up behind another instance's
/// waiter that waits for that very lock, until a deadline (and the lock
/// escapes `max_held_locks`). Found by the fuzzer (a call that needed no
/// waiting took 193 ms). The host now asks the kernel whether the open file
/// still holds a lock before it stops counting one after a failed attempt.
#[test]
fn finding_failed_request_uncounts_relocked_descriptor() {
    serial(|| {
        let mut world = two_instances(LockMode::Shared);
        world
            .run(&Op::TryLock {
                inst: 1,
                target: Target::Desc(0),
                mode: LockMode::Shared,
            })
            .expect("instance 1 shares the lock");
        let raw0 = world.model.fds[world.instances[0].descs[0].fd].raw;
        let (a, b) = world.instances.split_at_mut(1);
        let (holder, other) = (&mut a[0], &mut b[0]);
        let (hfd, ofd) = (borrow(&holder.descs[0].res), borrow(&other.descs[0].res));
        let (mut hv, mut ov) = (holder.view(), other.view());
        // A conversion that cannot succeed (instance 1 shares the lock)
        // gives up the shared lock and waits 300 ms (time enough for its
        // worker to block in the kernel on a loaded machine); meanwhile the
        // guest takes the shared lock again.
        let request = at_once(
            "request-lock",
            wit::descriptor_lock::Host::request_lock(
                &mut hv,
                borrow(&hfd),
                LockMode::Exclusive,
                Some(300_000_000),
            ),
        )
        .expect("request-lock answers at once")
        .expect("request-lock");
        let first = at_once(
            "get",
            wit::descriptor_lock::HostPendingLock::get(&mut hv, borrow(&request)),
        )
        .expect("get answers at once")
        .expect("get");
        assert!(first.is_none(), "the conversion waits for instance 1");
        // Once its worker waits in the kernel (a later attempt of the
        // conversion would give up the shared lock again).
        assert!(
            kernel_waiter_on(raw0, Duration::from_secs(1)),
            "no waiter blocked in the kernel for the conversion"
        );
        at_once(
            "try-lock",
            wit::descriptor_lock::Host::try_lock(&mut hv, borrow(&hfd), LockMode::Shared),
        )
        .expect("try-lock answers at once")
        .expect("the shared lock is taken again");
        // The conversion's timeout passes.
        let patience = Instant::now() + Duration::from_secs(10);
        let answer = loop {
            let answer = at_once(
                "get",
                wit::descriptor_lock::HostPendingLock::get(&mut hv, borrow(&request)),
            )
            .expect("get answers at once")
            .expect("get");
            if answer.is_some() || Instant::now() > patience {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            matches!(answer, Some(Ok(Err(_)))),
            "the conversion timed out: {answer:?}"
        );
        // Instance 1 now waits to convert its own lock, for the shared lock
        // instance 0 holds.
        let waiter = at_once(
            "request-lock",
            wit::descriptor_lock::Host::request_lock(
                &mut ov,
                ofd,
                LockMode::Exclusive,
                Some(10_000_000_000),
            ),
        )
        .expect("request-lock answers at once")
        .expect("request-lock");
        let first = at_once(
            "get",
            wit::descriptor_lock::HostPendingLock::get(&mut ov, borrow(&waiter)),
        )
        .expect("get answers at once")
        .expect("get");
        assert!(first.is_none(), "instance 1 waits for instance 0");
        assert_eq!(
            probe::fd_lock(raw0).expect("fdinfo"),
            Some(LockMode::Shared),
            "instance 0 holds the shared lock it took again"
        );
        let start = Instant::now();
        let res = world.rt.block_on(wit::descriptor_lock::Host::lock(
            &mut hv,
            hfd,
            LockMode::Shared,
            Some(2_000_000_000),
        ));
        let took = start.elapsed();
        assert!(
            res.is_ok(),
            "re-locking the held shared lock failed: {res:?}"
        );
        assert!(
            took < Duration::from_secs(1),
            "re-locking a shared lock instance 0 holds took {took:?}: it waited behind \
             instance 1, which waits for it"
        );
    });
}

/// A lock taken through a `file-lock.file()` descriptor of a released
/// `file-lock` stays held by the open file when that descriptor is dropped
/// (the `file-lock` still keeps the open file open), but the host stopped
/// counting it (the descriptor was a duplicate with a handle of its own):
/// `max_held_locks` no longer bounded the locks an instance holds. Such
/// descriptors now share the lock's handle of the open file.
#[test]
fn finding_lock_through_dropped_duplicate_is_uncounted() {
    use crate::bindings::portalocker::filelock::types::{Limit, LockError, LockOptions};

    serial(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = InstCfg {
            fair: true,
            read_only: false,
            read_only_exclusive: false,
            waiters: Waiters::Kernel,
            sync: false,
        };
        let mut instance = super::instance::Instance::with_policy(cfg, dir.path(), |builder| {
            builder.max_held_locks(1)
        });
        let options = LockOptions {
            mode: LockMode::Exclusive,
            timeout: Some(0),
            create: true,
            write: true,
            truncate: false,
            append: false,
        };
        let rt = &world_runtime();
        let preopen = instance.dir(super::ops::DirSel::Preopen);
        let mut v = instance.view();
        let first = rt
            .block_on(wit::path_lock::HostFileLock::acquire(
                &mut v,
                borrow(&preopen),
                "a.lock".into(),
                options,
            ))
            .expect("the first lock");
        rt.block_on(wit::path_lock::HostFileLock::release(
            &mut v,
            borrow(&first),
        ))
        .expect("release it");
        let duplicate = rt
            .block_on(wit::path_lock::HostFileLock::file(&mut v, borrow(&first)))
            .expect("a duplicate descriptor of its open file");
        rt.block_on(wit::descriptor_lock::Host::try_lock(
            &mut v,
            borrow(&duplicate),
            LockMode::Exclusive,
        ))
        .expect("lock the open file again through the duplicate");
        v.table.delete(duplicate).expect("drop the duplicate");
        let second = rt.block_on(wit::path_lock::HostFileLock::acquire(
            &mut v,
            preopen,
            "b.lock".into(),
            options,
        ));
        let native = File::open(dir.path().join("a.lock")).expect("open a.lock");
        assert!(
            fs4::FileExt::try_lock_shared(&native).is_err(),
            "the open file of the first lock still holds it"
        );
        assert!(
            matches!(
                second,
                Err(crate::error::LockFailure::Guest(LockError::LimitReached(
                    Limit::HeldLocks
                )))
            ),
            "a second lock was granted under max_held_locks(1) while the first is held"
        );
    });
}

/// Two requests on the same descriptor wait for the same lock, the older at
/// the front of the line. When the holder releases, the kernel grants the
/// front's wait, and then at once the next one's (on the same open file, the
/// lock is already held). Dropping the younger request uncollected gave the
/// lock back, taking it from the older one, which still answered `ok`: its
/// guest believed it held a lock that nobody held. The kernel's grant is the
/// open file's, so a dropped wait leaves it to another wait granted it too.
/// Found by the fuzzer (the front request's standing order seemed never
/// served).
#[test]
fn finding_dropped_request_takes_sibling_grant() {
    serial(|| {
        let mut world = two_instances(LockMode::Exclusive);
        let raw1 = world.model.fds[world.instances[1].descs[0].fd].raw;
        let (a, b) = world.instances.split_at_mut(1);
        let (holder, requester) = (&mut a[0], &mut b[0]);
        let (hfd, rfd) = (
            borrow(&holder.descs[0].res),
            borrow(&requester.descs[0].res),
        );
        let mut rv = requester.view();
        let mut requests = Vec::new();
        for _ in 0..2 {
            let request = at_once(
                "request-lock",
                wit::descriptor_lock::Host::request_lock(
                    &mut rv,
                    borrow(&rfd),
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
            requests.push(request);
        }
        at_once(
            "unlock",
            wit::descriptor_lock::Host::unlock(&mut holder.view(), hfd),
        )
        .expect("unlock answers at once")
        .expect("unlock");
        assert!(
            kernel_shows(raw1, Some(LockMode::Exclusive), Duration::from_secs(1)),
            "the front request was not granted the free lock"
        );
        // The younger request's turn comes at once, and its wait on the
        // same open file is granted at once too.
        std::thread::sleep(Duration::from_millis(50));
        let younger = requests.pop().expect("two requests");
        at_once(
            "drop",
            wit::descriptor_lock::HostPendingLock::drop(&mut rv, younger),
        )
        .expect("drop answers at once")
        .expect("drop the younger request");
        assert_eq!(
            probe::fd_lock(raw1).expect("fdinfo"),
            Some(LockMode::Exclusive),
            "dropping the younger request gave back the lock the older one was granted"
        );
        let older = requests.pop().expect("two requests");
        let answer = at_once(
            "get",
            wit::descriptor_lock::HostPendingLock::get(&mut rv, borrow(&older)),
        )
        .expect("get answers at once")
        .expect("get");
        assert!(
            matches!(answer, Some(Ok(Ok(())))),
            "the older request's answer: {answer:?}"
        );
        assert_eq!(
            probe::fd_lock(raw1).expect("fdinfo"),
            Some(LockMode::Exclusive),
            "the older request answered ok, and its lock is held"
        );
    });
}

/// A runtime for a test without a world.
fn world_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}
