//! This host's waiters on each lock: a first-come-first-served queue whose
//! front waits in the kernel, on the guest's own lock.
//!
//! Waiters on the same lock (by [`LockKey`]: for a whole file, its device
//! and inode; for the byte ranges of a file, the same) share one [`Watch`].
//! A fair waiter takes a [`Ticket`] with its [`Claim`] and lines up. A
//! ticket is *at its front* when no earlier ticket's claim stands in its way
//! ([`Claim::yields_to`]): for a whole file that is only the first ticket,
//! so the line is strictly first-come-first-served; for byte ranges it is
//! every ticket that no earlier ticket wants overlapping bytes of in a
//! conflicting mode, so waiters for disjoint ranges (SQLite's reserved byte
//! and its shared range, say) or for shared locks never wait for each
//! other, while conflicting ones are served in arrival order. A ticket at
//! its front is a *kernel waiter*: it blocks in the lock call itself
//! (`flock(2)` without `LOCK_NB`, `F_OFD_SETLKW`) on the guest's own open
//! file, so the kernel hands the lock straight to the guest when it is
//! released, by anyone. How a front waits depends on its caller:
//!
//! - **inline**: a caller of the sync linker blocks on its own thread (the
//!   store's), interrupted by an alarm at its deadline: one wake-up from
//!   release to guest, no thread of the host's;
//! - **worker**: anyone else (the async linker, requests) has a worker
//!   thread of the pool in [`super::kernel`] block for it; the worker's
//!   alarm carries the deadline, and a cancelled wait fires it at once;
//! - **poll**: where the lock cannot be waited for in the kernel (not a
//!   regular file, no interrupting signal, no worker under the cap), the
//!   front tries without waiting whenever it is woken: by a release through
//!   this host, or by its doubling timer.
//!
//! Everyone behind a front waits in the queue, costing no thread. When a
//! front is granted (or leaves), the tickets now at their front are
//! promoted at once, whether or not their owners are being polled, so a
//! request nobody polls still gets its turn, and a front that stopped
//! polling (in poll mode) is skipped once it has gone stale. A ticket whose
//! lock was granted but whose owner is gone (a cancelled call, a dropped
//! request) gives the lock back ([`Lockable::give_back`]) before the
//! cancellation returns: a cancelled wait never keeps the lock, unless
//! another wait on the same open file (a second request on the same
//! descriptor) holds a grant too, as the kernel's grant is the open file's:
//! giving it back would take it from that wait.
//!
//! Waiters of a store that is not fair take no ticket: they poll, woken by
//! every release through this host, and race.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::kernel::{self, Alarm};
use crate::backend::span::{Span, conflicts};
use crate::backend::{Blocked, LockKey, Lockable};
use crate::bindings::portalocker::filelock::types::LockMode;

/// Waits in progress in this process; [`released`] does nothing while zero.
static ACTIVE_WAITS: AtomicUsize = AtomicUsize::new(0);

/// The watches of locks that have waiters, by key.
static WATCHES: LazyLock<Mutex<HashMap<LockKey, Weak<Watch>>>> = LazyLock::new(Default::default);

/// The shortest time a front in poll mode may go unseen before it counts as
/// abandoned.
const STALE: Duration = Duration::from_millis(25);

/// How long a cancellation waits for its worker to leave the kernel before
/// it gives up waiting (the worker still cleans up when it returns).
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// What a waiter asks of its lock, as the queue compares waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The mode asked for.
    pub(crate) mode: LockMode,
    /// The bytes, for a lock that is one of several under its key (see
    /// [`Lockable::bytes`]); `None` for the whole key.
    pub(crate) bytes: Option<Span>,
}

impl Claim {
    /// The claim of a waiter for `target` in `mode`.
    pub(crate) fn of<L: Lockable + ?Sized>(target: &L, mode: LockMode) -> Claim {
        Claim {
            mode,
            bytes: target.bytes(),
        }
    }

