//! The resource `semaphore-slot`: portalocker's `BoundedSemaphore`, N slot
//! files, each held by at most one holder through an exclusive lock.
//!
//! Acquiring waits on every slot at once with the ordinary wait future and
//! takes the first slot that comes free; the other waits are dropped, so, as
//! for every cancelled wait, they never take their slot afterwards.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use super::FileLock;
use crate::bindings::portalocker::filelock::path_lock::HostSemaphoreSlot;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode, LockOptions};
use crate::ctx::FileLockCtxView;
use crate::error::LockFailure;
use crate::wait;

/// The host side of WIT `semaphore-slot`: one held slot.
pub struct SemaphoreSlot {
    slot: u32,
    held: Option<FileLock>,
}

/// One slot's wait.
type SlotWait = Pin<Box<dyn Future<Output = Result<FileLock, LockError>> + Send>>;

/// Waits for the first of `waits` to take its slot. Contention on every slot
/// ends in the last contention error; any other error ends the wait at once.
async fn first_free(mut waits: Vec<Option<SlotWait>>) -> Result<(u32, FileLock), LockError> {
    let mut contention = LockError::AlreadyLocked;
    poll_fn(|cx| {
        let mut pending = false;
        for (slot, wait) in waits.iter_mut().enumerate() {
            let Some(future) = wait else { continue };
            match future.as_mut().poll(cx) {
                Poll::Pending => pending = true,
                Poll::Ready(Ok(lock)) => {
                    let slot = u32::try_from(slot).unwrap_or(u32::MAX);
                    return Poll::Ready(Ok((slot, lock)));
                }
                Poll::Ready(Err(err @ (LockError::AlreadyLocked | LockError::TimedOut))) => {
                    contention = err;
                    *wait = None;
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(Err(contention))
        }
    })
    .await
}

impl HostSemaphoreSlot for FileLockCtxView<'_> {
    /// Takes the first free slot of semaphore `name` in `dir`.
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        name: String,
        slots: u32,
        mut options: LockOptions,
    ) -> Result<Resource<SemaphoreSlot>, LockFailure> {
        let dir = self.directory(&dir)?.clone();
        if slots == 0 || options.truncate {
            return Err(LockError::InvalidOptions.into());
        }
        options.mode = LockMode::Exclusive;
        options.create = true;
        options.write = true;
        let mut waits = Vec::new();
        for slot in 0..slots {
            let lock = self.open_and_lock(&dir, &format!("{name}.{slot}.lock"), options)?;
            // Every slot is waited for at once: none may block the thread.
            let wait: SlotWait = Box::pin(wait::never_blocking(lock));
            waits.push(Some(wait));
        }
        let (slot, lock) = first_free(waits).await?;
        Ok(self.table.push(SemaphoreSlot {
            slot,
            held: Some(lock),
        })?)
    }

    async fn slot(&mut self, slot: Resource<SemaphoreSlot>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&slot)?.slot)
    }

    async fn release(&mut self, slot: Resource<SemaphoreSlot>) -> Result<(), LockFailure> {
        drop(self.table.get_mut(&slot)?.held.take());
        Ok(())
    }

    async fn drop(&mut self, slot: Resource<SemaphoreSlot>) -> wasmtime::Result<()> {
        self.table.delete(slot)?;
        Ok(())
    }
}
