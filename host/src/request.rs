//! Pollable lock requests: a lock asked for now and answered later, waited
//! for with `wasi:io/poll` together with timers, streams and sockets. The
//! request resources of each layer (`descriptor-lock.pending-lock`,
//! `path-lock.pending-file-lock`, `named-lock.pending-named-lock`) hold a
//! [`Request`].
//!
//! A request owns the same wait future a blocking call would await (see
//! [`crate::wait`]), so there is one implementation of waiting. The future
//! is driven when the guest polls the request's pollable (the host's
//! `Pollable::ready`) or asks for the answer with `get`; nothing happens
//! before the first poll. Once a poll has left it waiting with a place in
//! its lock's queue, the request is a standing order: at the front of the
//! queue a worker blocks in the kernel for it, so the kernel may grant it
//! the lock while nobody polls it (the next poll reports it). Dropping an
//! uncollected request drops the future, so the wait stops at once: a lock
//! the kernel granted meanwhile is given back before the drop returns, and
//! a lock it already took but nobody collected is released, unless the
//! request repeated or converted a lock its descriptor held.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::bindings::portalocker::filelock::types::LockError;

/// What WIT `get` returns: `None` while waiting, `Some(Ok(answer))` once,
/// then `Some(Err(()))`. `E` is the WIT error type of the request's layer.
pub(crate) type Collected<T, E = LockError> = Option<Result<Result<T, E>, ()>>;

/// The future that produces a request's answer.
pub(crate) type AnswerFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Where a request stands.
enum Answer<T, E> {
    /// Still waiting for the lock.
    Waiting(AnswerFuture<T, E>),
    /// Answered, not yet collected.
    Ready(Result<T, E>),
    /// The answer was handed to the guest.
    Collected,
}

/// A request's answer, whatever it is the answer of; `E` is the WIT error
/// type of the request's layer.
pub(crate) struct Request<T, E = LockError> {
    answer: Answer<T, E>,
}

impl<T: Send + 'static, E: Send + 'static> Request<T, E> {
    /// A request that waits for `future`. It never blocks the thread that
    /// polls it (the guest polls it among other pollables).
    pub(crate) fn waiting(future: impl Future<Output = Result<T, E>> + Send + 'static) -> Self {
        Request {
            answer: Answer::Waiting(Box::pin(crate::wait::never_blocking(future))),
        }
    }

    /// A request answered at once.
    pub(crate) fn answered(answer: Result<T, E>) -> Self {
        Request {
            answer: Answer::Ready(answer),
        }
    }

    /// Drives the wait to its answer.
    pub(crate) async fn settle(&mut self) {
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
    pub(crate) fn collect(&mut self) -> Collected<T, E> {
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

    /// Takes the request out, leaving one whose answer was collected (to
    /// drop the wait where its owner chooses).
    pub(crate) fn take(&mut self) -> Self {
        std::mem::replace(
            self,
            Request {
                answer: Answer::Collected,
            },
        )
    }

    /// Whether the request took its lock and nobody collected it.
    pub(crate) fn holds_uncollected(&self) -> bool {
        matches!(self.answer, Answer::Ready(Ok(_)))
    }
}
