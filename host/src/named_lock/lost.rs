//! [`LostSignal`]: the one-way flag a backend trips when a lease is lost.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Trips once, when a lease (or the connection holding many leases) is lost;
/// anyone may wait for it. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub(crate) struct LostSignal(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    lost: AtomicBool,
    notify: Notify,
}

impl LostSignal {
    /// A signal that has not tripped.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Trips the signal and wakes its waiters; later trips change nothing.
    #[cfg_attr(
        not(any(feature = "redis", feature = "postgres")),
        expect(dead_code, reason = "only a service on the network loses a lock")
    )]
    pub(crate) fn trip(&self) {
        if !self.0.lost.swap(true, Ordering::SeqCst) {
            self.0.notify.notify_waiters();
        }
    }

    /// Whether the signal has tripped.
    pub(crate) fn is_lost(&self) -> bool {
        self.0.lost.load(Ordering::SeqCst)
    }

    /// Completes once the signal has tripped.
    pub(crate) async fn tripped(&self) {
        loop {
            let mut notified = pin!(self.0.notify.notified());
            notified.as_mut().enable();
            if self.is_lost() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(all(test, any(feature = "redis", feature = "postgres")))]
mod tests {
    use super::*;

    #[test]
    fn a_trip_wakes_a_waiter_and_stays() {
        let signal = LostSignal::new();
        assert!(!signal.is_lost());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let waiter = tokio::spawn({
                let signal = signal.clone();
                async move { signal.tripped().await }
            });
            tokio::task::yield_now().await;
            signal.trip();
            waiter.await.unwrap();
        });
        assert!(signal.is_lost());
        signal.trip();
        assert!(signal.is_lost());
    }
}
