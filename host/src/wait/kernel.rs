//! Waiting in the kernel: the threads that block in a lock call on a guest's
//! own lock, and the alarms that interrupt them.
//!
//! - **Alarms.** A thread about to block arms an [`Alarm`] with its
//!   deadline (or none). One *interrupter* thread per process sends the
//!   alarm's signal to the blocked thread when the deadline comes, or at
//!   once when the wait is cancelled ([`Alarm::fire`]), and sends it again
//!   every [`RESEND`] until the thread disarms the alarm: a signal that lands
//!   just before the thread enters the system call (and so interrupts
//!   nothing) is followed by another. The thread disarms before it leaves
//!   the blocking section, so a signal never reaches a thread that has moved
//!   on. The interrupter ends when it has had no alarm for [`IDLE`] (it
//!   sleeps at most that long at a time, so a disarmed alarm never keeps
//!   it alive).
//! - **Workers.** A waiter that is not allowed to block its own thread (the
//!   async linker, and requests) has a *worker* thread block for it. Workers
//!   are pooled: an idle worker takes the next job, and ends after [`IDLE`]
//!   without one. A pool never has more workers than the cap of the job
//!   being submitted ([`submit`] refuses beyond it, and the waiter polls
//!   instead), and at most one job per contended lock exists at a time (the
//!   queue's front), so threads stay bounded by the number of contended
//!   locks and by the cap.

use std::collections::VecDeque;
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sys::{self, Thread};

/// How often an alarm is sent again until its thread disarms it.
pub(crate) const RESEND: Duration = Duration::from_millis(1);

/// How long an idle worker or an idle interrupter waits for work before it
/// ends.
pub(crate) const IDLE: Duration = Duration::from_millis(5);

/// One armed alarm of the interrupter.
struct Entry {
    id: u64,
    thread: Thread,
    signal: i32,
    /// When to send the signal next (`None`: only when fired).
    due: Option<Instant>,
}

#[derive(Default)]
struct Alarms {
    next_id: u64,
    entries: Vec<Entry>,
    /// Whether the interrupter thread runs.
    running: bool,
}

/// The process's interrupter: the armed alarms and the thread that sends
/// them.
struct Interrupter {
    alarms: Mutex<Alarms>,
    changed: Condvar,
}

static INTERRUPTER: LazyLock<Interrupter> = LazyLock::new(|| Interrupter {
    alarms: Mutex::default(),
    changed: Condvar::new(),
});

impl Interrupter {
    fn lock(&self) -> MutexGuard<'_, Alarms> {
        self.alarms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The interrupter thread: sends what is due, sleeps until the next due
    /// time, and ends when it has had nothing to do for [`IDLE`].
    ///
    /// Disarming an alarm does not wake it (that would cost every wait a
    /// wake-up of this thread): it sleeps at most [`IDLE`] at a time, so
    /// that it notices within that long when the last alarm is gone.
    fn run(&self) {
        let mut alarms = self.lock();
        loop {
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            for entry in &mut alarms.entries {
                if let Some(due) = entry.due {
                    if due <= now {
                        // The thread is alive: it disarms (under this lock)
                        // before it leaves its blocking section.
                        sys::interrupt(entry.thread, entry.signal);
                        entry.due = Some(now + RESEND);
                    }
                    let due = entry.due.unwrap_or(now);
                    next = Some(next.map_or(due, |next| next.min(due)));
                }
            }
            alarms = match next {
                Some(next) => {
                    let wait = next.saturating_duration_since(Instant::now()).min(IDLE);
                    self.changed
                        .wait_timeout(alarms, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None if alarms.entries.is_empty() => {
                    let (alarms, waited) = self
                        .changed
                        .wait_timeout(alarms, IDLE)
                        .unwrap_or_else(|e| e.into_inner());
                    if waited.timed_out() && alarms.entries.is_empty() {
                        let mut alarms = alarms;
                        alarms.running = false;
                        return;
                    }
                    alarms
                }
                None => {
                    self.changed
                        .wait_timeout(alarms, IDLE)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// An alarm armed for the calling thread; disarmed when dropped.
pub(crate) struct Alarm {
    id: u64,
}

impl Alarm {
    /// Arms an alarm that interrupts the calling thread with `signal` at
    /// `deadline` (or only when fired). `None` if the interrupter thread
    /// could not be started: the caller must not block then.
    pub(crate) fn arm(signal: i32, deadline: Option<Instant>) -> Option<Alarm> {
        let interrupter = &*INTERRUPTER;
        let mut alarms = interrupter.lock();
        if !alarms.running {
            let started = std::thread::Builder::new()
                .name("portalocker-interrupter".into())
                .spawn(|| INTERRUPTER.run())
                .is_ok();
            if !started {
                return None;
            }
            alarms.running = true;
        }
        alarms.next_id += 1;
        let id = alarms.next_id;
        alarms.entries.push(Entry {
            id,
            thread: Thread::current(),
            signal,
            due: deadline,
        });
        interrupter.changed.notify_one();
        Some(Alarm { id })
    }

    /// This alarm's identity, for [`Alarm::fire`].
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Interrupts the thread of the alarm `id` now (and again until it
    /// disarms); nothing if it is disarmed already.
    pub(crate) fn fire(id: u64) {
        let interrupter = &*INTERRUPTER;
        let mut alarms = interrupter.lock();
        if let Some(entry) = alarms.entries.iter_mut().find(|entry| entry.id == id) {
            entry.due = Some(Instant::now());
            interrupter.changed.notify_one();
        }
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        let mut alarms = INTERRUPTER.lock();
        alarms.entries.retain(|entry| entry.id != self.id);
    }
}

/// A kernel wait to run on a worker thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    /// Workers running now (idle ones included).
    workers: usize,
    /// Workers waiting for a job.
    idle: usize,
}

/// The process's pool of workers.
struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

static POOL: LazyLock<Pool> = LazyLock::new(|| Pool {
    state: Mutex::default(),
    work: Condvar::new(),
});

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker: runs jobs until none comes for [`IDLE`].
    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                job();
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let (woken, waited) = self
                .work
                .wait_timeout(state, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            state = woken;
            state.idle -= 1;
            if waited.timed_out() && state.jobs.is_empty() {
                state.workers -= 1;
                return;
            }
        }
    }
}

/// Runs `job` on a worker: an idle one, or a new one while fewer than `cap`
/// run. Gives the job back when the cap is reached or no thread can be
/// started, for the caller to poll instead.
pub(crate) fn submit(job: Job, cap: usize) -> Result<(), Job> {
    let pool = &*POOL;
    let mut state = pool.lock();
    if state.idle > state.jobs.len() {
        state.jobs.push_back(job);
        pool.work.notify_one();
        return Ok(());
    }
    if state.workers >= cap {
        return Err(job);
    }
    state.workers += 1;
    state.jobs.push_back(job);
    drop(state);
    let spawned = std::thread::Builder::new()
        .name("portalocker-waiter".into())
        .spawn(|| POOL.work());
    if spawned.is_err() {
        let mut state = pool.lock();
        state.workers -= 1;
        // With no worker left to take it, take the job back; otherwise a
        // running worker will.
        if state.workers == 0
            && let Some(job) = state.jobs.pop_back()
        {
            return Err(job);
        }
    }
    Ok(())
}