    /// Whether a waiter with this claim lets an earlier waiter with
    /// `earlier` go first: always for whole locks (one kernel waiter per
    /// lock, however many wait); for byte ranges only when they overlap and
    /// one of the two is exclusive.
    pub(crate) fn yields_to(&self, earlier: &Claim) -> bool {
        match (self.bytes, earlier.bytes) {
            (Some(mine), Some(theirs)) => {
                mine.overlaps(theirs) && conflicts(self.mode, earlier.mode)
            }
            _ => true,
        }
    }
}

/// The waiters of one lock.
struct Watch {
    key: LockKey,
    /// Wakes every waiter that takes no ticket.
    broadcast: Notify,
    /// The fair waiters, oldest first.
    line: Mutex<VecDeque<Arc<Ticket>>>,
    /// The instances (by [`Registration::new`]'s `owner`) whose waits the
    /// kernel granted the lock while their owners were away, with how many
    /// such locks they have not taken yet: those instances hold the lock.
    granted: Mutex<HashMap<usize, usize>>,
    /// The same by open file (by [`target_id`]): a lock granted to one wait
    /// is held by every wait on the same open file, so none of them gives
    /// it back while another holds a grant not taken yet.
    granted_files: Mutex<HashMap<usize, usize>>,
}

/// The identity of a wait's open file ([`Lockable::open_file`]): waits on
/// the same descriptor share one.
fn target_id(target: &Arc<dyn Lockable>) -> usize {
    target.open_file()
}

/// Whether the ticket at `place` in `line` is at its front: no earlier
/// ticket's claim stands in its way.
fn at_front(line: &VecDeque<Arc<Ticket>>, place: usize) -> bool {
    let claim = &line[place].claim;
    line.iter()
        .take(place)
        .all(|earlier| !claim.yields_to(&earlier.claim))
}

/// Whether every earlier ticket in `line` that stands in the way of the
/// ticket at `place` has gone stale (none does: true).
fn only_stale_ahead(line: &VecDeque<Arc<Ticket>>, place: usize) -> bool {
    let claim = &line[place].claim;
    line.iter()
        .take(place)
        .filter(|earlier| claim.yields_to(&earlier.claim))
        .all(|earlier| earlier.is_stale())
}

/// How a ticket's owner waits when it is at the front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// The owner blocks in the kernel on its own thread.
    Inline {
        /// The signal that interrupts it.
        signal: i32,
    },
    /// A worker blocks in the kernel for the owner.
    Worker {
        /// The signal that interrupts the worker.
        signal: i32,
        /// The most workers the pool may run for this waiter's job.
        cap: usize,
    },
    /// The owner tries without waiting whenever it is woken.
    Poll,
}

/// Where a ticket stands.
#[derive(Debug)]
enum Phase {
    /// In line (or at the front, not blocked in the kernel).
    Queued,
    /// Handed to a worker, which has not blocked yet.
    Submitted,
    /// Blocked in the kernel; the alarm that interrupts it.
    Blocking(Option<u64>),
    /// The kernel granted the lock; the owner has not taken it yet.
    Granted,
    /// The owner took the lock (or gave up): the ticket is spent.
    Done,
    /// The deadline passed while blocked in the kernel.
    Expired,
    /// The lock call failed.
    Failed(io::Error),
    /// The owner left while a worker was on it; the worker cleans up.
    Abandoned,
}

/// A fair waiter's place in line.
pub(crate) struct Ticket {
    mode: LockMode,
    /// The waiting instance.
    owner: usize,
    /// What it asks for, which decides whom it lines up behind.
    claim: Claim,
    /// The lock, until the ticket is spent (so that a finished ticket keeps
    /// no open file alive).
    target: Mutex<Option<Arc<dyn Lockable>>>,
    how: How,
    deadline: Option<Instant>,
    phase: Mutex<Phase>,
    /// Signalled when an abandoned ticket's worker is done.
    settled: Condvar,
    /// Wakes the owner.
    notify: Notify,
    /// Set when the pool refused a worker: the ticket polls instead.
    polls: AtomicBool,
    /// When the owner last looked at its turn (for staleness in poll mode).
    seen: Mutex<Instant>,
    /// How long after `seen` a polling front counts as stale.
    stale_after: Duration,
}

