//! The cluster as one client sees it: bootstrap, cached metadata, one
//! connection per broker, group coordinators.
//!
//! Producers, consumers and the admin client all hold an `Arc<Cluster>`
//! and ask it for "the connection to the leader of orders-3" or "the
//! coordinator of group g". Metadata is fetched per topic on first use and
//! cached until a caller reports it stale ([`Cluster::invalidate_topic`],
//! after NOT_LEADER_OR_FOLLOWER or UNKNOWN_TOPIC_OR_PARTITION). A
//! connection that failed is replaced on the next call.
//!
//! Connections here are shared by every user of the cluster, so they
//! carry short requests. A consumer fetches over connections of its own
//! ([`Cluster::dedicated`]) and a group member talks to its coordinator
//! over its own, because the broker answers a connection's requests in
//! order: a Fetch held for `max_wait`, or a JoinGroup held for a whole
//! rebalance, would hold up every request behind it.
//!
//! The state sits behind a std `Mutex` that is only held to read or swap
//! map entries, never across an `.await`: connecting and asking Metadata
//! happen outside it, and when two callers race to connect to the same
//! broker the first connection inserted wins.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use sluice_protocol::kafka_protocol::error::ResponseError;
use sluice_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, MetadataRequest, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::metadata::{BrokerInfo, MetadataSnapshot, TopicMetadata};

/// FindCoordinator key type of a consumer group.
const COORDINATOR_KEY_GROUP: i8 = 0;

#[derive(Default)]
struct State {
    brokers: BTreeMap<i32, BrokerInfo>,
    cluster_id: Option<String>,
    controller_id: i32,
    topics: HashMap<String, Arc<TopicMetadata>>,
    /// Keyed by `host:port`, so a bootstrap address and the same broker's
    /// advertised address share one connection.
    connections: HashMap<String, Arc<Connection>>,
    /// Group → coordinator address.
    coordinators: HashMap<String, String>,
}

/// A client's view of the cluster; share it behind an `Arc`.
pub struct Cluster {
    config: ClientConfig,
    state: Mutex<State>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bootstrap", &self.config.bootstrap)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to the first reachable bootstrap broker and learns the
    /// cluster's brokers.
    ///
    /// # Errors
    /// [`ClientError::InvalidConfig`] without bootstrap addresses; the
    /// connection error of the last address tried when none answers.
    pub async fn connect(config: ClientConfig) -> Result<Arc<Cluster>> {
        if config.bootstrap.is_empty() {
            return Err(ClientError::InvalidConfig {
                reason: "no bootstrap brokers given".into(),
            });
        }
        let cluster = Arc::new(Cluster {
            config,
            state: Mutex::new(State::default()),
        });
        cluster.refresh(&[]).await?;
        Ok(cluster)
    }

    /// The settings this client runs with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Poisoning would mean a panic while swapping map entries, which
        // leaves the maps consistent; carry on with them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The brokers from the latest Metadata, by node id.
    pub fn brokers(&self) -> BTreeMap<i32, BrokerInfo> {
        self.state().brokers.clone()
    }

    /// The cluster id and controller from the latest Metadata.
    pub fn cluster_id(&self) -> (Option<String>, i32) {
        let state = self.state();
        (state.cluster_id.clone(), state.controller_id)
    }

    /// The connection to `addr`, opened if there is none or the last one
    /// failed.
    ///
    /// # Errors
    /// As [`Connection::connect`].
    pub async fn connection(&self, addr: &str) -> Result<Arc<Connection>> {
        if let Some(connection) = self.state().connections.get(addr) {
            if !connection.is_closed() {
                return Ok(connection.clone());
            }
        }
        let connection = Arc::new(Connection::connect(addr, &self.config).await?);
        let mut state = self.state();
        let entry = state
            .connections
            .entry(addr.to_owned())
            .or_insert_with(|| connection.clone());
        if entry.is_closed() {
            *entry = connection;
        }
        Ok(entry.clone())
    }

    /// The connection to broker `node_id`.
    ///
    /// # Errors
    /// As [`Cluster::broker_addr`] and [`Cluster::connection`].
    pub async fn broker(&self, node_id: i32) -> Result<Arc<Connection>> {
        let addr = self.broker_addr(node_id).await?;
        self.connection(&addr).await
    }

    /// The `host:port` of broker `node_id`, refreshing metadata once if it
    /// is not known yet.
    ///
    /// # Errors
    /// [`ClientError::UnknownBroker`] when metadata does not list it.
    pub async fn broker_addr(&self, node_id: i32) -> Result<String> {
        if let Some(broker) = self.state().brokers.get(&node_id) {
            return Ok(broker.addr());
        }
        self.refresh(&[]).await?;
        let state = self.state();
        match state.brokers.get(&node_id) {
            Some(broker) => Ok(broker.addr()),
            None => Err(ClientError::UnknownBroker { node_id }),
        }
    }

