//! The WIT interface `descriptor-lock`, the handle layer: locks on the open
//! file behind a guest's `wasi:filesystem` descriptor, and requests for them
//! (`pending-lock`).

use std::fs::File;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi_io::poll::{DynPollable, Pollable};

use crate::backend::whole_file::WholeFile;
use crate::bindings::portalocker::filelock::descriptor_lock;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::ctx::FileLockCtxView;
use crate::error::LockFailure;
use crate::policy::Usage;
use crate::request::{Collected, Request};
use crate::sys;
use crate::wait::{self, Patience};

/// A handle-layer lock request: the host side of WIT `pending-lock`.
///
/// A lock the request took but nobody collected is released when the request
/// is dropped, unless the descriptor held its lock before the request (a
/// request that repeats or converts a held lock leaves it held), or holds it
/// for someone else now: the lock belongs to the open file, so a request
/// dropped while the instance counts a lock on the same open file, or while
/// another request on it was granted the lock, leaves the lock held.
pub struct PendingLock {
    /// The file the lock is taken on (none when the request failed at once,
    /// or once the answer was collected).
    file: Option<Arc<File>>,
    /// The instance's usage, which counts the lock once it is held.
    usage: Option<Arc<Usage>>,
    /// Whether the descriptor held a lock when the request was made.
    held_before: bool,
    request: Request<()>,
}

impl PendingLock {
    /// The WIT `get`. Once the answer is collected the request no longer
    /// keeps the open file alive.
    fn collect(&mut self) -> Collected<()> {
        let answer = self.request.collect();
        if answer.is_some() {
            self.file = None;
        }
        answer
    }
}