impl Ticket {
    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn target(&self) -> Option<Arc<dyn Lockable>> {
        self.target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Lets go of the lock's open file: the ticket is spent.
    fn forget_target(&self) {
        self.target.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Whether the owner tries without waiting when it is at the front.
    fn polls(&self) -> bool {
        self.how == How::Poll || self.polls.load(Ordering::SeqCst)
    }

    /// Whether a polling owner has not looked at its turn for a while.
    fn is_stale(&self) -> bool {
        self.polls()
            && self
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed()
                > self.stale_after
    }

    fn seen(&self) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }
}

impl Watch {
    fn line(&self) -> MutexGuard<'_, VecDeque<Arc<Ticket>>> {
        self.line.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a lock the kernel granted a wait of `owner` while the owner
    /// was away (`granted`), or one that wait no longer holds for it (its
    /// owner took it, or left). Called with the ticket's phase locked.
    fn count_grant(&self, ticket: &Ticket, granted: bool) {
        let file = ticket
            .target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(target_id);
        for (counts, id) in [
            (&self.granted, Some(ticket.owner)),
            (&self.granted_files, file),
        ] {
            let Some(id) = id else { continue };
            let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
            if granted {
                *counts.entry(id).or_default() += 1;
            } else if let Some(count) = counts.get_mut(&id) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&id);
                }
            }
        }
    }

    /// Whether a wait on the open file `target` holds a grant its owner has
    /// not taken yet.
    fn granted_on(&self, target: &Arc<dyn Lockable>) -> bool {
        self.granted_files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&target_id(target))
    }

    /// Takes `ticket` out of line; the tickets it stood in the way of get
    /// their turn.
    fn leave(self: &Arc<Self>, ticket: &Arc<Ticket>) {
        let mut line = self.line();
        if let Some(place) = line.iter().position(|t| Arc::ptr_eq(t, ticket)) {
            line.remove(place);
            self.promote(&line);
        }
    }

    /// Gives every ticket at its front in `line` its turn (those that have
    /// it already keep it).
    fn promote(self: &Arc<Self>, line: &VecDeque<Arc<Ticket>>) {
        for place in 0..line.len() {
            if at_front(line, place) {
                self.give_turn(&line[place]);
            }
        }
    }

    /// Gives `front` its turn: a worker blocks for it, or its owner is
    /// woken to block inline or to try.
    fn give_turn(self: &Arc<Self>, front: &Arc<Ticket>) {
        let mut phase = front.phase();
        if !matches!(*phase, Phase::Queued) {
            return;
        }
        if let How::Worker { signal, cap } = front.how
            && !front.polls.load(Ordering::SeqCst)
        {
            *phase = Phase::Submitted;
            drop(phase);
            let ticket = Arc::clone(front);
            let watch = Arc::clone(self);
            let job: kernel::Job = Box::new(move || work(&watch, &ticket, signal));
            if kernel::submit(job, cap).is_err() {
                front.polls.store(true, Ordering::SeqCst);
                *front.phase() = Phase::Queued;
            } else {
                return;
            }
        }
        front.notify.notify_one();
    }

    /// Wakes every waiter that may try now: those without a ticket, and
    /// the polling fronts.
    fn wake(&self) {
        self.broadcast.notify_waiters();
        let line = self.line();
        for place in 0..line.len() {
            if line[place].polls() && at_front(&line, place) {
                line[place].notify.notify_one();
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watches = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
        if watches
            .get(&self.key)
            .is_some_and(|weak| weak.strong_count() == 0)
        {
            watches.remove(&self.key);
        }
    }
}

/// A worker's job: blocks in the kernel for `ticket` until the lock is
/// granted, the deadline passes, or the owner leaves.
fn work(watch: &Arc<Watch>, ticket: &Arc<Ticket>, signal: i32) {
    crate::sys::prepare_thread(signal, true);
    match block_for(watch, ticket, signal) {
        Ended::Settled => {
            // The worker's hold on the open file ends before the owner's
            // cancellation returns.
            ticket.forget_target();
            ticket.settled.notify_all();
        }
        Ended::Answered => {
            ticket.notify.notify_one();
            watch.leave(ticket);
        }
        Ended::Polls => ticket.notify.notify_one(),
    }
}

/// How a worker's job ended.
enum Ended {
    /// The owner had left; the ticket is spent.
    Settled,
    /// The ticket has its answer for the owner.
    Answered,
    /// The kernel cannot be used (no interrupter): the owner polls.
    Polls,
}

/// The kernel wait of [`work`].
fn block_for(watch: &Watch, ticket: &Ticket, signal: i32) -> Ended {
    let Some(target) = ticket.target() else {
        *ticket.phase() = Phase::Done;
        return Ended::Settled;
    };
    loop {
        let alarm = Alarm::arm(signal, ticket.deadline);
        {
            let mut phase = ticket.phase();
            match (&*phase, &alarm) {
                (Phase::Abandoned, _) => {
                    // The worker's hold on the open file ends before the
                    // owner's cancellation may return.
                    drop(target);
                    *phase = Phase::Done;
                    return Ended::Settled;
                }
                (_, None) => {
                    // No interrupter: this ticket polls from now on.
                    ticket.polls.store(true, Ordering::SeqCst);
                    *phase = Phase::Queued;
                    return Ended::Polls;
                }
                (_, Some(alarm)) => *phase = Phase::Blocking(Some(alarm.id())),
            }
        }
        let blocked = target.lock_blocking(ticket.mode);
        drop(alarm);
        let mut phase = ticket.phase();
        if matches!(*phase, Phase::Abandoned) {
            if let Ok(Blocked::Acquired) = blocked
                && !watch.granted_on(&target)
            {
                // Nobody wants it any more: give it back before the owner's
                // cancellation returns.
                if let Err(err) = super::give_back(&*target) {
                    tracing::warn!(
                        ?err,
                        "releasing a lock granted after its wait was cancelled"
                    );
                }
            }
            drop(target);
            *phase = Phase::Done;
            return Ended::Settled;
        }
        *phase = match blocked {
            Ok(Blocked::Acquired) => {
                // The owner's instance holds the lock from now on, whether
                // or not the owner comes to take it.
                watch.count_grant(ticket, true);
                Phase::Granted
            }
            Ok(Blocked::Interrupted)
                if ticket
                    .deadline
                    .is_none_or(|deadline| Instant::now() < deadline) =>
            {
                // A stray signal: block again.
                continue;
            }
            Ok(Blocked::Interrupted) => Phase::Expired,
            Err(err) => Phase::Failed(err),
        };
        return Ended::Answered;
    }
}

/// The watch of `key`, if anyone waits on it in this process.
fn existing_watch(key: LockKey) -> Option<Arc<Watch>> {
    WATCHES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .and_then(Weak::upgrade)
}

/// Whether any wait is in progress in this process (one atomic load).
pub(crate) fn waits_in_progress() -> bool {
    ACTIVE_WAITS.load(Ordering::SeqCst) > 0
}

/// Whether the kernel granted a wait of `owner` the lock `key` while the
/// owner was away (a request nobody polled since), and the owner has not
/// taken it yet: the instance holds the lock.
pub(crate) fn granted_to(key: LockKey, owner: usize) -> bool {
    existing_watch(key).is_some_and(|watch| {
        watch
            .granted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&owner)
    })
}

