//! The resource `pending-range-lock`: a range lock asked for with
//! `range-lock.request-lock`, answered later (see [`crate::request`]).

use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::{DynPollable, Pollable};

use crate::backend::byte_range::ByteRangeLock;
use crate::bindings::portalocker::filelock::range_lock::HostPendingRangeLock;
use crate::bindings::portalocker::filelock::types::LockError;
use crate::ctx::FileLockCtxView;
use crate::policy::Usage;
use crate::request::{Collected, Request};
use crate::wait;

/// A range-lock request: the host side of WIT `pending-range-lock`.
///
/// A range the request locked but nobody collected is unlocked when the
/// request is dropped (the open file then holds nothing on those bytes,
/// whatever it held before, as the WIT says).
pub struct PendingRangeLock {
    /// The range and the instance's usage, until the answer is collected
    /// (none when the request failed at once). The range keeps its open
    /// file alive.
    held: Option<(Arc<ByteRangeLock>, Arc<Usage>)>,
    request: Request<()>,
}

impl PendingRangeLock {
    /// A request for `target`, answered by `request`; the lock it takes is
    /// counted in `usage`.
    pub(crate) fn waiting(
        target: Arc<ByteRangeLock>,
        usage: Arc<Usage>,
        request: Request<()>,
    ) -> Self {
        PendingRangeLock {
            held: Some((target, usage)),
            request,
        }
    }

    /// A request that failed at once with `err`.
    pub(crate) fn failed(err: LockError) -> Self {
        PendingRangeLock {
            held: None,
            request: Request::answered(Err(err)),
        }
    }

    /// The WIT `get`. Once the answer is collected the request no longer
    /// keeps the open file alive.
    fn collect(&mut self) -> Collected<()> {
        let answer = self.request.collect();
        if answer.is_some() {
            self.held = None;
        }
        answer
    }
}

impl Drop for PendingRangeLock {
    fn drop(&mut self) {
        if self.request.holds_uncollected()
            && let Some((target, usage)) = self.held.take()
        {
            if let Err(err) = wait::release(&*target) {
                tracing::warn!(?err, "unlocking an uncollected range failed");
            }
            usage.range_unlocked(target.file(), target.span());
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PendingRangeLock {
    async fn ready(&mut self) {
        self.request.settle().await
    }
}

impl HostPendingRangeLock for FileLockCtxView<'_> {
    async fn subscribe(
        &mut self,
        request: Resource<PendingRangeLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, request)
    }

    async fn get(
        &mut self,
        request: Resource<PendingRangeLock>,
    ) -> wasmtime::Result<Collected<()>> {
        Ok(self.table.get_mut(&request)?.collect())
    }

    /// Cancels the request if it is still waiting, and unlocks a range it
    /// took that nobody collected.
    async fn drop(&mut self, request: Resource<PendingRangeLock>) -> wasmtime::Result<()> {
        self.table.delete(request)?;
        Ok(())
    }
}