    /// A connection to any broker: a live one if there is one, else the
    /// known brokers and then the bootstrap list, in order.
    ///
    /// # Errors
    /// The last connection error when no broker answers.
    pub async fn any(&self) -> Result<Arc<Connection>> {
        let candidates: Vec<String> = {
            let state = self.state();
            if let Some(live) = state.connections.values().find(|c| !c.is_closed()) {
                return Ok(live.clone());
            }
            let known = state.brokers.values().map(BrokerInfo::addr);
            let mut candidates: Vec<String> = known.collect();
            for addr in &self.config.bootstrap {
                if !candidates.contains(addr) {
                    candidates.push(addr.clone());
                }
            }
            candidates
        };
        let mut last_error = None;
        for addr in candidates {
            match self.connection(&addr).await {
                Ok(connection) => return Ok(connection),
                Err(error) => {
                    debug!(%addr, %error, "broker unreachable");
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or(ClientError::InvalidConfig {
            reason: "no bootstrap brokers given".into(),
        }))
    }

    /// Asks Metadata for `topics` (only brokers when empty) and updates the
    /// cache: described topics replace their entries, topics answered with
    /// an error are dropped from it.
    ///
    /// # Errors
    /// Connection failures after [`ClientConfig::retries`] attempts.
    pub async fn refresh(&self, topics: &[&str]) -> Result<MetadataSnapshot> {
        let names = topics
            .iter()
            .map(|name| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string((*name).to_owned()))))
            })
            .collect();
        self.ask_metadata(Some(names)).await
    }

    /// Asks Metadata for every topic of the cluster.
    ///
    /// # Errors
    /// As [`Cluster::refresh`].
    pub async fn refresh_all(&self) -> Result<MetadataSnapshot> {
        self.ask_metadata(None).await
    }

    async fn ask_metadata(
        &self,
        topics: Option<Vec<MetadataRequestTopic>>,
    ) -> Result<MetadataSnapshot> {
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let result = async {
                let connection = self.any().await?;
                let version = connection.version(ApiKey::Metadata)?;
                // v0 reads an empty list as "all topics"; ask for none
                // there by naming none only from v1 on.
                let topics = match &topics {
                    Some(list) if list.is_empty() && version == 0 => return Ok(None),
                    other => other.clone(),
                };
                let request = MetadataRequest::default().with_topics(topics);
                let request = if version >= 4 {
                    request.with_allow_auto_topic_creation(false)
                } else {
                    request
                };
                let timeout = self.config.request_timeout;
                connection
                    .send_at(request, version, timeout)
                    .await
                    .map(Some)
            }
            .await;
            match result {
                Ok(response) => break response,
                Err(error) if error.is_retriable() && attempt <= self.config.retries => {
                    debug!(%error, attempt, "metadata request failed; retrying");
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                Err(error) => return Err(error),
            }
        };
        let Some(response) = response else {
            return Ok(MetadataSnapshot::default());
        };
        let snapshot = MetadataSnapshot::from_response(response);
        let mut state = self.state();
        if !snapshot.brokers.is_empty() {
            state.brokers = snapshot.brokers.clone();
        }
        state.cluster_id = snapshot.cluster_id.clone();
        state.controller_id = snapshot.controller_id;
        for (name, topic) in &snapshot.topics {
            state.topics.insert(name.clone(), Arc::new(topic.clone()));
        }
        for name in snapshot.topic_errors.keys() {
            state.topics.remove(name);
        }
        Ok(snapshot)
    }

    /// The topic's metadata, from the cache or a fresh Metadata request.
    ///
    /// # Errors
    /// [`ClientError::UnknownTopic`] when the cluster does not have it; a
    /// [`ClientError::Kafka`] for another topic error that persists after
    /// the retries (LEADER_NOT_AVAILABLE right after creation resolves
    /// itself within them).
    pub async fn topic(&self, name: &str) -> Result<Arc<TopicMetadata>> {
        if let Some(topic) = self.state().topics.get(name) {
            return Ok(topic.clone());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let snapshot = self.refresh(&[name]).await?;
            if let Some(topic) = self.state().topics.get(name) {
                return Ok(topic.clone());
            }
            let code = snapshot.topic_errors.get(name).copied().unwrap_or(3);
            let error = ResponseError::try_from_code(code).unwrap_or(ResponseError::Unknown(0));
            if error == ResponseError::UnknownTopicOrPartition {
                return Err(ClientError::UnknownTopic {
                    topic: name.to_owned(),
                });
            }
            if !error.is_retriable() || attempt > self.config.retries {
                return Err(ClientError::Kafka {
                    api: ApiKey::Metadata,
                    resource: format!("topic {name}"),
                    error,
                    message: None,
                });
            }
            tokio::time::sleep(self.config.retry_backoff).await;
        }
    }

    /// Forgets the cached metadata of `topic`, so the next call asks again
    /// (after NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, or a
    /// connection failure to its leader).
    pub fn invalidate_topic(&self, topic: &str) {
        self.state().topics.remove(topic);
    }

    /// The node id leading `topic`-`partition`.
    ///
    /// # Errors
    /// [`ClientError::UnknownTopic`], [`ClientError::UnknownPartition`], or
    /// [`ClientError::NoLeader`] while no leader is elected.
    pub async fn leader_id(&self, topic: &str, partition: i32) -> Result<i32> {
        let metadata = self.topic(topic).await?;
        let Some(found) = metadata.partition(partition) else {
            return Err(ClientError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions: metadata.partitions.len(),
            });
        };
        if found.leader < 0 {
            self.invalidate_topic(topic);
            return Err(ClientError::NoLeader {
                topic: topic.to_owned(),
                partition,
                leader: found.leader,
            });
        }
        Ok(found.leader)
    }

    /// The connection to the leader of `topic`-`partition`.
    ///
    /// # Errors
    /// As [`Cluster::leader_id`] and [`Cluster::broker`].
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<Arc<Connection>> {
        let leader = self.leader_id(topic, partition).await?;
        self.broker(leader).await
    }

    /// The `host:port` of the coordinator of consumer group `group`, found
    /// with FindCoordinator and cached until
    /// [`Cluster::invalidate_coordinator`].
    ///
    /// # Errors
    /// A FindCoordinator error (COORDINATOR_NOT_AVAILABLE persists only if
    /// the cluster cannot host groups) or a connection error.
    pub async fn coordinator_addr(&self, group: &str) -> Result<String> {
        if let Some(addr) = self.state().coordinators.get(group) {
            return Ok(addr.clone());
        }
        let addr = self.find_coordinator(group).await?;
        self.state()
            .coordinators
            .insert(group.to_owned(), addr.clone());
        Ok(addr)
    }

    /// The shared connection to the coordinator of `group`, for short
    /// requests (DescribeGroups, OffsetFetch). A group member uses a
    /// connection of its own instead: its JoinGroup may be held by the
    /// coordinator for a whole rebalance, and nothing should queue behind
    /// it.
    ///
    /// # Errors
    /// As [`Cluster::coordinator_addr`] and [`Cluster::connection`].
    pub async fn coordinator(&self, group: &str) -> Result<Arc<Connection>> {
        let addr = self.coordinator_addr(group).await?;
        match self.connection(&addr).await {
            Ok(connection) => Ok(connection),
            Err(error) => {
                self.invalidate_coordinator(group);
                Err(error)
            }
        }
    }

    /// A new connection to broker `node_id`, not shared with anything:
    /// for traffic that must not wait behind other requests, or hold them
    /// up (a consumer's long-polling fetches).
    ///
    /// # Errors
    /// As [`Cluster::broker_addr`] and [`Connection::connect`].
    pub async fn dedicated(&self, node_id: i32) -> Result<Arc<Connection>> {
        let addr = self.broker_addr(node_id).await?;
        Ok(Arc::new(Connection::connect(&addr, &self.config).await?))
    }

    /// Forgets the coordinator of `group` (after NOT_COORDINATOR or a lost
    /// connection).
    pub fn invalidate_coordinator(&self, group: &str) {
        self.state().coordinators.remove(group);
    }

    async fn find_coordinator(&self, group: &str) -> Result<String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let connection = self.any().await?;
            let version = connection.version(ApiKey::FindCoordinator)?;
            let key = StrBytes::from_string(group.to_owned());
            let request = if version >= 4 {
                FindCoordinatorRequest::default()
                    .with_key_type(COORDINATOR_KEY_GROUP)
                    .with_coordinator_keys(vec![key])
            } else {
                FindCoordinatorRequest::default().with_key(key)
            };
            let timeout = self.config.request_timeout;
            let response = connection.send_at(request, version, timeout).await?;
            let (code, message, host, port) = if version >= 4 {
                match response.coordinators.into_iter().next() {
                    Some(c) => (c.error_code, c.error_message, c.host, c.port),
                    None => (-1, None, StrBytes::default(), 0),
                }
            } else {
                let r = response;
                (r.error_code, r.error_message, r.host, r.port)
            };
            let error = ClientError::from_code(
                ApiKey::FindCoordinator,
                || format!("group {group}"),
                code,
                message.as_deref(),
            );
            match error {
                None => return Ok(format!("{host}:{port}")),
                Some(error) if error.is_retriable() && attempt <= self.config.retries => {
                    debug!(%error, attempt, "no coordinator yet; retrying");
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                Some(error) => return Err(error),
            }
        }
    }
}
