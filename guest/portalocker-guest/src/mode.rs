//! [`Mode`]: shared or exclusive.

use std::fmt;

use crate::bindings::portalocker::filelock::types::LockMode;

/// How a lock is held.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Lock, Mode};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let guard = Lock::new("config.toml").mode(Mode::Shared).write(false).acquire()?;
/// assert_eq!(guard.mode(), Mode::Shared);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Any number of holders may hold a shared lock at the same time; a shared
    /// lock excludes exclusive holders (portalocker's `LOCK_SH`).
    Shared,
    /// Exactly one holder; an exclusive lock excludes every other holder,
    /// shared or exclusive (portalocker's `LOCK_EX`).
    Exclusive,
}

impl Mode {
    /// The WIT name of the mode: `"shared"` or `"exclusive"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(portalocker_guest::Mode::Exclusive.as_str(), "exclusive");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shared => "shared",
            Mode::Exclusive => "exclusive",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Mode> for LockMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Shared => LockMode::Shared,
            Mode::Exclusive => LockMode::Exclusive,
        }
    }
}

impl From<LockMode> for Mode {
    fn from(mode: LockMode) -> Self {
        match mode {
            LockMode::Shared => Mode::Shared,
            LockMode::Exclusive => Mode::Exclusive,
        }
    }
}
