//! A participant: one acquisition in progress, portalocker's `RedisLock`
//! instance. It subscribes to the lock's channel, probes who else is there,
//! decides by the protocol's rules (the `election` and `probe` modules), and
//! becomes the held lock's lease once it has won.

use std::sync::{Arc, Mutex};

use super::client::Refusal;
use super::protocol::Claim;
use super::subscription::{Stance, Subscription, answer_pings};
use super::{CompatBackend, CompatLease, fencing};
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::named_lock::lost::LostSignal;

/// One acquisition in progress: portalocker's `RedisLock` instance.
pub(super) struct Participant {
    pub(super) backend: Arc<CompatBackend>,
    pub(super) channel: String,
    pub(super) holder_id: String,
    pub(super) shared: bool,
    stance: Arc<Mutex<Stance>>,
    subscription: Option<Subscription>,
}

impl Participant {
    pub(super) fn new(backend: Arc<CompatBackend>, name: &str, mode: LockMode) -> Self {
        let shared = mode == LockMode::Shared;
        Participant {
            channel: format!("{}{name}", backend.prefix),
            backend,
            holder_id: uuid::Uuid::new_v4().simple().to_string(),
            shared,
            stance: Arc::new(Mutex::new(Stance {
                claim: if shared {
                    Claim::Shared
                } else {
                    Claim::Pending
                },
                elected: false,
            })),
            subscription: None,
        }
    }

    pub(super) fn stance(&self) -> Stance {
        *self.stance.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_stance(&self, claim: Option<Claim>, elected: Option<bool>) {
        let mut stance = self.stance.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(claim) = claim {
            stance.claim = claim;
        }
        if let Some(elected) = elected {
            stance.elected = elected;
        }
    }

    /// Subscribes on a connection named as portalocker names holders, so
    /// that probers can tell (and reap) this holder.
    async fn subscribe(&mut self) -> Result<(), Refusal> {
        let (mut connection, pushes) = self.backend.subscriber().await?;
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(format!("{}-lock-{}", self.channel, self.holder_id))
            .query_async::<()>(&mut connection)
            .await?;
        // Returns once the server confirmed the subscription, so the count
        // that follows includes this participant.
        connection.subscribe(&self.channel).await?;
        let lost = LostSignal::new();
        let answerer = self.backend.runtime.spawn(answer_pings(
            Arc::clone(&self.backend),
            self.channel.clone(),
            self.holder_id.clone(),
            Arc::clone(&self.stance),
            pushes,
            lost.clone(),
        ));
        self.subscription = Some(Subscription {
            _connection: connection,
            answerer,
            lost,
        });
        Ok(())
    }

    /// Leaves the channel (the back-off between attempts, and the release).
    pub(super) fn unsubscribe(&mut self) {
        self.subscription = None;
    }

    /// One attempt (portalocker's `_acquire_attempt` and
    /// `_probe_and_decide`): `Ok(Some(token))` when held (the token only
    /// for exclusive grants), `Ok(None)` to try again.
    pub(super) async fn attempt(
        &mut self,
        fail_when_locked: bool,
    ) -> Result<Option<Option<u64>>, Refusal> {
        if self
            .subscription
            .as_ref()
            .is_some_and(|subscription| subscription.lost.is_lost())
        {
            self.unsubscribe();
        }
        if self.subscription.is_none() {
            self.subscribe().await?;
        }
        let count = self.backend.subscribers(&self.channel).await?;
        if count == 1 {
            if !self.shared {
                self.set_stance(Some(Claim::Exclusive), None);
            }
        } else {
            let records = self.collect(count).await?;
            if !self.resolve(records, fail_when_locked)? {
                return Ok(None);
            }
        }
        let mut token = None;
        if !self.shared {
            if !self.confirm_promotion(fail_when_locked).await? {
                return Ok(None);
            }
            token = Some(fencing::draw(&self.backend, &self.channel).await?);
        }
        if self
            .subscription
            .as_ref()
            .is_none_or(|subscription| subscription.lost.is_lost())
        {
            self.unsubscribe();
            return Ok(None);
        }
        Ok(Some(token))
    }

    /// The held lock, from a successful attempt (which leaves the
    /// participant subscribed).
    pub(super) fn into_lease(mut self, token: Option<u64>) -> CompatLease {
        let subscription = self.subscription.take();
        let lost = subscription
            .as_ref()
            .map_or_else(LostSignal::new, |subscription| subscription.lost.clone());
        if subscription.is_none() {
            lost.trip();
        }
        CompatLease::new(subscription, token, lost)
    }
}
