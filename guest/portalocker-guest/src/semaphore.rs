//! Bounded semaphores, portalocker's `BoundedSemaphore`.

use std::time::Duration;

use crate::bindings::portalocker::filelock::path_lock;
use crate::bindings::portalocker::filelock::types::{LockMode, LockOptions};
use crate::{Error, duration_nanos, preopens};

/// At most `slots` holders at once, across guests, hosts and native
/// processes: each holder locks one slot file exclusively, named as
/// portalocker names them (`NAME.00.lock`, `NAME.01.lock`, …, or as
/// [`filename_pattern`](BoundedSemaphore::filename_pattern) says), so
/// portalocker's `BoundedSemaphore(slots, name=NAME, directory=DIR)` and
/// `BoundedSemaphore::new("DIR/NAME", slots)` share their slots.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let workers = portalocker_guest::BoundedSemaphore::new("locks/workers", 3)
///     .timeout(Duration::from_secs(5));
/// let slot = workers.acquire()?; // one of 3 slots
/// println!("working in slot {}", slot.slot());
/// drop(slot); // frees it
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedSemaphore {
    name: String,
    slots: u32,
    timeout: Option<Duration>,
    pattern: Option<String>,
}

impl BoundedSemaphore {
    /// The semaphore `name` (a guest path; the slot files go next to it)
    /// with `slots` slots. Acquiring waits forever by default.
    pub fn new(name: impl Into<String>, slots: u32) -> Self {
        BoundedSemaphore {
            name: name.into(),
            slots,
            timeout: None,
            pattern: None,
        }
    }

    /// Names the slot files by `pattern` (portalocker's
    /// `filename_pattern`) instead of the default `{name}.{number:02d}.lock`:
    /// `{name}` is the last component of the semaphore's name, `{number}`
    /// the slot number, `{number:0Nd}` the number zero-padded to N digits.
    /// The files go in the directory of the semaphore's name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// // portalocker.BoundedSemaphore(2, name='jobs', directory='locks',
    /// //                              filename_pattern='{name}-{number}.lck')
    /// let jobs = portalocker_guest::BoundedSemaphore::new("locks/jobs", 2)
    ///     .filename_pattern("{name}-{number}.lck");
    /// let slot = jobs.acquire()?; // locks/jobs-0.lck or locks/jobs-1.lck
    /// # Ok(())
    /// # }
    /// ```
    pub fn filename_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }

    /// Waits at most `timeout` for a free slot; zero is one attempt
    /// (portalocker's `fail_when_locked`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Takes the first free slot.
    ///
    /// # Errors
    ///
    /// `AlreadyLocked` (zero timeout) or `TimedOut` when every slot stays
    /// taken; `InvalidOptions` for zero slots or a pattern that is not one.
    pub fn acquire(&self) -> Result<SemaphoreGuard, Error> {
        let (dir, relative) = preopens::resolve(&self.name)?;
        let options = LockOptions {
            mode: LockMode::Exclusive,
            timeout: self.timeout.map(duration_nanos),
            create: true,
            write: true,
            truncate: false,
            append: false,
        };
        let inner = match &self.pattern {
            None => path_lock::SemaphoreSlot::acquire(&dir, &relative, self.slots, options),
            Some(pattern) => path_lock::SemaphoreSlot::acquire_with_pattern(
                &dir, &relative, pattern, self.slots, options,
            ),
        }
        .map_err(|e| Error::new(e, "take a slot of", Some(&self.name)))?;
        Ok(SemaphoreGuard { inner })
    }
}

/// A held semaphore slot; dropping it frees the slot.
#[must_use = "if unused the slot will immediately be freed"]
#[derive(Debug)]
pub struct SemaphoreGuard {
    inner: path_lock::SemaphoreSlot,
}

impl SemaphoreGuard {
    /// Which slot is held (0-based).
    pub fn slot(&self) -> u32 {
        self.inner.slot()
    }
}
