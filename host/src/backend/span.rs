//! Byte ranges and the lock state of one owner: which bytes it holds, in
//! which mode, merged and split the way POSIX record locks are.
//!
//! The model serves three masters: the per-instance count of held ranges
//! (the `held-locks` limit, in the policy's usage), the process table of the
//! classic `fcntl` backend, and the Windows backend, which has to remember
//! what it locked because Windows cannot split or convert a lock.

use crate::bindings::portalocker::filelock::range_lock::ByteRange;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};

/// One past the largest byte offset a lock can cover (`i64::MAX + 1`): the
/// end of a range that runs "to the end of the file".
pub(crate) const TO_END: u64 = 1 << 63;

/// A half-open run of bytes `start..end`, never empty, `end <= TO_END`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Span {
    /// The first byte.
    pub(crate) start: u64,
    /// One past the last byte; [`TO_END`] for "to the end of the file".
    pub(crate) end: u64,
}

impl Span {
    /// The span `start..end`. Panics in debug builds if it is empty or
    /// reaches past [`TO_END`].
    pub(crate) fn new(start: u64, end: u64) -> Span {
        debug_assert!(start < end && end <= TO_END, "bad span {start}..{end}");
        Span { start, end }
    }

    /// The span of a WIT `byte-range`; `invalid-options` when its last byte
    /// is past `2^63 - 1`.
    pub(crate) fn from_wit(range: ByteRange) -> Result<Span, LockError> {
        if range.start >= TO_END {
            return Err(LockError::InvalidOptions);
        }
        let end = match range.length {
            0 => TO_END,
            length => range
                .start
                .checked_add(length)
                .filter(|end| *end <= TO_END)
                .ok_or(LockError::InvalidOptions)?,
        };
        Ok(Span::new(range.start, end))
    }

    /// The WIT `byte-range` of this span (length zero when it runs to the
    /// end).
    pub(crate) fn to_wit(self) -> ByteRange {
        ByteRange {
            start: self.start,
            length: if self.end == TO_END {
                0
            } else {
                self.end - self.start
            },
        }
    }

    /// Whether the two spans share a byte.
    pub(crate) fn overlaps(self, other: Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The bytes both spans cover, if any.
    pub(crate) fn intersection(self, other: Span) -> Option<Span> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start < end).then(|| Span::new(start, end))
    }

    /// The number of bytes, saturating (a span to the end is `2^63 - start`).
    pub(crate) fn len(self) -> u64 {
        self.end - self.start
    }
}

/// Whether locks in modes `a` and `b` held by different owners conflict.
pub(crate) fn conflicts(a: LockMode, b: LockMode) -> bool {
    a == LockMode::Exclusive || b == LockMode::Exclusive
}

/// The ranges one owner holds: disjoint, sorted, and merged where two
/// ranges of the same mode touch, as the kernel keeps POSIX record locks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RangeSet {
    ranges: Vec<(Span, LockMode)>,
}

