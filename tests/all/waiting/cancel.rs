//! Cancellation racing a grant: a wait cancelled as the lock is released
//! never leaves the lock held.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Sandbox, embed, eventually, guests};

use super::run_async;

/// Rounds of the race.
const RACE_ROUNDS: u32 = 200;

/// How long the lock may stay held after the cancelled side is gone.
const SETTLE: Duration = Duration::from_millis(500);

/// Polls `call` (on the current task, re-polling at once) until it ends or
/// `until` passes; its output if it ended.
async fn drive_until<F: Future>(mut call: Pin<&mut F>, until: Instant) -> Option<F::Output> {
    loop {
        if let Poll::Ready(out) =
            std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await
        {
            return Some(out);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::task::yield_now().await;
    }
}

/// Round after round, a guest of the async linker waits for `x.lock` held
/// natively (a blocking call of either layer, or a request), and the test
/// releases the native lock and cancels the guest's call (drops its future
/// and its store) at nearly the same moment, their order and distance
/// varying by round. Whichever won, once the cancelled side is gone no lock
/// may remain: the file must be free again within 500 ms.
#[test]
fn cancellation_racing_a_grant_leaves_no_lock() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let linker = embed::async_linker();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let waiters: [(&str, &[&str]); 3] = [
        (
            guests::HOLD,
            &["--layer", "handle", "x.lock", "exclusive", "60000"],
        ),
        (
            guests::HOLD,
            &["--layer", "path", "x.lock", "exclusive", "60000"],
        ),
        (guests::WAIT_ANY, &["x.lock", "60000"]),
    ];
    let mut worst = Duration::ZERO;
    let mut granted_first = 0;
    for round in 0..RACE_ROUNDS {
        let (guest, args) = waiters[round as usize % waiters.len()];
        // 0 to 2 ms each, in steps of 100 µs, in every order.
        let release_after = Duration::from_micros(u64::from(round * 7 % 21) * 100);
        let cancel_after = Duration::from_micros(u64::from(round * 13 % 21) * 100);
        let mut holder = Holder::lock(&path, Mode::Exclusive);
        let (mut store, stdout) = embed::store(sandbox.root(), args);
        runtime.block_on(async {
            let mut call = pin!(run_async(&linker, &mut store, guest));
            let early = tokio::time::timeout(Duration::from_millis(20), call.as_mut()).await;
            assert!(
                early.is_err(),
                "round {round}: the guest finished while the lock was held: {early:?}"
            );
            let start = Instant::now();
            let releaser = std::thread::spawn(move || {
                while start.elapsed() < release_after {
                    std::hint::spin_loop();
                }
                holder.release();
            });
            drive_until(call.as_mut(), start + cancel_after).await;
            releaser.join().unwrap();
        });
        drop(store);
        let out = String::from_utf8_lossy(&stdout.contents()).into_owned();
        if out.contains("locked") || out.contains("acquired") {
            granted_first += 1;
        }
        let gone = Instant::now();
        let free = eventually(SETTLE, || native::can_lock(&path, Mode::Exclusive));
        let settled = gone.elapsed();
        assert!(
            free,
            "round {round} ({guest} {args:?}, release after {release_after:?}, cancel after \
             {cancel_after:?}): the lock is still held {settled:?} after the cancelled guest \
             and its store were dropped"
        );
        worst = worst.max(settled);
    }
    assert!(native::flock_n(&path), "flock -n after the last round");
    eprintln!(
        "{RACE_ROUNDS} rounds, {granted_first} granted before the cancellation landed; \
         worst time for the lock to be free after the cancelled side was gone: {worst:?}"
    );
}
