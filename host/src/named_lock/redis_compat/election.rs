//! Deciding from a probe's records: shared holders join shared ones;
//! writers elect the lowest pending holder id, an elected writer waits for
//! readers to drain and blocks new ones, and every exclusive promotion is
//! confirmed by another probe (portalocker's `_resolve_lock_holders`,
//! `_resolve_exclusive_writer`, `_confirm_exclusive_promotion`). The pure
//! rules are in `protocol`; this is where they change a participant.

use std::time::Instant;

use super::client::Refusal;
use super::participant::Participant;
use super::protocol::{self, Claim, Record, Verdict};
use super::{CHECK_INTERVAL, UNAVAILABLE_TIMEOUT};
use crate::named_lock::engine::jitter;

impl Participant {
    /// portalocker's `_resolve_exclusive_writer`: `Some(held)` when decided,
    /// `None` when the election is lost or forfeited.
    fn resolve_writer(
        &mut self,
        records: &[Record],
        fail_when_locked: bool,
    ) -> Result<Option<bool>, Refusal> {
        let shared_present = records.iter().any(|r| r.claim == Claim::Shared);
        if self.stance().elected {
            if protocol::must_forfeit(&self.holder_id, records) {
                return Ok(None);
            }
            if shared_present {
                return Ok(Some(false));
            }
            let undecided_lower = records.iter().any(|r| {
                r.holder_id != self.holder_id
                    && r.claim == Claim::Pending
                    && r.elected == Some(false)
                    && r.holder_id < self.holder_id
            });
            if undecided_lower {
                return Ok(Some(false));
            }
            self.set_stance(Some(Claim::Exclusive), None);
            return Ok(Some(true));
        }
        if !protocol::is_elected(&self.holder_id, records) {
            return Ok(None);
        }
        if !shared_present {
            self.set_stance(Some(Claim::Exclusive), Some(true));
            return Ok(Some(true));
        }
        if fail_when_locked {
            self.unsubscribe();
            return Err(Refusal::AlreadyLocked);
        }
        self.set_stance(None, Some(true));
        Ok(Some(false))
    }

    /// portalocker's `_resolve_lock_holders`.
    pub(super) fn resolve(
        &mut self,
        records: Option<Vec<Record>>,
        fail_when_locked: bool,
    ) -> Result<bool, Refusal> {
        if let Some(records) = &records {
            if self.shared && records.iter().all(|r| r.claim == Claim::Shared) {
                return Ok(true);
            }
            if !self.shared
                && let Some(held) = self.resolve_writer(records, fail_when_locked)?
            {
                return Ok(held);
            }
        }
        if records.is_none() && self.stance().elected {
            return Ok(false);
        }
        self.set_stance(None, Some(false));
        self.unsubscribe();
        if fail_when_locked && records.is_some() {
            return Err(Refusal::AlreadyLocked);
        }
        Ok(false)
    }

    /// portalocker's `_confirm_exclusive_promotion`.
    pub(super) async fn confirm_promotion(
        &mut self,
        fail_when_locked: bool,
    ) -> Result<bool, Refusal> {
        let deadline = Instant::now() + UNAVAILABLE_TIMEOUT;
        let mut first = true;
        loop {
            if !first {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                tokio::time::sleep(jitter(CHECK_INTERVAL).min(deadline - now)).await;
            }
            first = false;
            let count = self.backend.subscribers(&self.channel).await?;
            if count <= 1 {
                return Ok(true);
            }
            let Some(records) = self.collect(count).await? else {
                continue;
            };
            match protocol::verdict(&self.holder_id, &records) {
                Verdict::Confirmed => return Ok(true),
                Verdict::Demote => break,
                Verdict::Retry => {}
            }
        }
        self.set_stance(Some(Claim::Pending), Some(false));
        self.unsubscribe();
        if fail_when_locked {
            return Err(Refusal::AlreadyLocked);
        }
        Ok(false)
    }
}
