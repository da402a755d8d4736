//! The resource `pending-named-lock`: a named lock asked for with
//! `namespace.request`, answered later (see [`crate::request`]).

use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::{DynPollable, Pollable};

use super::NamedLock;
use crate::bindings::portalocker::filelock::named_lock::HostPendingNamedLock;
use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;
use crate::ctx::FileLockCtxView;
use crate::request::{Collected, Request};

/// A named-lock request: the host side of WIT `pending-named-lock`.
/// Dropping it cancels the wait; an uncollected [`NamedLock`] is released
/// when this is dropped, like any `NamedLock`, also when the service's
/// grant arrives after the cancellation.
pub struct PendingNamedLock {
    request: Request<NamedLock, NamedLockError>,
}

impl PendingNamedLock {
    /// A request answered by `request`.
    pub(crate) fn new(request: Request<NamedLock, NamedLockError>) -> Self {
        PendingNamedLock { request }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PendingNamedLock {
    async fn ready(&mut self) {
        self.request.settle().await
    }
}

impl HostPendingNamedLock for FileLockCtxView<'_> {
    async fn subscribe(
        &mut self,
        request: Resource<PendingNamedLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, request)
    }

    async fn get(
        &mut self,
        request: Resource<PendingNamedLock>,
    ) -> wasmtime::Result<Collected<Resource<NamedLock>, NamedLockError>> {
        match self.table.get_mut(&request)?.request.collect() {
            Some(Ok(Ok(lock))) => Ok(Some(Ok(Ok(self.table.push(lock)?)))),
            Some(Ok(Err(err))) => Ok(Some(Ok(Err(err)))),
            Some(Err(())) => Ok(Some(Err(()))),
            None => Ok(None),
        }
    }

    /// Cancels the request if it is still waiting; a lock it took that
    /// nobody collected is released.
    async fn drop(&mut self, request: Resource<PendingNamedLock>) -> wasmtime::Result<()> {
        self.table.delete(request)?;
        Ok(())
    }
}
