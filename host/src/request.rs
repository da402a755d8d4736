//! Pollable lock requests: a lock asked for now and answered later, waited
//! for with `wasi:io/poll` together with timers, streams and sockets.
//!
//! A request owns the same wait future a blocking call would await (see
//! [`crate::wait`]), so there is one implementation of waiting. The future is
//! driven only when the guest polls the request's pollable (the host's
//! `Pollable::ready`) or asks for the answer with `get`, and it takes the lock
//! only inside a non-blocking attempt. Dropping an uncollected request drops
//! the future, so the wait stops at once; a lock it already took but nobody
//! collected is released in `Drop`.

use std::fs::File;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use wasmtime_wasi_io::poll::Pollable;

use crate::bindings::portalocker::filelock::types::LockError;
use crate::os_lock;
use crate::path_lock::FileLock;
use crate::policy::Usage;

/// What WIT `get` returns: `None` while waiting, `Some(Ok(answer))` once,
/// then `Some(Err(()))`.
pub(crate) type Collected<T> = Option<Result<Result<T, LockError>, ()>>;

/// The future that produces a request's answer.
pub(crate) type AnswerFuture<T> = Pin<Box<dyn Future<Output = Result<T, LockError>> + Send>>;

/// Where a request stands.
enum Answer<T> {
    /// Still waiting for the lock.
    Waiting(AnswerFuture<T>),
    /// Answered, not yet collected.
    Ready(Result<T, LockError>),
    /// The answer was handed to the guest.
    Collected,
}

/// A request's answer, whatever it is the answer of.
pub(crate) struct Request<T> {
    answer: Answer<T>,
}

impl<T: Send + 'static> Request<T> {
    /// A request that waits for `future`.
    pub(crate) fn waiting(
        future: impl Future<Output = Result<T, LockError>> + Send + 'static,
    ) -> Self {
        Request {
            answer: Answer::Waiting(Box::pin(future)),
        }
    }

    /// A request answered at once.
    pub(crate) fn answered(answer: Result<T, LockError>) -> Self {
        Request {
            answer: Answer::Ready(answer),
        }
    }

    /// Drives the wait to its answer.
    async fn settle(&mut self) {
        if let Answer::Waiting(future) = &mut self.answer {
            let answer = future.as_mut().await;
            self.answer = Answer::Ready(answer);
        }
    }

    /// Makes what progress is possible without waiting.
    fn poll_once(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        if let Answer::Waiting(future) = &mut self.answer
            && let Poll::Ready(answer) = future.as_mut().poll(&mut cx)
        {
            self.answer = Answer::Ready(answer);
        }
    }

    /// The WIT `get`: `None` while waiting, the answer once, then `Err(())`.
    pub(crate) fn collect(&mut self) -> Collected<T> {
        self.poll_once();
        match std::mem::replace(&mut self.answer, Answer::Collected) {
            Answer::Waiting(future) => {
                self.answer = Answer::Waiting(future);
                None
            }
            Answer::Ready(answer) => Some(Ok(answer)),
            Answer::Collected => Some(Err(())),
        }
    }

    /// Whether the request took its lock and nobody collected it.
    fn holds_uncollected(&self) -> bool {
        matches!(self.answer, Answer::Ready(Ok(_)))
    }
}

/// A handle-layer lock request: the host side of WIT `pending-lock`.
pub struct PendingLock {
    /// The file the lock is taken on (none when the request failed at once).
    file: Option<Arc<File>>,
    /// The instance's usage, when it counts held locks.
    usage: Option<Arc<Usage>>,
    request: Request<()>,
}

impl PendingLock {
    /// A request to lock `file`, answered by `request`; `usage` counts the
    /// instance's held locks, if they are limited.
    pub(crate) fn new(
        file: Option<Arc<File>>,
        usage: Option<Arc<Usage>>,
        request: Request<()>,
    ) -> Self {
        PendingLock {
            file,
            usage,
            request,
        }
    }

    /// The WIT `get`. Once the answer is collected the request no longer
    /// keeps the open file alive.
    pub(crate) fn collect(&mut self) -> Collected<()> {
        let answer = self.request.collect();
        if answer.is_some() {
            self.file = None;
        }
        answer
    }
}

impl Drop for PendingLock {
    fn drop(&mut self) {
        if self.request.holds_uncollected()
            && let Some(file) = &self.file
        {
            if let Err(err) = os_lock::unlock(file) {
                tracing::warn!(?err, "releasing an uncollected lock failed");
            }
            if let Some(usage) = &self.usage {
                usage.handle_unlocked(file);
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

    /// The WIT `get`.
    pub(crate) fn collect(&mut self) -> Collected<FileLock> {
        self.request.collect()
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PendingFileLock {
    async fn ready(&mut self) {
        self.request.settle().await
    }
}
