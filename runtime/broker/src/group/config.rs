//! Settings of the group coordinator. Each one is a Kafka broker config
//! under another name (given in its doc), so an operator who knows Kafka
//! knows what it does; defaults live in the one `Default` impl.

use std::time::Duration;

/// How groups rebalance, how long members may stay silent, and how large a
/// group and a commit may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// How long the first rebalance of an empty group waits for more
    /// members before answering the first JoinGroup, so that consumers
    /// started together get one rebalance instead of one each. Every member
    /// that joins during the wait extends it by this much again, up to the
    /// members' rebalance timeout. Kafka's
    /// `group.initial.rebalance.delay.ms` (3 s there; 300 ms here, because
    /// a single-node broker is mostly started by a developer who is
    /// waiting for the first record).
    pub initial_rebalance_delay: Duration,
    /// Shortest session timeout a member may ask for; shorter gets
    /// INVALID_SESSION_TIMEOUT. Kafka's `group.min.session.timeout.ms`.
    pub session_timeout_min: Duration,
    /// Longest session timeout a member may ask for. Kafka's
    /// `group.max.session.timeout.ms`.
    pub session_timeout_max: Duration,
    /// Members (joined or holding a member id from MEMBER_ID_REQUIRED) one
    /// group may have; the next gets GROUP_MAX_SIZE_REACHED. Bounds the
    /// memory and the JoinGroup response size of one group. Kafka's
    /// `group.max.size` (unlimited there).
    pub members_max: usize,
    /// Longest metadata string an offset commit may carry; longer gets
    /// OFFSET_METADATA_TOO_LARGE. Kafka's `offset.metadata.max.bytes`.
    pub offset_metadata_bytes_max: usize,
    /// Segment size of the `__consumer_offsets` topic, kept small so that
    /// compaction, which only rewrites sealed segments, gets to run.
    /// Kafka's `offsets.topic.segment.bytes`.
    pub offsets_segment_bytes: u64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay: Duration::from_millis(300),
            session_timeout_min: Duration::from_secs(6),
            session_timeout_max: Duration::from_secs(30 * 60),
            members_max: 1000,
            offset_metadata_bytes_max: 4096,
            offsets_segment_bytes: 100 << 20,
        }
    }
}
