//! The decisions of portalocker's `RedisLock` protocol (version 1) that
//! depend on the records a probe collected alone: who is elected, who must
//! forfeit, what a confirm probe concludes. Pure functions of the records
//! and this participant's holder id, so they are tested against
//! portalocker's own examples here.

/// The record version portalocker stamps into ping answers.
pub(super) const PROTOCOL_VERSION: u64 = 1;

/// What a participant claims (portalocker's `RedisLockMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    Exclusive,
    Pending,
    Shared,
}

impl Claim {
    pub(super) fn wire(self) -> &'static str {
        match self {
            Claim::Exclusive => "exclusive",
            Claim::Pending => "pending",
            Claim::Shared => "shared",
        }
    }
}

/// One answer to a ping (portalocker's `RedisLockHolder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) holder_id: String,
    pub(super) claim: Claim,
    pub(super) legacy: bool,
    pub(super) elected: Option<bool>,
}

/// Parses an answer; anything unreadable is a legacy exclusive holder, as
/// portalocker's `_parse_lock_response` does.
pub(super) fn parse_record(payload: &str, legacy_index: usize) -> Record {
    let parsed = serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|data| {
            let data = data.as_object()?;
            if data.get("protocol")?.as_u64()? != PROTOCOL_VERSION {
                return None;
            }
            let holder_id = data.get("holder_id")?.as_str()?.to_owned();
            let claim = match data.get("mode")?.as_str()? {
                "exclusive" => Claim::Exclusive,
                "pending" => Claim::Pending,
                "shared" => Claim::Shared,
                _ => return None,
            };
            let elected = data.get("elected").and_then(serde_json::Value::as_bool);
            Some(Record {
                holder_id,
                claim,
                legacy: false,
                elected,
            })
        });
    parsed.unwrap_or_else(|| Record {
        holder_id: format!("legacy-{legacy_index}"),
        claim: Claim::Exclusive,
        legacy: true,
        elected: None,
    })
}

/// A verdict of a confirm probe (portalocker's `_ConfirmVerdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Confirmed,
    Retry,
    Demote,
}

/// portalocker's `_writer_is_elected`.
pub(super) fn is_elected(holder_id: &str, records: &[Record]) -> bool {
    if records.iter().any(|r| r.claim == Claim::Exclusive) {
        return false;
    }
    if records
        .iter()
        .any(|r| r.elected == Some(true) && r.holder_id != holder_id)
    {
        return false;
    }
    records
        .iter()
        .filter(|r| r.claim == Claim::Pending)
        .map(|r| r.holder_id.as_str())
        .min()
        == Some(holder_id)
}

/// portalocker's `_must_forfeit`.
pub(super) fn must_forfeit(holder_id: &str, records: &[Record]) -> bool {
    records.iter().any(|r| {
        if r.holder_id == holder_id {
            return false;
        }
        let lower = r.holder_id.as_str() < holder_id;
        r.claim == Claim::Exclusive
            || (r.elected == Some(true) && lower)
            || (r.claim == Claim::Pending && r.elected.is_none() && lower)
    })
}

/// portalocker's `_confirm_probe_verdict`.
pub(super) fn verdict(holder_id: &str, records: &[Record]) -> Verdict {
    let mut verdict = Verdict::Confirmed;
    for r in records {
        if r.holder_id == holder_id {
            continue;
        }
        if r.claim == Claim::Shared {
            return Verdict::Demote;
        }
        let lower = r.holder_id.as_str() < holder_id;
        if r.claim == Claim::Exclusive {
            if r.legacy || r.elected.is_none() || lower {
                return Verdict::Demote;
            }
            continue;
        }
        if !lower {
            continue;
        }
        if r.elected.is_none() {
            return Verdict::Demote;
        }
        verdict = Verdict::Retry;
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, claim: Claim, elected: Option<bool>) -> Record {
        Record {
            holder_id: id.into(),
            claim,
            legacy: false,
            elected,
        }
    }

    #[test]
    fn records_parse_like_portalocker() {
        let parsed = parse_record(
            r#"{"holder_id": "a1b2", "mode": "shared", "protocol": 1, "elected": false}"#,
            0,
        );
        assert_eq!(parsed, record("a1b2", Claim::Shared, Some(false)));
        let old = parse_record(
            r#"{"holder_id": "a1", "mode": "pending", "protocol": 1}"#,
            0,
        );
        assert_eq!(old, record("a1", Claim::Pending, None));
        // A 3.2 timestamp, a future mode, another version: legacy exclusive.
        for payload in [
            "1700000000.5",
            r#"{"holder_id": "x", "mode": "upgrading", "protocol": 1}"#,
            r#"{"holder_id": "x", "mode": "shared", "protocol": 2}"#,
        ] {
            let legacy = parse_record(payload, 3);
            assert!(
                legacy.legacy && legacy.claim == Claim::Exclusive,
                "{payload}"
            );
            assert_eq!(legacy.holder_id, "legacy-3");
        }
    }

    #[test]
    fn the_lowest_pending_id_is_elected_unless_someone_was() {
        let pending = |id| record(id, Claim::Pending, Some(false));
        // portalocker's `_writer_is_elected` examples.
        assert!(!is_elected("bbb", &[pending("aaa"), pending("bbb")]));
        assert!(is_elected("bbb", &[pending("bbb"), pending("ccc")]));
        assert!(!is_elected(
            "bbb",
            &[pending("bbb"), record("zzz", Claim::Pending, Some(true))]
        ));
        assert!(!is_elected(
            "bbb",
            &[pending("bbb"), record("ccc", Claim::Exclusive, Some(true))]
        ));
        // Readers do not block an election.
        assert!(is_elected(
            "bbb",
            &[pending("bbb"), record("aaa", Claim::Shared, Some(false))]
        ));
    }

    #[test]
    fn an_election_is_forfeited_to_what_outranks_it() {
        let me = record("mmm", Claim::Pending, Some(true));
        let forfeits = |other: Record| must_forfeit("mmm", &[me.clone(), other]);
        assert!(forfeits(record("zzz", Claim::Exclusive, Some(true))));
        assert!(forfeits(record("aaa", Claim::Pending, Some(true))));
        assert!(!forfeits(record("zzz", Claim::Pending, Some(true))));
        assert!(forfeits(record("aaa", Claim::Pending, None)));
        assert!(!forfeits(record("aaa", Claim::Pending, Some(false))));
        assert!(!forfeits(record("aaa", Claim::Shared, Some(false))));
    }

    #[test]
    fn confirm_probes_resolve_rivals_by_id() {
        let me = record("mmm", Claim::Exclusive, Some(true));
        let judge = |other: Record| verdict("mmm", &[me.clone(), other]);
        assert_eq!(
            judge(record("zzz", Claim::Shared, Some(false))),
            Verdict::Demote
        );
        assert_eq!(
            judge(record("aaa", Claim::Exclusive, Some(true))),
            Verdict::Demote
        );
        assert_eq!(
            judge(record("zzz", Claim::Exclusive, Some(true))),
            Verdict::Confirmed
        );
        assert_eq!(
            judge(record("zzz", Claim::Exclusive, None)),
            Verdict::Demote
        );
        assert_eq!(
            judge(record("aaa", Claim::Pending, Some(false))),
            Verdict::Retry
        );
        assert_eq!(judge(record("aaa", Claim::Pending, None)), Verdict::Demote);
        assert_eq!(
            judge(record("zzz", Claim::Pending, Some(false))),
            Verdict::Confirmed
        );
        assert_eq!(
            verdict("mmm", std::slice::from_ref(&me)),
            Verdict::Confirmed
        );
    }
}
