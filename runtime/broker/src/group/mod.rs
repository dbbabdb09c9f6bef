//! The group coordinator: Kafka's classic consumer-group protocol
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed offsets
//! (OffsetCommit, OffsetFetch) that survive a restart.
//!
//! | module | job |
//! |---|---|
//! | `coordinator` | finds a request's group, runs it, answers; timers' and shutdown's side |
//! | `commit` | OffsetCommit and OffsetFetch through the coordinator |
//! | `state` | one group's state machine: requests, timers, descriptions |
//! | `rebalance` | the join phase: into and out of PreparingRebalance |
//! | `member` | one member: protocols, session clock, the response it waits for |
//! | `timer` | one tokio task per group with something due: sessions, join deadlines |
//! | `log` | `__consumer_offsets`: create, replay on open, append in order |
//! | `record` | the record format of `__consumer_offsets` |
//! | [`offsets`] | committed offsets in memory, a cache of the log |
//! | [`requests`] | what handlers ask and get back, free of wire types |
//! | `config` | settings (Kafka's `group.*` and `offset.*` broker configs) |
//!
//! This module speaks no wire format: the handlers in `handlers/` turn each
//! API version into [`requests`] types and back. It must not block a
//! reactor thread: appends go through the `offsets-writer` thread, and the
//! only blocking work (replaying the log) happens in [`GroupCoordinator::open`],
//! which the broker calls on a blocking thread at startup.

mod commit;
mod config;
mod coordinator;
mod log;
mod member;
pub mod offsets;
mod rebalance;
mod record;
pub mod requests;
mod state;
mod timer;

pub use commit::FetchedOffsets;
pub use config::GroupConfig;
pub use coordinator::GroupCoordinator;
pub use log::OFFSETS_TOPIC;
pub use offsets::{CommittedOffset, PartitionOffset};
pub use requests::{
    GroupDescription, GroupOverview, JoinOutcome, JoinRequest, JoinedMember, MemberDescription,
    MemberRef, OffsetCommit, PartitionCommit, Protocol, SyncAssignment, SyncOutcome, SyncRequest,
};
pub use state::GroupState;
