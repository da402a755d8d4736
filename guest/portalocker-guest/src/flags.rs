//! [`LockFlags`] and [`lock_with_flags`]: portalocker's flags-style
//! `lock(fh, LOCK_EX | LOCK_NB)`.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use wasip2::filesystem::types::Descriptor;

use crate::{Error, ErrorKind, Mode};

/// portalocker's `LockFlags`: a lock mode, optionally non-blocking, or
/// unlock.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{LockFlags, lock_with_flags, preopens};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("app.lock", true, true)?;
/// // portalocker.lock(fh, LockFlags.EXCLUSIVE | LockFlags.NON_BLOCKING)
/// lock_with_flags(&file, LockFlags::EXCLUSIVE | LockFlags::NON_BLOCKING)?;
/// // portalocker.lock(fh, LockFlags.UNBLOCK)
/// lock_with_flags(&file, LockFlags::UNBLOCK)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LockFlags(u8);

impl LockFlags {
    /// A shared lock (`LOCK_SH`).
    pub const SHARED: LockFlags = LockFlags(1);
    /// An exclusive lock (`LOCK_EX`).
    pub const EXCLUSIVE: LockFlags = LockFlags(2);
    /// Fail with `AlreadyLocked` instead of waiting (`LOCK_NB`).
    pub const NON_BLOCKING: LockFlags = LockFlags(4);
    /// Unlock (`LOCK_UN`).
    pub const UNBLOCK: LockFlags = LockFlags(8);

    /// Whether every flag of `other` is set in `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use portalocker_guest::LockFlags;
    ///
    /// let flags = LockFlags::EXCLUSIVE | LockFlags::NON_BLOCKING;
    /// assert!(flags.contains(LockFlags::NON_BLOCKING));
    /// assert!(!flags.contains(LockFlags::SHARED));
    /// ```
    pub fn contains(self, other: LockFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// What the flags ask for, or `None` when they contradict each other
    /// (both or neither of `SHARED` and `EXCLUSIVE` without `UNBLOCK`;
    /// `UNBLOCK` with anything else).
    fn request(self) -> Option<FlagRequest> {
        if self.contains(LockFlags::UNBLOCK) {
            return (self == LockFlags::UNBLOCK).then_some(FlagRequest::Unlock);
        }
        let mode = match (
            self.contains(LockFlags::SHARED),
            self.contains(LockFlags::EXCLUSIVE),
        ) {
            (true, false) => Mode::Shared,
            (false, true) => Mode::Exclusive,
            _ => return None,
        };
        let wait = !self.contains(LockFlags::NON_BLOCKING);
        Some(FlagRequest::Lock { mode, wait })
    }
}

impl BitOr for LockFlags {
    type Output = LockFlags;

    fn bitor(self, rhs: LockFlags) -> LockFlags {
        LockFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for LockFlags {
    fn bitor_assign(&mut self, rhs: LockFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for LockFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (LockFlags::SHARED, "SHARED"),
            (LockFlags::EXCLUSIVE, "EXCLUSIVE"),
            (LockFlags::NON_BLOCKING, "NON_BLOCKING"),
            (LockFlags::UNBLOCK, "UNBLOCK"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        write!(f, "LockFlags({})", set.join(" | "))
    }
}

/// What a valid set of flags asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagRequest {
    Lock { mode: Mode, wait: bool },
    Unlock,
}

/// portalocker's `lock(fh, flags)` on the open file behind `file`: locks in
/// the mode the flags name, waiting unless `NON_BLOCKING` is set, or unlocks
/// for `UNBLOCK`. The same as [`lock`](crate::lock),
/// [`try_lock`](crate::try_lock) and [`unlock`](crate::unlock).
///
/// # Errors
///
/// `InvalidOptions` for contradicting flags (both or neither of `SHARED`
/// and `EXCLUSIVE`, or `UNBLOCK` with other flags); otherwise as the call it
/// stands for (`AlreadyLocked` with `NON_BLOCKING`).
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{LockFlags, lock_with_flags, preopens};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("app.lock", true, true)?;
/// match lock_with_flags(&file, LockFlags::SHARED | LockFlags::NON_BLOCKING) {
///     Ok(()) => println!("reading under a shared lock"),
///     Err(e) if e.is_contention() => println!("a writer holds it"),
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
pub fn lock_with_flags(file: &Descriptor, flags: LockFlags) -> Result<(), Error> {
    match flags.request() {
        Some(FlagRequest::Unlock) => crate::unlock(file),
        Some(FlagRequest::Lock { mode, wait: true }) => crate::lock(file, mode),
        Some(FlagRequest::Lock { mode, wait: false }) => crate::try_lock(file, mode),
        None => Err(Error::new(ErrorKind::InvalidOptions, "lock", None)
            .with_detail("contradicting lock flags")),
    }
}
