//! Range locks on a system that locks only whole regions (Windows'
//! `LockFileEx`): the regions one handle locked, and how every WIT
//! operation is planned in terms of them.
//!
//! Windows differs from POSIX record locks in ways the WIT hides:
//!
//! - A region is unlocked only by an unlock of exactly that region; locks
//!   are never merged, split or converted, and locking a region twice
//!   through one handle stacks (two unlocks needed).
//! - An exclusive lock may not overlap any locked region, the handle's own
//!   included; a shared lock may overlap the handle's own exclusive lock.
//!
//! So [`Pieces`] keeps the exact regions a handle has locked (disjoint, each
//! in one mode) and changes them as follows:
//!
//! - **Lock**: bytes already held in the mode stay as they are; free bytes
//!   are locked first, in new regions, so a contended request changes
//!   nothing. A downgrade takes the shared lock over its own exclusive region
//!   before giving that up (no gap). An upgrade must give up its shared
//!   region first: if the exclusive lock is then refused, the shared region
//!   is locked again, which fails only if another handle took it in between
//!   (the bytes are then no longer held).
//! - **Unlock**, and the parts of a converted region outside the request:
//!   the region is unlocked and its remaining parts locked again in their
//!   mode; another handle can take those in between.

use std::io;

use crate::backend::Attempt;
use crate::backend::span::Span;
use crate::bindings::portalocker::filelock::types::LockMode;

/// What the system offers: lock a region without waiting, unlock exactly a
/// region.
pub(crate) trait RegionLocks {
    /// Locks `span` in `mode` for this handle; `Ok(false)` when another
    /// handle holds a conflicting lock.
    fn lock_region(&self, span: Span, mode: LockMode) -> io::Result<bool>;
    /// Unlocks the region `span` exactly as it was locked.
    fn unlock_region(&self, span: Span) -> io::Result<()>;
}

/// The regions one handle holds, disjoint and sorted, exactly as locked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pieces {
    regions: Vec<(Span, LockMode)>,
}

/// The parts of `span` that `held` does not cover.
fn gaps(span: Span, held: &[(Span, LockMode)]) -> Vec<Span> {
    let mut gaps = Vec::new();
    let mut next = span.start;
    for (region, _) in held.iter().filter(|(region, _)| region.overlaps(span)) {
        if region.start > next {
            gaps.push(Span::new(next, region.start));
        }
        next = next.max(region.end);
    }
    if next < span.end {
        gaps.push(Span::new(next, span.end));
    }
    gaps
}

/// The parts of `region` outside `span` (none, one or two).
fn outside(region: Span, span: Span) -> Vec<Span> {
    let mut parts = Vec::new();
    if region.start < span.start {
        parts.push(Span::new(region.start, span.start.min(region.end)));
    }
    if span.end < region.end {
        parts.push(Span::new(span.end.max(region.start), region.end));
    }
    parts
}