/// Whether a wait on the open file `target` (of the lock `key`) was granted
/// the lock while its owner was away and has not taken it yet: the open file
/// holds the lock for that wait.
pub(crate) fn granted_on(key: LockKey, target: &Arc<dyn Lockable>) -> bool {
    existing_watch(key).is_some_and(|watch| watch.granted_on(target))
}

/// Whether a fair waiter of this process for `key` stands in the way of
/// `claim` and is live (waiting in the kernel, or polling and not stale): a
/// fair newcomer with `claim` must then line up behind it instead of trying
/// first.
pub(crate) fn has_queue(key: LockKey, claim: &Claim) -> bool {
    existing_watch(key).is_some_and(|watch| {
        watch
            .line()
            .iter()
            .any(|t| claim.yields_to(&t.claim) && !t.is_stale())
    })
}

/// Whether the front of `key`'s line is blocked in the kernel (or about to
/// be) for `registration`: its owner must not try on its own meanwhile.
fn kernel_busy(ticket: &Ticket) -> bool {
    matches!(*ticket.phase(), Phase::Submitted | Phase::Blocking(_))
}

/// What the owner of a registration learns when it looks.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The lock is held: the owner may return it to the guest.
    Acquired,
    /// The deadline passed while waiting in the kernel.
    Expired,
    /// The lock call failed.
    Failed(io::Error),
}

