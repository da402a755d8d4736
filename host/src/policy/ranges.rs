//! The byte ranges one instance holds (WIT `range-lock`), per open file,
//! counted toward the host's `held-locks` limit together with the whole-file
//! locks.
//!
//! Each open file's ranges are modelled as the kernel keeps them (merged,
//! split, converted: [`RangeSet`]), so the count is the number of ranges the
//! kernel holds for the instance. A lock or unlock that would raise the count
//! past the limit is refused before anything changes. Locks being waited for
//! reserve the room they will need, so that concurrent requests cannot
//! overshoot the limit together.
//!
//! Open files are known by their host `File` (each guest descriptor has its
//! own, except those `file-lock.file` duplicates, which share an open file
//! under separate `File`s: ranges locked through one of those and unlocked
//! through another stay counted until the first is dropped). A file the guest
//! closed drops out of the count with its ranges, as the kernel drops them.

use std::fs::File;
use std::sync::{Arc, Weak};

use super::usage::Usage;
use crate::backend::span::{RangeSet, Span};
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};

/// The ranges of one instance.
#[derive(Debug, Default)]
pub(crate) struct RangeHoldings {
    files: Vec<(Weak<File>, RangeSet)>,
    /// Room reserved by locks being taken.
    reserved: usize,
}

impl RangeHoldings {
    /// Drops closed files (the kernel released their ranges) and files that
    /// hold nothing.
    pub(super) fn prune(&mut self) {
        self.files
            .retain(|(weak, ranges)| weak.strong_count() > 0 && !ranges.is_empty());
    }

    /// Ranges held, plus the room reserved by locks being taken.
    pub(super) fn count(&self) -> usize {
        self.files
            .iter()
            .map(|(_, ranges)| ranges.count())
            .sum::<usize>()
            + self.reserved
    }

    /// The open files that hold ranges.
    pub(super) fn files(&self) -> Vec<Arc<File>> {
        self.files
            .iter()
            .filter_map(|(weak, _)| weak.upgrade())
            .collect()
    }

    fn ranges_of(&self, file: &Arc<File>) -> Option<&RangeSet> {
        self.files
            .iter()
            .find(|(weak, _)| std::ptr::eq(weak.as_ptr(), Arc::as_ptr(file)))
            .map(|(_, ranges)| ranges)
    }

    fn ranges_of_mut(&mut self, file: &Arc<File>) -> &mut RangeSet {
        let place = match self
            .files
            .iter()
            .position(|(weak, _)| std::ptr::eq(weak.as_ptr(), Arc::as_ptr(file)))
        {
            Some(place) => place,
            None => {
                self.files.push((Arc::downgrade(file), RangeSet::default()));
                self.files.len() - 1
            }
        };
        &mut self.files[place].1
    }
}

impl Usage {
    /// What `file` holds on the bytes of `span` now: the held ranges that
    /// overlap it, cut to it (empty when a lock of `span` takes new bytes
    /// only; otherwise it converts or repeats a held lock).
    pub(crate) fn ranges_held(&self, file: &Arc<File>, span: Span) -> Vec<(Span, LockMode)> {
        self.held()
            .ranges
            .ranges_of(file)
            .map(|ranges| {
                ranges
                    .overlapping(span)
                    .filter_map(|(held, mode)| Some((held.intersection(span)?, mode)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reserves the room locking `span` of `file` in `mode` needs under
    /// `max`, or fails with `limit-reached(held-locks)`.
    pub(crate) fn reserve_range(
        self: &Arc<Self>,
        max: Option<usize>,
        file: &Arc<File>,
        span: Span,
        mode: LockMode,
    ) -> Result<RangeReservation, LockError> {
        let room = match max {
            // Nothing to count against: the ranges are still recorded when
            // granted.
            None => 0,
            Some(_) => {
                let mut held = self.held();
                let (now, after) = held.ranges.ranges_of(file).map_or((0, 1), |ranges| {
                    (ranges.count(), ranges.count_after_lock(span, mode))
                });
                let room = after.saturating_sub(now);
                held.check(room, max)?;
                held.ranges.reserved += room;
                room
            }
        };
        Ok(RangeReservation {
            usage: Arc::clone(self),
            file: Arc::clone(file),
            span,
            mode,
            room,
        })
    }

    /// Checks that unlocking `span` of `file` would not split its ranges past
    /// `max`, and records the unlock if `unlock` then succeeds.
    pub(crate) fn unlock_range(
        &self,
        max: Option<usize>,
        file: &Arc<File>,
        span: Span,
        unlock: impl FnOnce() -> Result<(), LockError>,
    ) -> Result<(), LockError> {
        let mut held = self.held();
        if max.is_some() {
            let (now, after) = held.ranges.ranges_of(file).map_or((0, 0), |ranges| {
                (ranges.count(), ranges.count_after_unlock(span))
            });
            held.check(after.saturating_sub(now), max)?;
        }
        unlock()?;
        held.ranges.ranges_of_mut(file).unlock(span);
        Ok(())
    }

    /// Records that `file` no longer holds `span` (an uncollected request's
    /// lock was given back).
    pub(crate) fn range_unlocked(&self, file: &Arc<File>, span: Span) {
        self.held().ranges.ranges_of_mut(file).unlock(span);
    }
}

/// Room for one range lock being taken; dropping it without
/// [`RangeReservation::granted`] gives the room back.
pub(crate) struct RangeReservation {
    usage: Arc<Usage>,
    file: Arc<File>,
    span: Span,
    mode: LockMode,
    room: usize,
}

impl RangeReservation {
    /// The lock was granted: its ranges are held now, in place of the room.
    pub(crate) fn granted(mut self) {
        let mut held = self.usage.held();
        held.ranges.reserved -= std::mem::take(&mut self.room);
        held.ranges
            .ranges_of_mut(&self.file)
            .lock(self.span, self.mode);
    }
}

impl Drop for RangeReservation {
    fn drop(&mut self) {
        if self.room > 0 {
            self.usage.held().ranges.reserved -= self.room;
        }
    }
}
