//! A participant's subscription to the lock's channel: the named connection
//! that counts it among the channel's subscribers, and the task that answers
//! probes' pings with its stance, until the connection dies (the lock is then
//! lost) or the subscription is dropped (the release).

use std::sync::{Arc, Mutex};

use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use super::CompatBackend;
use super::client::message_of;
use super::protocol::{Claim, PROTOCOL_VERSION};
use crate::named_lock::lost::LostSignal;

/// The claim and election a participant answers pings with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stance {
    pub(super) claim: Claim,
    pub(super) elected: bool,
}

/// A live subscription to the lock's channel: while it lives, the
/// participant is counted, and answers pings.
pub(super) struct Subscription {
    /// The named, subscribed connection; dropping the last handle closes it.
    pub(super) _connection: MultiplexedConnection,
    pub(super) answerer: JoinHandle<()>,
    /// Trips when the connection dies.
    pub(super) lost: LostSignal,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Stop answering first, so a release is never mistaken for a loss.
        self.answerer.abort();
    }
}

/// Answers pings on `channel` with the participant's stance until the
/// connection dies (then trips `lost`) or the task is aborted.
pub(super) async fn answer_pings(
    backend: Arc<CompatBackend>,
    channel: String,
    holder_id: String,
    stance: Arc<Mutex<Stance>>,
    mut pushes: UnboundedReceiver<PushInfo>,
    lost: LostSignal,
) {
    while let Some(push) = pushes.recv().await {
        if push.kind == PushKind::Disconnection {
            break;
        }
        let Some((from, payload)) = message_of(&push) else {
            continue;
        };
        if from != channel {
            continue;
        }
        let Some(response_channel) = serde_json::from_str::<serde_json::Value>(&payload)
            .ok()
            .and_then(|data| Some(data.get("response_channel")?.as_str()?.to_owned()))
            .filter(|channel| !channel.is_empty())
        else {
            continue;
        };
        let Stance { claim, elected } = *stance.lock().unwrap_or_else(|e| e.into_inner());
        let record = serde_json::json!({
            "holder_id": holder_id,
            "mode": claim.wire(),
            "protocol": PROTOCOL_VERSION,
            "elected": elected,
        });
        if let Err(err) = backend
            .publish(&response_channel, &record.to_string())
            .await
        {
            tracing::debug!(?err, "answering a portalocker ping failed");
        }
    }
    lost.trip();
}
