//! The resource `namespace`: a namespace the host granted, opened by the
//! guest by name, where it takes named locks (`acquire`) or asks for them
//! (`request`).

use std::sync::Arc;

use wasmtime::component::Resource;

use super::error::{NamedLockFailure, from_lock_error};
use super::lock_namespace::LockNamespace;
use super::service::Waiting;
use super::{NamedLock, PendingNamedLock, name};
use crate::bindings::portalocker::filelock::named_lock::HostNamespace;
use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::ctx::FileLockCtxView;
use crate::request::Request;
use crate::wait::Patience;

/// The host side of WIT `namespace`: a namespace a guest opened. Dropping
/// it releases nothing.
#[derive(Debug)]
pub struct Namespace {
    granted: LockNamespace,
}

impl Namespace {
    /// The name the guest opened it by.
    pub fn name(&self) -> &str {
        self.granted.name()
    }
}

impl FileLockCtxView<'_> {
    /// The wait that takes `name` in `namespace`: one future for `acquire`
    /// and `request`. What fails without waiting (a bad name, no room for
    /// one more held lock) fails here; the timeout counts from this call.
    fn named_lock_wait(
        &self,
        namespace: &Resource<Namespace>,
        name: String,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<
        impl Future<Output = Result<NamedLock, NamedLockError>> + Send + use<>,
        NamedLockFailure,
    > {
        let service = Arc::clone(&self.table.get(namespace)?.granted.service);
        name::check(&name)?;
        let max_held = self.ctx.policy.max_held_locks;
        self.ctx
            .usage
            .check_room(max_held, None)
            .map_err(from_lock_error)?;
        let waiting = Waiting {
            patience: Patience::from_timeout(timeout, self.ctx.policy.max_wait),
            budget: self.ctx.wait_budget(),
            policy: self.ctx.wait,
            blocking: self.ctx.blocking(),
        };
        let usage = Arc::clone(&self.ctx.usage);
        let name: Arc<str> = name.into();
        Ok(async move {
            let held = service.acquire(Arc::clone(&name), mode, waiting).await?;
            // Counted with every other lock of the instance; without room
            // the lock is dropped, which releases it.
            let room = usage
                .take_named_room(max_held, held.key())
                .map_err(from_lock_error)?;
            Ok(NamedLock::held(name, mode, held, room))
        })
    }
}

impl HostNamespace for FileLockCtxView<'_> {
    async fn open(&mut self, name: String) -> Result<Resource<Namespace>, NamedLockFailure> {
        let granted = self
            .ctx
            .namespaces
            .iter()
            .find(|granted| granted.name() == name)
            .ok_or(NamedLockError::NoSuchNamespace)?
            .clone();
        Ok(self.table.push(Namespace { granted })?)
    }

    async fn name(&mut self, namespace: Resource<Namespace>) -> wasmtime::Result<String> {
        Ok(self.table.get(&namespace)?.name().to_owned())
    }

    async fn acquire(
        &mut self,
        namespace: Resource<Namespace>,
        name: String,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<Resource<NamedLock>, NamedLockFailure> {
        let lock = self
            .named_lock_wait(&namespace, name, mode, timeout)?
            .await?;
        Ok(self.table.push(lock)?)
    }

    async fn request(
        &mut self,
        namespace: Resource<Namespace>,
        name: String,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> wasmtime::Result<Resource<PendingNamedLock>> {
        let request = match self.named_lock_wait(&namespace, name, mode, timeout) {
            Ok(wait) => Request::waiting(wait),
            Err(NamedLockFailure::Guest(err)) => Request::answered(Err(err)),
            Err(NamedLockFailure::Trap(trap)) => return Err(trap),
        };
        Ok(self.table.push(PendingNamedLock::new(request))?)
    }

    async fn drop(&mut self, namespace: Resource<Namespace>) -> wasmtime::Result<()> {
        self.table.delete(namespace)?;
        Ok(())
    }
}
