//! Probing the lock's channel: pinging its subscribers and collecting their
//! records (portalocker's `_collect_lock_holders`), and killing the
//! connections of holders that do not answer (`_kill_unavailable_locks`).

use std::collections::BTreeMap;
use std::time::Instant;

use redis::{PushKind, Value};

use super::client::{Refusal, message_of};
use super::participant::Participant;
use super::protocol::{Record, parse_record};
use super::{CHECK_INTERVAL, UNAVAILABLE_TIMEOUT};
use crate::named_lock::error::BackendError;

impl Participant {
    /// Pings the channel and collects who is there; `None` when the probe
    /// is inconclusive (portalocker's `_collect_lock_holders`).
    pub(super) async fn collect(&self, expected: usize) -> Result<Option<Vec<Record>>, Refusal> {
        let response_channel = format!("{}-{}", self.channel, uuid::Uuid::new_v4().simple());
        let (mut connection, mut pushes) = self.backend.subscriber().await?;
        connection.subscribe(&response_channel).await?;
        if self.backend.subscribers(&self.channel).await? != expected {
            return Ok(None);
        }
        let ping = serde_json::json!({"message": "ping", "response_channel": response_channel});
        self.backend
            .publish(&self.channel, &ping.to_string())
            .await?;
        let mut records: BTreeMap<String, Record> = BTreeMap::new();
        let deadline = Instant::now() + UNAVAILABLE_TIMEOUT;
        'collecting: loop {
            let recheck = (Instant::now() + CHECK_INTERVAL).min(deadline);
            while let Ok(Some(push)) = tokio::time::timeout_at(recheck.into(), pushes.recv()).await
            {
                if push.kind == PushKind::Disconnection {
                    return Err(Refusal::Unavailable(BackendError::Unavailable(
                        "the probe's connection closed".into(),
                    )));
                }
                let Some((from, payload)) = message_of(&push) else {
                    continue;
                };
                if from != response_channel {
                    continue;
                }
                let legacy = records.values().filter(|record| record.legacy).count();
                let record = parse_record(&payload, legacy);
                records.insert(record.holder_id.clone(), record);
                if records.len() >= expected {
                    break 'collecting;
                }
            }
            if Instant::now() >= deadline {
                break;
            }
            if self.backend.subscribers(&self.channel).await? != expected {
                return Ok(None);
            }
        }
        if self.backend.subscribers(&self.channel).await? != expected {
            return Ok(None);
        }
        if records.len() < expected {
            self.reap(&records).await?;
            return Ok(None);
        }
        Ok(Some(records.into_values().collect()))
    }

    /// Kills the connections of holders of this channel that did not
    /// answer (portalocker's `_kill_unavailable_locks`).
    async fn reap(&self, answered: &BTreeMap<String, Record>) -> Result<(), Refusal> {
        let legacy_name = format!("{}-lock", self.channel);
        let legacy_answered = answered.values().any(|record| record.legacy);
        let clients: String = self.backend.query(redis::cmd("CLIENT").arg("LIST")).await?;
        for line in clients.lines() {
            let field = |key: &str| {
                line.split(' ')
                    .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            };
            let (Some(id), Some(name)) = (field("id"), field("name")) else {
                continue;
            };
            let silent = if name == legacy_name {
                !legacy_answered
            } else {
                name.strip_prefix(legacy_name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .filter(|holder| {
                        holder.len() == 32
                            && holder
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    })
                    .is_some_and(|holder| !answered.contains_key(holder))
            };
            if silent {
                tracing::warn!(name, "killing an unavailable portalocker holder");
                self.backend
                    .query::<Value>(redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id))
                    .await?;
            }
        }
        Ok(())
    }
}