impl Pieces {
    /// The regions held, in order.
    pub(crate) fn regions(&self) -> &[(Span, LockMode)] {
        &self.regions
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    fn insert(&mut self, span: Span, mode: LockMode) {
        let at = self
            .regions
            .partition_point(|(region, _)| region.start < span.start);
        self.regions.insert(at, (span, mode));
    }

    fn remove(&mut self, span: Span) {
        self.regions.retain(|(region, _)| *region != span);
    }

    /// Locks the parts of `region` outside `span` again in `mode`, after
    /// `region` was unlocked; a part another handle took meanwhile is lost.
    fn relock_outside(&mut self, os: &impl RegionLocks, region: Span, span: Span, mode: LockMode) {
        for part in outside(region, span) {
            match os.lock_region(part, mode) {
                Ok(true) => self.insert(part, mode),
                Ok(false) | Err(_) => tracing::warn!(
                    ?part,
                    "another handle took the rest of a range while it was split"
                ),
            }
        }
    }

    /// Sets the bytes of `span` to `mode` (see the module docs).
    pub(crate) fn lock(
        &mut self,
        os: &impl RegionLocks,
        span: Span,
        mode: LockMode,
    ) -> io::Result<Attempt> {
        // Free bytes first: new regions, undone if any is refused.
        let mut added = Vec::new();
        for gap in gaps(span, &self.regions) {
            let locked = match os.lock_region(gap, mode) {
                Ok(locked) => locked,
                Err(err) => {
                    self.undo(os, &added);
                    return Err(err);
                }
            };
            if !locked {
                self.undo(os, &added);
                return Ok(Attempt::Contended);
            }
            added.push(gap);
        }
        let converted: Vec<(Span, LockMode)> = self
            .regions
            .iter()
            .copied()
            .filter(|(region, held)| region.overlaps(span) && *held != mode)
            .collect();
        let mut upgraded: Vec<Span> = Vec::new();
        for (region, held) in converted {
            let inside = region.intersection(span).expect("overlapping region");
            match mode {
                LockMode::Shared => {
                    // Shared over our own exclusive region is allowed: no gap.
                    if !os.lock_region(inside, LockMode::Shared)? {
                        self.undo_upgrades(os, &upgraded);
                        self.undo(os, &added);
                        return Ok(Attempt::Contended);
                    }
                    os.unlock_region(region)?;
                    self.remove(region);
                    self.insert(inside, LockMode::Shared);
                    self.relock_outside(os, region, span, held);
                }
                LockMode::Exclusive => {
                    os.unlock_region(region)?;
                    self.remove(region);
                    if !os.lock_region(inside, LockMode::Exclusive)? {
                        // Put the shared region back, then undo the rest.
                        match os.lock_region(region, held) {
                            Ok(true) => self.insert(region, held),
                            _ => tracing::warn!(
                                ?region,
                                "a failed upgrade lost the shared range it gave up"
                            ),
                        }
                        self.undo_upgrades(os, &upgraded);
                        self.undo(os, &added);
                        return Ok(Attempt::Contended);
                    }
                    self.insert(inside, LockMode::Exclusive);
                    upgraded.push(inside);
                    self.relock_outside(os, region, span, held);
                }
            }
        }
        for gap in added {
            self.insert(gap, mode);
        }
        Ok(Attempt::Acquired)
    }

    /// Unlocks the new regions of a refused request.
    fn undo(&self, os: &impl RegionLocks, added: &[Span]) {
        for &gap in added {
            if let Err(err) = os.unlock_region(gap) {
                tracing::warn!(?err, "undoing part of a refused range lock failed");
            }
        }
    }

    /// Turns the regions a refused request upgraded back to shared, without
    /// a gap (shared over our own exclusive region first).
    fn undo_upgrades(&mut self, os: &impl RegionLocks, upgraded: &[Span]) {
        for &region in upgraded {
            if matches!(os.lock_region(region, LockMode::Shared), Ok(true))
                && os.unlock_region(region).is_ok()
            {
                self.remove(region);
                self.insert(region, LockMode::Shared);
            } else {
                tracing::warn!(
                    ?region,
                    "undoing an upgrade failed; the range stays exclusive"
                );
            }
        }
    }

    /// Clears the bytes of `span` (see the module docs).
    pub(crate) fn unlock(&mut self, os: &impl RegionLocks, span: Span) -> io::Result<()> {
        let affected: Vec<(Span, LockMode)> = self
            .regions
            .iter()
            .copied()
            .filter(|(region, _)| region.overlaps(span))
            .collect();
        for (region, held) in affected {
            os.unlock_region(region)?;
            self.remove(region);
            self.relock_outside(os, region, span, held);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The planning checked against a model of Windows' rules, for one handle
    //! and a rival handle.

    use std::cell::RefCell;

    use proptest::prelude::*;

    use super::*;
    use crate::backend::span::{RangeSet, TO_END};

    /// Windows' region locks, as documented for `LockFileEx`/`UnlockFileEx`.
    #[derive(Default)]
    struct FakeWindows {
        /// (handle, region, mode), in locking order.
        locks: RefCell<Vec<(u8, Span, LockMode)>>,
    }

    struct Handle<'a> {
        os: &'a FakeWindows,
        id: u8,
    }

    impl RegionLocks for Handle<'_> {
        fn lock_region(&self, span: Span, mode: LockMode) -> io::Result<bool> {
            let mut locks = self.os.locks.borrow_mut();
            let refused = locks.iter().any(|&(id, region, held)| {
                region.overlaps(span)
                    && match mode {
                        // Exclusive may not overlap any locked region.
                        LockMode::Exclusive => true,
                        // Shared may overlap shared ones, and our own exclusive.
                        LockMode::Shared => held == LockMode::Exclusive && id != self.id,
                    }
            });
            if !refused {
                locks.push((self.id, span, mode));
            }
            Ok(!refused)
        }

        fn unlock_region(&self, span: Span) -> io::Result<()> {
            let mut locks = self.os.locks.borrow_mut();
            // Exactly a locked region; an exclusive lock goes first.
            let place = locks
                .iter()
                .position(|&(id, r, m)| id == self.id && r == span && m == LockMode::Exclusive)
                .or_else(|| {
                    locks
                        .iter()
                        .position(|&(id, r, _)| id == self.id && r == span)
                })
                .ok_or_else(|| io::Error::other("ERROR_NOT_LOCKED"))?;
            locks.remove(place);
            Ok(())
        }
    }

    impl FakeWindows {
        /// The effective state of handle `id`, byte by byte, as a range set.
        fn state_of(&self, id: u8) -> RangeSet {
            let mut set = RangeSet::default();
            // Shared first, exclusive over it: an exclusive region wins.
            let locks = self.locks.borrow();
            for mode in [LockMode::Shared, LockMode::Exclusive] {
                for &(_, region, _) in locks.iter().filter(|l| l.0 == id && l.2 == mode) {
                    set.lock(region, mode);
                }
            }
            set
        }
    }

    fn span_strategy() -> impl Strategy<Value = Span> {
        (0u64..40, 1u64..20, any::<bool>()).prop_map(|(start, len, to_end)| {
            Span::new(start, if to_end { TO_END } else { start + len })
        })
    }

    fn mode_strategy() -> impl Strategy<Value = LockMode> {
        prop_oneof![Just(LockMode::Shared), Just(LockMode::Exclusive)]
    }

    proptest! {
        /// With no rival, every operation does exactly what POSIX record
        /// locks do, and the regions never overlap.
        #[test]
        fn alone_it_behaves_like_posix(ops in prop::collection::vec(
            (span_strategy(), prop::option::of(mode_strategy())), 1..30)
        ) {
            let os = FakeWindows::default();
            let handle = Handle { os: &os, id: 1 };
            let mut pieces = Pieces::default();
            let mut model = RangeSet::default();
            for (span, mode) in ops {
                match mode {
                    Some(mode) => {
                        prop_assert_eq!(pieces.lock(&handle, span, mode).unwrap(), Attempt::Acquired);
                        model.lock(span, mode);
                    }
                    None => {
                        pieces.unlock(&handle, span).unwrap();
                        model.unlock(span);
                    }
                }
                prop_assert_eq!(os.state_of(1), model.clone());
                prop_assert_eq!(pieces.is_empty(), model.is_empty());
                prop_assert_eq!(os.locks.borrow().len(), pieces.regions().len());
                for pair in pieces.regions().windows(2) {
                    prop_assert!(pair[0].0.end <= pair[1].0.start);
                }
            }
        }

        /// Against a rival holding a fixed lock: a refused request changes
        /// nothing, a granted one never overlaps the rival's conflicting lock.
        #[test]
        fn a_refused_request_changes_nothing(
            rival in (span_strategy(), mode_strategy()),
            ops in prop::collection::vec((span_strategy(), prop::option::of(mode_strategy())), 1..30),
        ) {
            let os = FakeWindows::default();
            let other = Handle { os: &os, id: 2 };
            prop_assert!(other.lock_region(rival.0, rival.1).unwrap());
            let handle = Handle { os: &os, id: 1 };
            let mut pieces = Pieces::default();
            for (span, mode) in ops {
                let before = os.state_of(1);
                match mode {
                    Some(mode) => {
                        let blocked = rival.0.overlaps(span)
                            && (mode == LockMode::Exclusive || rival.1 == LockMode::Exclusive);
                        let attempt = pieces.lock(&handle, span, mode).unwrap();
                        if blocked {
                            prop_assert_eq!(attempt, Attempt::Contended);
                            // Only an upgrade can lose what it gave up, and
                            // only to a rival that took it meanwhile: here
                            // the rival never moves, so nothing is lost.
                            prop_assert_eq!(os.state_of(1), before);
                        } else {
                            prop_assert_eq!(attempt, Attempt::Acquired);
                            let mut expected = before.clone();
                            expected.lock(span, mode);
                            prop_assert_eq!(os.state_of(1), expected);
                        }
                    }
                    None => {
                        pieces.unlock(&handle, span).unwrap();
                        let mut expected = before.clone();
                        expected.unlock(span);
                        prop_assert_eq!(os.state_of(1), expected);
                    }
                }
                let rival_state = os.state_of(2);
                prop_assert_eq!(rival_state.ranges(), &[rival][..]);
            }
        }
    }
}