impl RangeSet {
    /// The held ranges, in order.
    #[cfg_attr(
        all(windows, not(test)),
        expect(dead_code, reason = "used by the classic Unix backend and the tests")
    )]
    pub(crate) fn ranges(&self) -> &[(Span, LockMode)] {
        &self.ranges
    }

    /// How many ranges are held.
    pub(crate) fn count(&self) -> usize {
        self.ranges.len()
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The held ranges that share a byte with `span`.
    pub(crate) fn overlapping(&self, span: Span) -> impl Iterator<Item = (Span, LockMode)> + '_ {
        self.ranges
            .iter()
            .copied()
            .filter(move |(held, _)| held.overlaps(span))
    }

    /// Sets the bytes of `span` to `mode`: what a granted lock does.
    pub(crate) fn lock(&mut self, span: Span, mode: LockMode) {
        self.unlock(span);
        let at = self
            .ranges
            .partition_point(|(held, _)| held.end <= span.start);
        self.ranges.insert(at, (span, mode));
        // Merge with the neighbours that touch it in the same mode.
        if at + 1 < self.ranges.len() {
            let (next, next_mode) = self.ranges[at + 1];
            if next_mode == mode && next.start == span.end {
                self.ranges[at].0.end = next.end;
                self.ranges.remove(at + 1);
            }
        }
        if at > 0 {
            let (prev, prev_mode) = self.ranges[at - 1];
            if prev_mode == mode && prev.end == span.start {
                self.ranges[at - 1].0.end = self.ranges[at].0.end;
                self.ranges.remove(at);
            }
        }
    }

    /// Clears the bytes of `span`, splitting ranges that reach beyond it:
    /// what an unlock does.
    pub(crate) fn unlock(&mut self, span: Span) {
        let first = self
            .ranges
            .partition_point(|(held, _)| held.end <= span.start);
        let last = first + self.ranges[first..].partition_point(|(held, _)| held.start < span.end);
        if first == last {
            return;
        }
        let (head, head_mode) = self.ranges[first];
        let (tail, tail_mode) = self.ranges[last - 1];
        let left =
            (head.start < span.start).then(|| (Span::new(head.start, span.start), head_mode));
        let right = (span.end < tail.end).then(|| (Span::new(span.end, tail.end), tail_mode));
        self.ranges
            .splice(first..last, left.into_iter().chain(right));
    }

    /// How many ranges would be held after [`RangeSet::lock`].
    pub(crate) fn count_after_lock(&self, span: Span, mode: LockMode) -> usize {
        let mut after = self.clone();
        after.lock(span, mode);
        after.count()
    }

    /// How many ranges would be held after [`RangeSet::unlock`].
    pub(crate) fn count_after_unlock(&self, span: Span) -> usize {
        let mut after = self.clone();
        after.unlock(span);
        after.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockMode::{Exclusive as X, Shared as S};

    fn set(ops: &[(u64, u64, Option<LockMode>)]) -> RangeSet {
        let mut set = RangeSet::default();
        for &(start, end, mode) in ops {
            match mode {
                Some(mode) => set.lock(Span::new(start, end), mode),
                None => set.unlock(Span::new(start, end)),
            }
        }
        set
    }

    fn spans(set: &RangeSet) -> Vec<(u64, u64, LockMode)> {
        set.ranges()
            .iter()
            .map(|(s, m)| (s.start, s.end, *m))
            .collect()
    }

    #[test]
    fn adjacent_and_overlapping_ranges_of_one_mode_merge() {
        assert_eq!(
            spans(&set(&[(0, 10, Some(X)), (10, 20, Some(X))])),
            [(0, 20, X)]
        );
        assert_eq!(
            spans(&set(&[
                (0, 10, Some(S)),
                (5, 20, Some(S)),
                (30, 40, Some(S))
            ])),
            [(0, 20, S), (30, 40, S)]
        );
        assert_eq!(
            spans(&set(&[
                (0, 10, Some(S)),
                (20, 30, Some(S)),
                (10, 20, Some(S))
            ])),
            [(0, 30, S)]
        );
        // Different modes touch without merging.
        assert_eq!(
            spans(&set(&[(0, 10, Some(S)), (10, 20, Some(X))])),
            [(0, 10, S), (10, 20, X)]
        );
    }

    #[test]
    fn partial_unlock_splits_and_conversion_replaces_the_overlap() {
        assert_eq!(
            spans(&set(&[(0, 20, Some(X)), (5, 10, None)])),
            [(0, 5, X), (10, 20, X)]
        );
        assert_eq!(
            spans(&set(&[(0, 100, Some(X)), (40, 50, Some(S))])),
            [(0, 40, X), (40, 50, S), (50, 100, X)]
        );
        assert_eq!(
            spans(&set(&[
                (0, 10, Some(S)),
                (20, 30, Some(S)),
                (5, 25, Some(X))
            ])),
            [(0, 5, S), (5, 25, X), (25, 30, S)]
        );
        // Unlocking what is not held changes nothing.
        assert_eq!(
            spans(&set(&[(0, 10, Some(S)), (10, 20, None)])),
            [(0, 10, S)]
        );
        assert!(set(&[(0, 10, Some(S)), (0, TO_END, None)]).is_empty());
    }

    #[test]
    fn counts_after_a_change() {
        let held = set(&[(0, 100, Some(X))]);
        assert_eq!(held.count_after_lock(Span::new(40, 50), S), 3);
        assert_eq!(held.count_after_unlock(Span::new(40, 50)), 2);
        assert_eq!(held.count_after_lock(Span::new(100, 110), X), 1);
    }

    #[test]
    fn wit_ranges() {
        let span = |start, length| Span::from_wit(ByteRange { start, length }).ok();
        let invalid = |start, length| {
            matches!(
                Span::from_wit(ByteRange { start, length }),
                Err(LockError::InvalidOptions)
            )
        };
        assert_eq!(span(5, 0), Some(Span::new(5, TO_END)));
        assert_eq!(span(5, 10), Some(Span::new(5, 15)));
        assert_eq!(span(TO_END - 1, 1), Some(Span::new(TO_END - 1, TO_END)));
        assert!(invalid(TO_END - 1, 2));
        assert!(invalid(u64::MAX, 1));
        assert!(invalid(TO_END, 0));
        let wit = |span: Span| (span.to_wit().start, span.to_wit().length);
        assert_eq!(wit(Span::new(5, TO_END)), (5, 0));
        assert_eq!(wit(Span::new(5, 15)), (5, 10));
    }
}