impl Drop for PendingLock {
    fn drop(&mut self) {
        let waiting = !self.request.holds_uncollected();
        let claimed = |file: &Arc<File>| {
            if waiting {
                // The instance counts a lock on the open file (the guest's
                // own, or one another request took). A grant to another
                // wait on it is kept by the wait itself when dropped.
                self.usage.as_ref().is_some_and(|usage| usage.holds(file))
            } else {
                // Another request on the open file was granted the lock.
                wait::granted_to_a_wait(&WholeFile::shared(file))
            }
        };
        if self.held_before || self.file.as_ref().is_some_and(claimed) {
            // The request repeats or converts the descriptor's lock, or the
            // open file's lock is someone else's too: what it took stays
            // held, whether it was polled into taking it or the kernel
            // granted its wait in the background since the last poll.
            let request = self.request.take();
            wait::keeping_granted(|| drop(request));
            return;
        }
        if !waiting && let Some(file) = &self.file {
            if let Err(err) = wait::release(&WholeFile::of(file)) {
                tracing::warn!(?err, "releasing an uncollected lock failed");
            }
            if let Some(usage) = &self.usage {
                usage.released(file);
            }
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PendingLock {
    async fn ready(&mut self) {
        self.request.settle().await
    }
}

impl FileLockCtxView<'_> {
    /// The open file behind `fd`, if the policy admits a lock in `mode` on it
    /// and the instance has room for one more held lock.
    fn admitted(
        &self,
        fd: &Resource<Descriptor>,
        mode: LockMode,
    ) -> Result<Arc<File>, LockFailure> {
        let file = match self.table.get(fd)? {
            Descriptor::File(file) => file,
            Descriptor::Dir(_) => return Err(LockError::BadDescriptor.into()),
        };
        self.ctx.policy.admit_mode(file.perms, mode)?;
        self.ctx.policy.admit_file(&file.file)?;
        self.ctx
            .usage
            .check_room(self.ctx.policy.max_held_locks, Some(&file.file))?;
        Ok(Arc::clone(&file.file))
    }
}

/// Counts the outcome of a handle-layer lock attempt on `file` in `usage`:
/// a lock taken needs room under `max` (checked again now, as other locks
/// may have been taken while this one waited: without room it is given back
/// and the call fails with `limit-reached(held-locks)`); a failed attempt
/// also ends a lock `file` held (on Linux a failed conversion gives up the
/// old lock), unless the kernel says the open file holds one still: a
/// request's wait runs beside the guest's other calls, so the guest may
/// have locked the same descriptor again while the request waited, and a
/// wait interrupted at its deadline leaves that lock in place.
fn count_outcome(
    usage: &Usage,
    max: Option<usize>,
    file: &Arc<File>,
    outcome: Result<(), LockError>,
) -> Result<(), LockError> {
    match outcome {
        Ok(()) => usage.take_room(file, max).inspect_err(|_| {
            if let Err(err) = wait::release(&WholeFile::of(file)) {
                tracing::warn!(?err, "giving back a lock beyond the held-lock limit failed");
            }
        }),
        Err(err) => {
            if usage.holds(file) && sys::holds_flock(file) != Some(true) {
                usage.released(file);
            }
            Err(err)
        }
    }
}

impl descriptor_lock::Host for FileLockCtxView<'_> {
    async fn lock(
        &mut self,
        fd: Resource<Descriptor>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<(), LockFailure> {
        let file = self.admitted(&fd, mode)?;
        let patience = Patience::from_timeout(timeout, self.ctx.policy.max_wait);
        let converting = self.ctx.usage.holds(&file);
        let outcome = wait::acquire(
            &WholeFile::shared(&file),
            mode,
            patience,
            self.ctx.wait,
            self.ctx.wait_budget(),
            converting,
        )
        .await;
        let max = self.ctx.policy.max_held_locks;
        Ok(count_outcome(&self.ctx.usage, max, &file, outcome)?)
    }

    async fn try_lock(
        &mut self,
        fd: Resource<Descriptor>,
        mode: LockMode,
    ) -> Result<(), LockFailure> {
        let file = self.admitted(&fd, mode)?;
        let outcome = wait::try_once(&WholeFile::of(&file), mode);
        let max = self.ctx.policy.max_held_locks;
        Ok(count_outcome(&self.ctx.usage, max, &file, outcome)?)
    }

    /// The file type is not checked here: the guest already opened the file,
    /// and `flock(2)` locks any open file (the path layer, which opens files
    /// itself, admits regular files only). Skipping the check keeps the hot
    /// path at one system call per lock call.
    async fn unlock(&mut self, fd: Resource<Descriptor>) -> Result<(), LockFailure> {
        let file = match self.table.get(&fd)? {
            Descriptor::File(file) => &file.file,
            Descriptor::Dir(_) => return Err(LockError::BadDescriptor.into()),
        };
        wait::release(&WholeFile::of(file))?;
        self.ctx.usage.released(file);
        Ok(())
    }

    async fn request_lock(
        &mut self,
        fd: Resource<Descriptor>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> wasmtime::Result<Resource<PendingLock>> {
        let pending = match self.admitted(&fd, mode) {
            Ok(file) => {
                let waiter = Arc::clone(&file);
                let policy = self.ctx.wait;
                let budget = self.ctx.wait_budget();
                let patience = Patience::from_timeout(timeout, self.ctx.policy.max_wait);
                let usage = Arc::clone(&self.ctx.usage);
                let max = self.ctx.policy.max_held_locks;
                let converting = usage.holds(&file);
                let counted = Arc::clone(&usage);
                let request = Request::waiting(async move {
                    let outcome = wait::acquire(
                        &WholeFile::shared(&waiter),
                        mode,
                        patience,
                        policy,
                        budget,
                        converting,
                    )
                    .await;
                    count_outcome(&counted, max, &waiter, outcome)
                });
                PendingLock {
                    file: Some(file),
                    usage: Some(usage),
                    held_before: converting,
                    request,
                }
            }
            Err(LockFailure::Guest(err)) => PendingLock {
                file: None,
                usage: None,
                held_before: false,
                request: Request::answered(Err(err)),
            },
            Err(LockFailure::Trap(trap)) => return Err(trap),
        };
        Ok(self.table.push(pending)?)
    }
}

impl descriptor_lock::HostPendingLock for FileLockCtxView<'_> {
    async fn subscribe(
        &mut self,
        request: Resource<PendingLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, request)
    }

    async fn get(&mut self, request: Resource<PendingLock>) -> wasmtime::Result<Collected<()>> {
        Ok(self.table.get_mut(&request)?.collect())
    }

    /// Cancels the request if it is still waiting, and releases a lock it
    /// took that nobody collected.
    async fn drop(&mut self, request: Resource<PendingLock>) -> wasmtime::Result<()> {
        self.table.delete(request)?;
        Ok(())
    }
}
