//! The resource `named-lock`: a held (or released, or lost) named lock,
//! with its fencing token and the pollable that tells when it is lost.

use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::{DynPollable, Pollable};

use super::error::NamedLockFailure;
use super::lost::LostSignal;
use super::service::HeldLock;
use crate::bindings::portalocker::filelock::named_lock::HostNamedLock;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::ctx::FileLockCtxView;
use crate::policy::NamedRoom;

/// The host side of WIT `named-lock`. Dropping it releases the lock (in the
/// background for a lock on a service); this is what happens when the guest
/// drops the resource and when the store is dropped.
pub struct NamedLock {
    name: Arc<str>,
    mode: LockMode,
    fencing_token: Option<u64>,
    lost: LostSignal,
    /// The lock, until it is released.
    held: Option<Box<dyn HeldLock>>,
    /// Its place among the locks the instance holds, until it is released.
    room: Option<NamedRoom>,
}

impl std::fmt::Debug for NamedLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedLock")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("fencing_token", &self.fencing_token)
            .field("held", &self.held.is_some())
            .field("lost", &self.lost.is_lost())
            .finish()
    }
}

impl NamedLock {
    /// A lock just taken, counted in the instance's usage by `room`.
    pub(crate) fn held(
        name: Arc<str>,
        mode: LockMode,
        held: Box<dyn HeldLock>,
        room: NamedRoom,
    ) -> Self {
        NamedLock {
            name,
            mode,
            fencing_token: held.fencing_token(),
            lost: held.lost().clone(),
            held: Some(held),
            room: Some(room),
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The mode the lock is held in.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The acquisition's fencing token, if the service gives one.
    pub fn fencing_token(&self) -> Option<u64> {
        self.fencing_token
    }

    /// Whether the lock is held: acquired, not released, not known lost.
    pub fn is_held(&self) -> bool {
        self.held.is_some() && !self.lost.is_lost()
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for NamedLock {
    /// Ready once the lock is lost while held; never for a released lock.
    async fn ready(&mut self) {
        if self.held.is_some() {
            self.lost.tripped().await
        } else {
            std::future::pending().await
        }
    }
}

impl HostNamedLock for FileLockCtxView<'_> {
    async fn name(&mut self, lock: Resource<NamedLock>) -> wasmtime::Result<String> {
        Ok(self.table.get(&lock)?.name().to_owned())
    }

    async fn mode(&mut self, lock: Resource<NamedLock>) -> wasmtime::Result<LockMode> {
        Ok(self.table.get(&lock)?.mode())
    }

    async fn fencing_token(&mut self, lock: Resource<NamedLock>) -> wasmtime::Result<Option<u64>> {
        Ok(self.table.get(&lock)?.fencing_token())
    }

    async fn is_held(&mut self, lock: Resource<NamedLock>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&lock)?.is_held())
    }

    async fn subscribe_lost(
        &mut self,
        lock: Resource<NamedLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, lock)
    }

    /// Releases the lock: `lost` if it was lost before, `unavailable` if the
    /// service could not be told; a second release does nothing.
    async fn release(&mut self, lock: Resource<NamedLock>) -> Result<(), NamedLockFailure> {
        let lock = self.table.get_mut(&lock)?;
        let Some(mut held) = lock.held.take() else {
            return Ok(());
        };
        lock.room = None;
        // The release completes even if this call is cancelled meanwhile.
        held.release().await.map_err(|err| err.to_guest())?;
        Ok(())
    }

    async fn drop(&mut self, lock: Resource<NamedLock>) -> wasmtime::Result<()> {
        self.table.delete(lock)?;
        Ok(())
    }
}