/// A registered waiter; dropping it leaves the line (and cancels a kernel
/// wait on its behalf).
pub(crate) struct Registration {
    watch: Arc<Watch>,
    /// The waiter's place in line, when it is fair.
    ticket: Option<Arc<Ticket>>,
}

impl Registration {
    /// Registers a waiter of the instance `owner` (any identity unique among
    /// the instances that wait at the same time) for `mode` on `target`
    /// (whose key is `key`). A fair one lines up first-come-first-served
    /// behind the earlier waiters its claim yields to, and waits as `how`
    /// says when at its front; `deadline` ends a kernel wait.
    /// `poll_interval` is how often a polling owner looks at its turn at
    /// least.
    pub(crate) fn new(
        owner: usize,
        target: Arc<dyn Lockable>,
        key: LockKey,
        mode: LockMode,
        fair: Option<How>,
        deadline: Option<Instant>,
        poll_interval: Duration,
    ) -> Registration {
        let watch = {
            let mut watches = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
            match watches.get(&key).and_then(Weak::upgrade) {
                Some(watch) => watch,
                None => {
                    let watch = Arc::new(Watch {
                        key,
                        broadcast: Notify::new(),
                        line: Mutex::default(),
                        granted: Mutex::default(),
                        granted_files: Mutex::default(),
                    });
                    watches.insert(key, Arc::downgrade(&watch));
                    watch
                }
            }
        };
        ACTIVE_WAITS.fetch_add(1, Ordering::SeqCst);
        let ticket = fair.map(|how| {
            let ticket = Arc::new(Ticket {
                mode,
                owner,
                claim: Claim::of(&*target, mode),
                target: Mutex::new(Some(target)),
                how,
                deadline,
                phase: Mutex::new(Phase::Queued),
                settled: Condvar::new(),
                notify: Notify::new(),
                polls: AtomicBool::new(false),
                seen: Mutex::new(Instant::now()),
                stale_after: STALE.max(poll_interval.saturating_mul(4)),
            });
            let mut line = watch.line();
            line.push_back(Arc::clone(&ticket));
            if at_front(&line, line.len() - 1) {
                watch.give_turn(&ticket);
            }
            ticket
        });
        Registration { watch, ticket }
    }

