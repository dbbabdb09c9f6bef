//! One member of a group: who it is, which protocols it runs, when its
//! session runs out, and the JoinGroup or SyncGroup response it waits for.
//!
//! A delayed response is a `oneshot` sender kept here; the state machine
//! answers it, under the group's lock, when the rebalance gets that far.
//! Answering never blocks, so it is safe under a std mutex.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::requests::{JoinOutcome, JoinRequest, Protocol, SyncOutcome};

#[derive(Debug)]
pub(crate) struct Member {
    pub id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// What the leader assigned it in the current generation.
    pub assignment: Bytes,
    /// When it joined, relative to the group's other members: the earliest
    /// becomes leader when the group has none.
    pub join_seq: u64,
    /// When the member is removed unless it is heard from again. Not
    /// running while it waits for a JoinGroup or SyncGroup response (it
    /// cannot heartbeat on that connection then; Kafka does the same).
    pub session_deadline: Instant,
    pub awaiting_join: Option<oneshot::Sender<JoinOutcome>>,
    pub awaiting_sync: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    /// A new member from its JoinGroup; its session starts now.
    pub fn new(id: String, request: JoinRequest, join_seq: u64, now: Instant) -> Member {
        Member {
            id,
            group_instance_id: request.group_instance_id,
            client_id: request.client_id,
            client_host: request.client_host,
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: request.protocols,
            assignment: Bytes::new(),
            join_seq,
            session_deadline: now + request.session_timeout,
            awaiting_join: None,
            awaiting_sync: None,
        }
    }

    /// Takes what a rejoin may change.
    pub fn update(&mut self, request: JoinRequest) {
        self.client_id = request.client_id;
        self.client_host = request.client_host;
        self.session_timeout = request.session_timeout;
        self.rebalance_timeout = request.rebalance_timeout;
        self.protocols = request.protocols;
    }

    /// The member's metadata for `protocol` (empty if it does not run it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }

    /// Restarts the session clock: the member was heard from.
    pub fn touch(&mut self, now: Instant) {
        self.session_deadline = now + self.session_timeout;
    }

    /// The session deadline, unless the member is waiting for a response.
    pub fn ticking_deadline(&self) -> Option<Instant> {
        (self.awaiting_join.is_none() && self.awaiting_sync.is_none())
            .then_some(self.session_deadline)
    }

    /// Answers a waiting JoinGroup, if there is one.
    pub fn answer_join(&mut self, outcome: JoinOutcome) {
        if let Some(waiter) = self.awaiting_join.take() {
            // The request may have been abandoned; nothing to do then.
            let _ = waiter.send(outcome);
        }
    }

    /// Answers a waiting SyncGroup, if there is one.
    pub fn answer_sync(&mut self, outcome: SyncOutcome) {
        if let Some(waiter) = self.awaiting_sync.take() {
            let _ = waiter.send(outcome);
        }
    }

    /// Answers whatever the member waits for with `error`.
    pub fn fail_waiters(&mut self, error: ResponseError) {
        self.answer_join(JoinOutcome::error(error, self.id.clone()));
        self.answer_sync(Err(error));
    }
}

/// A fresh member id, `{client_id}-{uuid-like}` as Kafka makes them.
///
/// Unique (a process-wide counter is hashed with randomly keyed SipHash),
/// but not a secret: like Kafka, the coordinator trusts whoever presents a
/// member id.
pub(crate) fn new_member_id(client_id: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(count);
        hasher.write_u64(salt);
        hasher.finish()
    };
    let (high, low) = (random(1), random(2));
    format!(
        "{client_id}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn member_ids_carry_the_client_id_and_do_not_repeat() {
        let ids: HashSet<String> = (0..1000).map(|_| new_member_id("rdkafka")).collect();
        assert_eq!(ids.len(), 1000);
        let id = ids.iter().next().unwrap();
        assert!(id.starts_with("rdkafka-"), "{id}");
        assert_eq!(id.len(), "rdkafka-".len() + 36, "{id}");
    }
}
