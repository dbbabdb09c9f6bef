//! What the group handlers ask of the coordinator and what it answers, in
//! plain Rust types.
//!
//! The handlers translate Kafka's wire structs (which differ per API
//! version) into these and back, so the coordinator and its state machine
//! never see a version number and can be unit-tested without a codec.
//! Errors are Kafka's own error enum: the group protocol's outcomes
//! (ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, ...) have no meaning outside
//! it.

use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::ResponseError;

use super::state::GroupState;

/// One protocol a member can run, e.g. the consumer's `range` assignor,
/// with the member's metadata for it (opaque to the coordinator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// A JoinGroup, whatever its version.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// Static membership's instance id; see `state.rs` for how it is used.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    /// How long the coordinator waits for members to rejoin.
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4 and later: a first join only gets a member id
    /// (MEMBER_ID_REQUIRED) and must come back with it.
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// `None` on success.
    pub error: Option<ResponseError>,
    /// The member's id; with MEMBER_ID_REQUIRED, the id to rejoin with.
    pub member_id: String,
    /// -1 on errors.
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Empty on errors.
    pub leader_id: String,
    /// Every member, for the leader only; empty for everyone else.
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    /// A failed join; `member_id` is echoed (or newly assigned).
    pub fn error(error: ResponseError, member_id: String) -> JoinOutcome {
        JoinOutcome {
            error: Some(error),
            member_id,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup, whatever its version.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub group_id: String,
    pub member_id: String,
    pub generation_id: i32,
    /// SyncGroup v5 and later: checked against the group's when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// From the leader: each member's assignment. Empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// A member's assignment, the successful answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAssignment {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// The answer to a SyncGroup.
pub type SyncOutcome = Result<SyncAssignment, ResponseError>;

/// Who sends a Heartbeat, LeaveGroup or OffsetCommit.
#[derive(Debug, Clone, Default)]
pub struct MemberRef {
    /// Empty for "not a member" (simple commits, LeaveGroup by instance id).
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One partition's offset in an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// An OffsetCommit, whatever its version, after the handler has dropped
/// partitions that do not exist.
#[derive(Debug, Clone)]
pub struct OffsetCommit {
    pub group_id: String,
    pub member: MemberRef,
    /// -1 for a simple commit (a consumer that manages its own partitions).
    pub generation_id: i32,
    pub partitions: Vec<PartitionCommit>,
}

/// A group in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOverview {
    pub group_id: String,
    pub state: GroupState,
    /// `consumer` for Kafka consumers; empty for groups that only commit.
    pub protocol_type: String,
    pub members: usize,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    /// The selected protocol while the group is Stable; empty otherwise.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A member as DescribeGroups shows it. Metadata and assignment are only
/// filled in while the group is Stable, as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}