    /// A future that completes at this waiter's next wake-up. Enable it
    /// before the attempt it should follow, so that no wake-up is missed.
    pub(crate) fn notified(&self) -> Notified<'_> {
        match &self.ticket {
            Some(ticket) => ticket.notify.notified(),
            None => self.watch.broadcast.notified(),
        }
    }

    /// What a kernel wait on this waiter's behalf came to, if it ended.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        let ticket = self.ticket.as_ref()?;
        let mut phase = ticket.phase();
        let outcome = match std::mem::replace(&mut *phase, Phase::Done) {
            Phase::Granted => {
                self.watch.count_grant(ticket, false);
                Outcome::Acquired
            }
            Phase::Expired => Outcome::Expired,
            Phase::Failed(err) => Outcome::Failed(err),
            other => {
                *phase = other;
                return None;
            }
        };
        Some(outcome)
    }

    /// Whether this waiter should try without waiting now: always when it
    /// takes no ticket; at its front when it polls; and behind earlier
    /// waiters in its way that all went stale.
    pub(crate) fn may_try(&self) -> bool {
        let Some(ticket) = &self.ticket else {
            return true;
        };
        ticket.seen();
        let line = self.watch.line();
        let Some(place) = line.iter().position(|t| Arc::ptr_eq(t, ticket)) else {
            return true;
        };
        if at_front(&line, place) {
            ticket.polls()
        } else {
            only_stale_ahead(&line, place)
        }
    }

    /// Whether a worker is blocked in the kernel (or about to be) for this
    /// waiter: it must not try on its own meanwhile (a lock it took would
    /// be the worker's too).
    pub(crate) fn kernel_busy(&self) -> bool {
        self.ticket.as_deref().is_some_and(kernel_busy)
    }

    /// The signal to block inline with, when this waiter is at its front
    /// and should block on its own thread now.
    pub(crate) fn inline_turn(&self) -> Option<i32> {
        let ticket = self.ticket.as_ref()?;
        let How::Inline { signal } = ticket.how else {
            return None;
        };
        let line = self.watch.line();
        let place = line.iter().position(|t| Arc::ptr_eq(t, ticket))?;
        (at_front(&line, place) && matches!(*ticket.phase(), Phase::Queued)).then_some(signal)
    }

    /// Blocks in the kernel on this thread for the lock (see
    /// [`Registration::inline_turn`]), interrupted at the deadline. `None`
    /// when a stray signal interrupted it early: the caller goes round again.
    pub(crate) fn block_inline(&self, signal: i32) -> Option<Outcome> {
        let ticket = self.ticket.as_ref()?;
        let target = ticket.target()?;
        let Some(alarm) = Alarm::arm(signal, ticket.deadline) else {
            ticket.polls.store(true, Ordering::SeqCst);
            return None;
        };
        *ticket.phase() = Phase::Blocking(None);
        let blocked = target.lock_blocking(ticket.mode);
        drop(alarm);
        let outcome = match blocked {
            Ok(Blocked::Acquired) => Some(Outcome::Acquired),
            Ok(Blocked::Interrupted)
                if ticket
                    .deadline
                    .is_none_or(|deadline| Instant::now() < deadline) =>
            {
                None
            }
            Ok(Blocked::Interrupted) => Some(Outcome::Expired),
            Err(err) => Some(Outcome::Failed(err)),
        };
        *ticket.phase() = if outcome.is_some() {
            Phase::Done
        } else {
            Phase::Queued
        };
        if outcome.is_some() {
            self.watch.leave(ticket);
        }
        outcome
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(ticket) = &self.ticket {
            let mut phase = ticket.phase();
            match &*phase {
                Phase::Submitted | Phase::Blocking(_) => {
                    let alarm = match *phase {
                        Phase::Blocking(alarm) => alarm,
                        _ => None,
                    };
                    *phase = Phase::Abandoned;
                    if let Some(alarm) = alarm {
                        Alarm::fire(alarm);
                    }
                    // Wait (briefly: the alarm interrupts the worker at once)
                    // until the worker has left the kernel and given back a
                    // lock granted meanwhile.
                    let started = Instant::now();
                    while matches!(*phase, Phase::Abandoned) && started.elapsed() < SETTLE_LIMIT {
                        phase = ticket
                            .settled
                            .wait_timeout(phase, kernel::RESEND)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
                Phase::Granted => {
                    // Granted while the owner was away: it never learns of
                    // it, so give it back (unless its owner keeps what its
                    // wait took, see `keeping_granted`).
                    self.watch.count_grant(ticket, false);
                    if !super::keeps_granted()
                        && let Some(target) = ticket.target()
                        && !self.watch.granted_on(&target)
                        && let Err(err) = super::give_back(&*target)
                    {
                        tracing::warn!(?err, "releasing a lock granted to a cancelled wait");
                    }
                    *phase = Phase::Done;
                }
                _ => *phase = Phase::Done,
            }
            drop(phase);
            ticket.forget_target();
            self.watch.leave(ticket);
        }
        ACTIVE_WAITS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells this process's waiters on `target` that the host just released
/// it.
pub(crate) fn released<L: Lockable + ?Sized>(target: &L) {
    if ACTIVE_WAITS.load(Ordering::SeqCst) == 0 {
        return;
    }
    if let Some(watch) = target.key().and_then(existing_watch) {
        watch.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Attempt;
    use crate::sys::FileId;

    /// A lock that is always held elsewhere and is never waited for in the
    /// kernel: only its claim matters here.
    struct Held(Option<Span>);

    impl Lockable for Held {
        fn key(&self) -> Option<LockKey> {
            None
        }

        fn bytes(&self) -> Option<Span> {
            self.0
        }

        fn try_lock(&self, _mode: LockMode) -> io::Result<Attempt> {
            Ok(Attempt::Contended)
        }

        fn blocks_in_kernel(&self) -> bool {
            false
        }

        fn lock_blocking(&self, _mode: LockMode) -> io::Result<Blocked> {
            Err(io::ErrorKind::Unsupported.into())
        }

        fn unlock(&self) -> io::Result<()> {
            Ok(())
        }
    }

    const POLL: Duration = Duration::from_millis(5);
    const X: LockMode = LockMode::Exclusive;
    const S: LockMode = LockMode::Shared;

    /// A key of its own for each test (a temporary file's identity), kept
    /// alive with the file.
    fn key(of: fn(FileId) -> LockKey) -> (tempfile::NamedTempFile, LockKey) {
        let file = tempfile::NamedTempFile::new().unwrap();
        let id = FileId::of(file.as_file()).expect("a file identity");
        (file, of(id))
    }

    fn wait(key: LockKey, bytes: Option<Span>, mode: LockMode, fair: bool) -> Registration {
        let fair = fair.then_some(How::Poll);
        Registration::new(0, Arc::new(Held(bytes)), key, mode, fair, None, POLL)
    }

    fn claim(mode: LockMode, start: u64, end: u64) -> Claim {
        Claim {
            mode,
            bytes: Some(Span::new(start, end)),
        }
    }

    #[test]
    fn claims_yield_to_overlapping_conflicting_ranges_and_whole_locks_to_all() {
        assert!(claim(S, 5, 6).yields_to(&claim(X, 0, 10)));
        assert!(claim(X, 5, 6).yields_to(&claim(S, 0, 10)));
        assert!(!claim(S, 5, 6).yields_to(&claim(S, 0, 10)), "shared");
        assert!(!claim(X, 10, 20).yields_to(&claim(X, 0, 10)), "adjacent");
        let whole = |mode| Claim { mode, bytes: None };
        assert!(whole(S).yields_to(&whole(S)), "one line per whole lock");
    }

    #[test]
    fn range_waiters_line_up_only_behind_earlier_conflicting_claims() {
        let (_file, key) = key(LockKey::Ranges);
        let first = wait(key, Some(Span::new(0, 10)), X, true);
        let overlapping = wait(key, Some(Span::new(5, 6)), S, true);
        let disjoint = wait(key, Some(Span::new(10, 20)), X, true);
        let unfair = wait(key, Some(Span::new(0, 10)), X, false);
        assert!(first.may_try(), "a polling waiter at its front");
        assert!(
            !overlapping.may_try(),
            "behind an earlier conflicting waiter"
        );
        assert!(disjoint.may_try(), "no earlier waiter wants its bytes");
        assert!(
            unfair.may_try(),
            "a waiter that does not queue always tries"
        );
        assert!(has_queue(key, &claim(S, 9, 10)));
        assert!(!has_queue(key, &claim(X, 20, 30)));
        drop(first);
        assert!(overlapping.may_try(), "its turn once the earlier one left");
        let shared_behind = wait(key, Some(Span::new(0, 10)), S, true);
        assert!(
            shared_behind.may_try(),
            "shared waiters never wait for each other"
        );
        let exclusive_behind = wait(key, Some(Span::new(0, 10)), X, true);
        assert!(!exclusive_behind.may_try());
    }

    #[test]
    fn whole_lock_waiters_line_up_strictly_in_arrival_order() {
        let (_file, key) = key(LockKey::File);
        let first = wait(key, None, S, true);
        let second = wait(key, None, S, true);
        assert!(first.may_try());
        assert!(!second.may_try(), "even shared behind shared");
        drop(first);
        assert!(second.may_try());
    }

    #[test]
    fn a_waiter_nobody_polls_goes_stale_and_holds_up_nobody() {
        let (_file, key) = key(LockKey::Ranges);
        let idle = wait(key, Some(Span::new(0, 1)), X, true);
        let behind = wait(key, Some(Span::new(0, 1)), X, true);
        assert!(!behind.may_try());
        assert!(has_queue(key, &claim(X, 0, 1)));
        std::thread::sleep(STALE + Duration::from_millis(10));
        assert!(behind.may_try(), "the idle waiter went stale");
        assert!(idle.may_try(), "and is still first when it looks again");
    }
}
