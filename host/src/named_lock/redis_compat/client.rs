//! The connections of a compatible namespace: one multiplexed connection
//! for commands, shared by every participant, and a RESP3 connection per
//! subscription or probe, whose pushed messages (and disconnection) arrive
//! on a channel of their own.

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::CompatBackend;
use crate::named_lock::error::BackendError;

/// Why an attempt ended without the lock, other than "try again".
#[derive(Debug)]
pub(super) enum Refusal {
    /// Conclusively held (only when failing when locked).
    AlreadyLocked,
    /// Redis could not be used.
    Unavailable(BackendError),
}

impl From<redis::RedisError> for Refusal {
    fn from(err: redis::RedisError) -> Self {
        Refusal::Unavailable(BackendError::Unavailable(err.to_string()))
    }
}

impl From<BackendError> for Refusal {
    fn from(err: BackendError) -> Self {
        Refusal::Unavailable(err)
    }
}

impl CompatBackend {
    /// The command connection, connecting when there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, BackendError> {
        if let Some(connection) = self.lock_connection().clone() {
            return Ok(connection);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = self
            .commands
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| BackendError::Unavailable(err.to_string()))?;
        *self.lock_connection() = Some(connection.clone());
        Ok(connection)
    }

    fn lock_connection(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a command, dropping the connection when it fails.
    pub(super) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, Refusal> {
        let mut connection = self.connection().await?;
        match cmd.query_async(&mut connection).await {
            Ok(value) => Ok(value),
            Err(err) => {
                *self.lock_connection() = None;
                Err(err.into())
            }
        }
    }

    /// A new RESP3 connection whose pushes (messages, disconnection) go to
    /// the returned receiver.
    pub(super) async fn subscriber(
        &self,
    ) -> Result<(MultiplexedConnection, UnboundedReceiver<PushInfo>), Refusal> {
        let (pushes, received) = unbounded_channel();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_push_sender(pushes);
        let connection = self
            .subscriptions
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        Ok((connection, received))
    }

    pub(super) async fn subscribers(&self, channel: &str) -> Result<usize, Refusal> {
        let (_, count): (String, usize) = self
            .query(redis::cmd("PUBSUB").arg("NUMSUB").arg(channel))
            .await?;
        Ok(count)
    }

    pub(super) async fn publish(&self, channel: &str, message: &str) -> Result<(), Refusal> {
        self.query::<i64>(redis::cmd("PUBLISH").arg(channel).arg(message))
            .await
            .map(drop)
    }
}

/// The channel and payload of a pushed pub/sub message.
pub(super) fn message_of(push: &PushInfo) -> Option<(String, String)> {
    if push.kind != PushKind::Message {
        return None;
    }
    let [channel, payload] = push.data.as_slice() else {
        return None;
    };
    let text = |value: &Value| redis::from_redis_value_ref::<String>(value).ok();
    Some((text(channel)?, text(payload)?))
}
