//! The resource `pending-file-lock`: a `file-lock` asked for with
//! `file-lock.request`, answered later (see [`crate::request`]).

use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::{DynPollable, Pollable};

use super::FileLock;
use crate::bindings::portalocker::filelock::path_lock::HostPendingFileLock;
use crate::ctx::FileLockCtxView;
use crate::request::{Collected, Request};

/// A path-layer lock request: the host side of WIT `pending-file-lock`. An
/// uncollected [`FileLock`] is released when this is dropped, like any
/// `FileLock`.
pub struct PendingFileLock {
    request: Request<FileLock>,
}

impl PendingFileLock {
    /// A request answered by `request`.
    pub(crate) fn new(request: Request<FileLock>) -> Self {
        PendingFileLock { request }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PendingFileLock {
    async fn ready(&mut self) {
        self.request.settle().await
    }
}

impl HostPendingFileLock for FileLockCtxView<'_> {
    async fn subscribe(
        &mut self,
        request: Resource<PendingFileLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, request)
    }

    async fn get(
        &mut self,
        request: Resource<PendingFileLock>,
    ) -> wasmtime::Result<Collected<Resource<FileLock>>> {
        match self.table.get_mut(&request)?.request.collect() {
            Some(Ok(Ok(lock))) => Ok(Some(Ok(Ok(self.table.push(lock)?)))),
            Some(Ok(Err(err))) => Ok(Some(Ok(Err(err)))),
            Some(Err(())) => Ok(Some(Err(()))),
            None => Ok(None),
        }
    }

    /// Cancels the request if it is still waiting; a lock it took that
    /// nobody collected is released.
    async fn drop(&mut self, request: Resource<PendingFileLock>) -> wasmtime::Result<()> {
        self.table.delete(request)?;
        Ok(())
    }
}
