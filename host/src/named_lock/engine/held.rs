//! [`Held`]: a grant of a network backend, kept alive (renewed) while held
//! and released when dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::backend::{Backend, Lease};
use crate::backend::LockKey;
use crate::named_lock::error::BackendError;
use crate::named_lock::lost::LostSignal;
use crate::named_lock::service::{BoxFuture, HeldLock};

/// A grant of a backend, held until [`HeldLock::release`] or drop. Dropping
/// it releases the lease in a task of the backend's runtime, so a grant
/// whose caller went away (a cancelled wait, a deadline that passed while
/// the service answered) is given back even then.
pub(crate) struct Held<B: Backend> {
    backend: Arc<B>,
    lease: Option<Arc<B::Lease>>,
    lost: LostSignal,
    fencing_token: Option<u64>,
    renewer: Option<JoinHandle<()>>,
}

impl<B: Backend> Held<B> {
    /// Holds `lease`, renewing it as the backend needs.
    pub(crate) fn new(backend: Arc<B>, lease: B::Lease) -> Self {
        let lease = Arc::new(lease);
        let lost = lease.lost().clone();
        let fencing_token = lease.fencing_token();
        let renewer = backend.renew_interval().map(|interval| {
            backend
                .runtime()
                .spawn(renew(Arc::clone(&backend), Arc::clone(&lease), interval))
        });
        Held {
            backend,
            lease: Some(lease),
            lost,
            fencing_token,
            renewer,
        }
    }
}

/// Renews `lease` every `interval` until it is lost or the task is aborted.
/// A renewal that fails, or gets no answer within the interval, trips the
/// lease's lost signal at once: at the latest two intervals after the last
/// good renewal, before a lease of three intervals can have expired on the
/// service.
async fn renew<B: Backend>(backend: Arc<B>, lease: Arc<B::Lease>, interval: Duration) {
    let lost = lease.lost().clone();
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = lost.tripped() => return,
        }
        match tokio::time::timeout(interval, backend.renew(Arc::clone(&lease))).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(%err, "a named lock could not be renewed: it is lost");
                lost.trip();
                return;
            }
            Err(_) => {
                tracing::warn!("renewing a named lock got no answer in time: it is lost");
                lost.trip();
                return;
            }
        }
    }
}

impl<B: Backend> HeldLock for Held<B> {
    fn fencing_token(&self) -> Option<u64> {
        self.fencing_token
    }

    fn lost(&self) -> &LostSignal {
        &self.lost
    }

    /// None: the file-lock engine never waits for a lock on a service.
    fn key(&self) -> Option<LockKey> {
        None
    }

    fn release(&mut self) -> BoxFuture<Result<(), BackendError>> {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        let Some(lease) = self.lease.take() else {
            return Box::pin(async { Ok(()) });
        };
        let was_lost = self.lost.is_lost();
        let release = self.backend.release(lease);
        let (tx, rx) = oneshot::channel();
        // Run the release as a task of its own: it completes even if the
        // caller stops waiting for it.
        self.backend.runtime().spawn(async move {
            let _ = tx.send(release.await);
        });
        Box::pin(async move {
            let released = rx
                .await
                .unwrap_or_else(|_| Err(BackendError::Unavailable("runtime stopped".into())));
            if was_lost {
                return Err(BackendError::Lost);
            }
            released
        })
    }
}

impl<B: Backend> Drop for Held<B> {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if let Some(lease) = self.lease.take() {
            let release = self.backend.release(lease);
            self.backend.runtime().spawn(async move {
                if let Err(err) = release.await {
                    tracing::debug!(%err, "releasing a dropped named lock");
                }
            });
        }
    }
}
