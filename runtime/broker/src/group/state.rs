//! One group's state machine: Kafka's classic group protocol, without I/O
//! and without a clock of its own (callers pass `now`), so every
//! transition can be unit-tested.
//!
//! ```text
//!            join                 all rejoined /          leader's
//!   Empty ──────────▶ Preparing ──rebalance timeout──▶ Completing ──SyncGroup──▶ Stable
//!     ▲               Rebalance ◀────────────────────  Rebalance ◀───────────────  │
//!     │                  │      join, leave, session timeout, new metadata        │
//!     └──no members left─┘                                                        │
//!                        ◀────────────── join, leave, session timeout ───────────┘
//! ```
//!
//! - **PreparingRebalance** collects JoinGroups. Their responses wait
//!   (a `oneshot` per member) until every member has rejoined and no member
//!   id handed out by MEMBER_ID_REQUIRED is still outstanding, or until the
//!   rebalance timeout (the largest of the members'). Members that did not
//!   rejoin by then are removed. When the group was Empty, the first join
//!   instead waits `initial_rebalance_delay`, extended while new members
//!   keep arriving, so consumers started together share one rebalance.
//! - Completing the join phase bumps the generation, keeps the leader (or
//!   picks the earliest member), selects the protocol (each member votes
//!   for the first protocol it lists that all members support; ties go to
//!   the leader's order) and answers every JoinGroup; only the leader's
//!   answer lists the members.
//! - **CompletingRebalance** waits for the leader's SyncGroup. Followers'
//!   SyncGroups wait for it. The leader's assignment is first made durable
//!   (a group record in `__consumer_offsets`, see `coordinator.rs`), then
//!   [`Group::finish_sync`] hands every member its part and the group is
//!   **Stable**.
//! - Heartbeats restart a member's session clock and answer
//!   REBALANCE_IN_PROGRESS during PreparingRebalance: that is how members
//!   learn to rejoin. A member whose clock runs out is removed, like one
//!   that leaves, and the group rebalances.
//! - **Dead** only marks a group the coordinator dropped or closed.
//!
//! Static membership (`group.instance.id`) is treated as dynamic: a static
//! member gets MEMBER_ID_REQUIRED like any other, and a new member with the
//! instance id of an existing one replaces it (it is the same instance,
//! restarted), with a rebalance. Kafka would skip that rebalance.

use std::collections::HashMap;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info};

use super::config::GroupConfig;
use super::member::{new_member_id, Member};
use super::rebalance::Rebalance;
use super::record::GroupValue;
use super::requests::{
    GroupDescription, GroupOverview, JoinOutcome, JoinRequest, MemberDescription, SyncAssignment,
    SyncOutcome, SyncRequest,
};

/// Where a group is in the rebalance protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's name of the state, as ListGroups and DescribeGroups show it.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// An answer now, or a receiver that gets it when the rebalance gets there.
#[derive(Debug)]
pub(crate) enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

/// A leader's assignment to make durable before the members get it.
#[derive(Debug)]
pub(crate) struct PendingAssignment {
    pub generation_id: i32,
    pub assignments: HashMap<String, Bytes>,
    pub record: GroupValue,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation_id: i32,
    /// Set by the first member of an empty group; every later member must
    /// use the same.
    pub protocol_type: Option<String>,
    /// Selected when a join phase completes; `None` while Empty.
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub(super) members: HashMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used, with
    /// the time they are forgotten. They count towards `members_max` and
    /// hold up the join phase, as in Kafka.
    pub(super) pending: HashMap<String, Instant>,
    /// `Some` exactly while PreparingRebalance.
    pub(super) rebalance: Option<Rebalance>,
    pub(super) next_join_seq: u64,
    /// The generation whose assignment is being written, if any; a repeated
    /// leader SyncGroup then waits instead of writing it again.
    pub(super) persisting_generation: Option<i32>,
    /// OffsetCommits accepted for this group and not yet acknowledged by
    /// the log; the coordinator does not drop the group while any are.
    pub commits_in_flight: usize,
    /// Whether `__consumer_offsets` holds a group record for it (a
    /// tombstone is due when the group is dropped).
    pub has_stored_metadata: bool,
    /// Whether a timer task is running for this group (see `timer.rs`).
    pub timer_running: bool,
    /// What that task sleeps until; an earlier deadline must wake it.
    pub timer_deadline: Option<Instant>,
}

impl Group {
    pub fn new(id: String) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: HashMap::new(),
            pending: HashMap::new(),
            rebalance: None,
            next_join_seq: 0,
            persisting_generation: None,
            commits_in_flight: 0,
            has_stored_metadata: false,
            timer_running: false,
            timer_deadline: None,
        }
    }

    /// A group loaded from `__consumer_offsets`: Empty, since no member
    /// survives a restart, but with its generation and protocol type.
    pub fn restored(id: String, stored: Option<&GroupValue>) -> Group {
        let mut group = Group::new(id);
        if let Some(stored) = stored {
            group.generation_id = stored.generation_id;
            group.protocol_type = Some(stored.protocol_type.clone());
            group.has_stored_metadata = true;
        }
        group
    }

    /// Whether the coordinator may forget the group (it has no offsets to
    /// keep it either; the coordinator checks that).
    pub fn is_idle(&self) -> bool {
        self.state == GroupState::Empty
            && self.pending.is_empty()
            && self.commits_in_flight == 0
            && self.persisting_generation.is_none()
    }

    /// Takes a JoinGroup: a first join gets a member id
    /// (MEMBER_ID_REQUIRED, v4+), a join with one starts or joins a
    /// rebalance and waits for it; a retry of an answered join is answered
    /// again; errors are answered at once.
    pub fn join(
        &mut self,
        request: JoinRequest,
        now: Instant,
        config: &GroupConfig,
    ) -> Reply<JoinOutcome> {
        let reject = |error| Reply::Now(JoinOutcome::error(error, request.member_id.clone()));
        if self.state == GroupState::Dead {
            return reject(ResponseError::CoordinatorNotAvailable);
        }
        if request.session_timeout < config.session_timeout_min
            || request.session_timeout > config.session_timeout_max
        {
            return reject(ResponseError::InvalidSessionTimeout);
        }
        if !self.supports_protocols(&request) {
            return reject(ResponseError::InconsistentGroupProtocol);
        }
        if request.member_id.is_empty() {
            if self.members.len() + self.pending.len() >= config.members_max {
                return reject(ResponseError::GroupMaxSizeReached);
            }
            let member_id = self.unused_member_id(&request.client_id);
            if request.require_known_member_id {
                debug!(group = %self.id, member = %member_id, "member id assigned; waiting for the member to rejoin with it");
                self.pending
                    .insert(member_id.clone(), now + request.session_timeout);
                return Reply::Now(JoinOutcome::error(
                    ResponseError::MemberIdRequired,
                    member_id,
                ));
            }
            return self.add_member(member_id, request, now, config);
        }
        if self.pending.remove(&request.member_id).is_some() {
            return self.add_member(request.member_id.clone(), request, now, config);
        }
        let Some(member) = self.members.get(&request.member_id) else {
            return reject(ResponseError::UnknownMemberId);
        };
        let unchanged = member.protocols == request.protocols;
        let is_leader = self.leader_id.as_deref() == Some(request.member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member(request, now, config, "member rejoined")
            }
            // A retry of a join that already completed: answer it again.
            GroupState::CompletingRebalance if unchanged => {
                Reply::Now(self.join_outcome(&request.member_id))
            }
            GroupState::CompletingRebalance => {
                self.update_member(request, now, config, "member changed its metadata")
            }
            // A follower rejoining with the same metadata needs no rebalance.
            GroupState::Stable if unchanged && !is_leader => {
                Reply::Now(self.join_outcome(&request.member_id))
            }
            GroupState::Stable => {
                self.update_member(request, now, config, "leader rejoined or metadata changed")
            }
            GroupState::Empty | GroupState::Dead => reject(ResponseError::UnknownMemberId),
        }
    }

    /// Takes a SyncGroup: answered at once when Stable or on errors;
    /// otherwise it waits for the leader's assignment, and the leader's
    /// own SyncGroup also returns the assignment to make durable first.
    pub fn sync(
        &mut self,
        request: SyncRequest,
    ) -> (Reply<SyncOutcome>, Option<PendingAssignment>) {
        let reject = |error| (Reply::Now(Err(error)), None);
        if self.state == GroupState::Dead {
            return reject(ResponseError::CoordinatorNotAvailable);
        }
        if !self.members.contains_key(&request.member_id) {
            return reject(ResponseError::UnknownMemberId);
        }
        if request.generation_id != self.generation_id {
            return reject(ResponseError::IllegalGeneration);
        }
        let differs =
            |asked: &Option<String>, has: &Option<String>| asked.is_some() && asked != has;
        if differs(&request.protocol_type, &self.protocol_type)
            || differs(&request.protocol_name, &self.protocol_name)
        {
            return reject(ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => reject(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => reject(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                let assignment = self.members[&request.member_id].assignment.clone();
                (Reply::Now(Ok(self.sync_assignment(assignment))), None)
            }
            GroupState::CompletingRebalance => {
                let (sender, receiver) = oneshot::channel();
                let member = self
                    .members
                    .get_mut(&request.member_id)
                    .expect("checked above");
                if let Some(previous) = member.awaiting_sync.replace(sender) {
                    let _ = previous.send(Err(ResponseError::RebalanceInProgress));
                }
                let is_leader = self.leader_id.as_deref() == Some(request.member_id.as_str());
                let pending = (is_leader && self.persisting_generation != Some(self.generation_id))
                    .then(|| {
                        self.persisting_generation = Some(self.generation_id);
                        let assignments = request
                            .assignments
                            .into_iter()
                            .filter(|(member_id, _)| self.members.contains_key(member_id))
                            .collect();
                        PendingAssignment {
                            generation_id: self.generation_id,
                            assignments,
                            record: GroupValue {
                                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                                generation_id: self.generation_id,
                                protocol_name: self.protocol_name.clone(),
                            },
                        }
                    });
                (Reply::Later(receiver), pending)
            }
        }
    }

    /// Ends a leader's SyncGroup once its assignment was written (or not):
    /// every member gets its part and the group is Stable, or every waiting
    /// member gets `result`'s error and the group rebalances. Nothing
    /// happens if the group moved on meanwhile (its waiters were answered
    /// when it did).
    pub fn finish_sync(
        &mut self,
        generation_id: i32,
        mut assignments: HashMap<String, Bytes>,
        result: Result<(), ResponseError>,
        now: Instant,
        config: &GroupConfig,
    ) {
        if self.persisting_generation == Some(generation_id) {
            self.persisting_generation = None;
        }
        if self.state != GroupState::CompletingRebalance || self.generation_id != generation_id {
            return;
        }
        if let Err(error) = result {
            self.fail_syncs(error);
            self.prepare_rebalance(now, config, "the assignment could not be stored");
            return;
        }
        self.has_stored_metadata = true;
        self.state = GroupState::Stable;
        let (protocol_type, protocol_name) =
            (self.protocol_type.clone(), self.protocol_name.clone());
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.id).unwrap_or_default();
            member.touch(now);
            member.answer_sync(Ok(SyncAssignment {
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                assignment: member.assignment.clone(),
            }));
        }
        info!(group = %self.id, generation = self.generation_id, members = self.members.len(), "group is stable");
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        match self.state {
            GroupState::Dead => return Err(ResponseError::CoordinatorNotAvailable),
            GroupState::Empty => return Err(ResponseError::UnknownMemberId),
            _ => {}
        }
        let member = self
            .members
            .get_mut(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        member.touch(now);
        match self.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Removes a member that leaves; `member_id` may be empty when
    /// `group_instance_id` names it (LeaveGroup v3 and later).
    pub fn leave(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        now: Instant,
        config: &GroupConfig,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let member_id = match (member_id, group_instance_id) {
            ("", Some(instance)) => self
                .members
                .values()
                .find(|m| m.group_instance_id.as_deref() == Some(instance))
                .map(|m| m.id.clone())
                .ok_or(ResponseError::UnknownMemberId)?,
            (id, _) => id.to_string(),
        };
        if self.pending.remove(&member_id).is_some() {
            self.try_complete_join(now);
            return Ok(());
        }
        let member = self
            .members
            .get(&member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if let (Some(asked), Some(has)) = (group_instance_id, member.group_instance_id.as_deref()) {
            if asked != has {
                return Err(ResponseError::FencedInstanceId);
            }
        }
        self.remove_member(&member_id, now, config, "member left");
        Ok(())
    }

    /// Whether an OffsetCommit from this sender may be accepted (Kafka's
    /// rules): members commit with their current generation, and only an
    /// Empty group takes commits from non-members (generation -1).
    pub fn check_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            if !self.members.contains_key(member_id) {
                return Err(ResponseError::UnknownMemberId);
            }
            if generation_id != self.generation_id {
                return Err(ResponseError::IllegalGeneration);
            }
            if self.state == GroupState::CompletingRebalance {
                return Err(ResponseError::RebalanceInProgress);
            }
            return Ok(());
        }
        if self.state != GroupState::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    /// Runs what is due at `now`: forgets unused member ids, removes
    /// members whose session ran out, ends the join phase at its deadline.
    pub fn on_timer(&mut self, now: Instant, config: &GroupConfig) {
        let pending_before = self.pending.len();
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.ticking_deadline().is_some_and(|deadline| deadline <= now))
            .map(|m| m.id.clone())
            .collect();
        for member_id in expired {
            info!(group = %self.id, member = %member_id, "member removed: session timed out");
            self.remove_member(&member_id, now, config, "member session timed out");
        }
        if self.pending.len() != pending_before {
            self.try_complete_join(now);
        }
        self.on_rebalance_deadline(now);
    }

    /// The earliest instant [`Group::on_timer`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let sessions = self.members.values().filter_map(Member::ticking_deadline);
        let pending = self.pending.values().copied();
        let rebalance = self.rebalance_deadline();
        sessions.chain(pending).chain(rebalance).min()
    }

    /// Answers every waiting request with NOT_COORDINATOR (clients then
    /// look for the coordinator again) and marks the group Dead.
    pub fn close(&mut self) {
        for member in self.members.values_mut() {
            member.fail_waiters(ResponseError::NotCoordinator);
        }
        self.pending.clear();
        self.rebalance = None;
        self.state = GroupState::Dead;
    }

    pub fn overview(&self) -> GroupOverview {
        GroupOverview {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            members: self.members.len(),
        }
    }

    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = self
            .members_in_join_order()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }

    fn sync_assignment(&self, assignment: Bytes) -> SyncAssignment {
        SyncAssignment {
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    fn unused_member_id(&self, client_id: &str) -> String {
        loop {
            let id = new_member_id(client_id);
            if !self.members.contains_key(&id) && !self.pending.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::sync::oneshot::error::TryRecvError;

    use super::*;
    use crate::group::requests::Protocol;

    const SESSION: Duration = Duration::from_secs(10);
    const REBALANCE: Duration = Duration::from_secs(30);
    const DELAY: Duration = Duration::from_millis(100);

    fn config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay: DELAY,
            session_timeout_min: Duration::from_millis(1),
            ..GroupConfig::default()
        }
    }

    fn protocols(names: &[&str]) -> Vec<Protocol> {
        names
            .iter()
            .map(|name| Protocol {
                name: name.to_string(),
                metadata: Bytes::from(format!("meta-{name}")),
            })
            .collect()
    }

    fn request(member_id: &str, names: &[&str]) -> JoinRequest {
        JoinRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "client".into(),
            client_host: String::new(),
            session_timeout: SESSION,
            rebalance_timeout: REBALANCE,
            protocol_type: "consumer".into(),
            protocols: protocols(names),
            require_known_member_id: true,
        }
    }

    fn now_value<T: std::fmt::Debug>(reply: Reply<T>) -> T {
        match reply {
            Reply::Now(value) => value,
            Reply::Later(_) => panic!("expected an immediate answer"),
        }
    }

    fn later<T>(reply: Reply<T>) -> oneshot::Receiver<T> {
        match reply {
            Reply::Later(receiver) => receiver,
            Reply::Now(_) => panic!("expected a delayed answer"),
        }
    }

    /// A new member's two-step join; returns its id and its waiting join.
    fn join_new(group: &mut Group, now: Instant) -> (String, oneshot::Receiver<JoinOutcome>) {
        let first = now_value(group.join(request("", &["range"]), now, &config()));
        assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
        assert!(first.member_id.starts_with("client-"));
        let id = first.member_id;
        let waiting = later(group.join(request(&id, &["range"]), now, &config()));
        (id, waiting)
    }

    fn sync(
        group: &mut Group,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> (Reply<SyncOutcome>, Option<PendingAssignment>) {
        group.sync(SyncRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            generation_id: group.generation_id,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments,
        })
    }

    /// A Stable group of one member; returns it, the member id and the time.
    fn stable_with_one() -> (Group, String, Instant) {
        let mut group = Group::new("g".into());
        let now = Instant::now();
        let (id, mut joined) = join_new(&mut group, now);
        let now = now + DELAY;
        group.on_timer(now, &config());
        assert!(joined.try_recv().is_ok());
        let (reply, pending) = sync(
            &mut group,
            &id,
            vec![(id.clone(), Bytes::from_static(b"all"))],
        );
        let pending = pending.expect("the leader's sync stores the assignment");
        group.finish_sync(
            pending.generation_id,
            pending.assignments,
            Ok(()),
            now,
            &config(),
        );
        assert_eq!(
            later(reply).try_recv().unwrap().unwrap().assignment,
            Bytes::from_static(b"all")
        );
        (group, id, now)
    }

    #[test]
    fn first_join_waits_out_the_initial_delay_and_makes_the_member_leader() {
        let mut group = Group::new("g".into());
        let start = Instant::now();
        let (id, mut joined) = join_new(&mut group, start);
        assert_eq!(group.state, GroupState::PreparingRebalance);
        assert_eq!(group.next_deadline(), Some(start + DELAY));
        group.on_timer(start + DELAY / 2, &config());
        assert_eq!(
            joined.try_recv(),
            Err(TryRecvError::Empty),
            "still within the delay"
        );
        group.on_timer(start + DELAY, &config());
        let outcome = joined.try_recv().unwrap();
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.generation_id, 1);
        assert_eq!(outcome.leader_id, id);
        assert_eq!(outcome.protocol_name.as_deref(), Some("range"));
        assert_eq!(outcome.members.len(), 1);
        assert_eq!(
            outcome.members[0].metadata,
            Bytes::from_static(b"meta-range")
        );
        assert_eq!(group.state, GroupState::CompletingRebalance);
    }

    #[test]
    fn members_joining_during_the_initial_delay_extend_it() {
        let mut group = Group::new("g".into());
        let start = Instant::now();
        let (_, mut first) = join_new(&mut group, start);
        let (_, mut second) = join_new(&mut group, start + DELAY / 2);
        group.on_timer(start + DELAY, &config());
        assert_eq!(
            first.try_recv(),
            Err(TryRecvError::Empty),
            "a member arrived: wait once more"
        );
        group.on_timer(start + DELAY * 2, &config());
        assert_eq!(first.try_recv().unwrap().generation_id, 1);
        assert_eq!(second.try_recv().unwrap().generation_id, 1);
    }

    #[test]
    fn a_new_member_starts_a_rebalance_that_completes_once_everyone_rejoined() {
        let (mut group, leader, now) = stable_with_one();
        let (follower, mut follower_joined) = join_new(&mut group, now);
        assert_eq!(group.state, GroupState::PreparingRebalance);
        assert_eq!(
            group.heartbeat(&leader, 1, now),
            Err(ResponseError::RebalanceInProgress)
        );
        assert_eq!(follower_joined.try_recv(), Err(TryRecvError::Empty));
        let mut leader_joined = later(group.join(request(&leader, &["range"]), now, &config()));
        let leader_outcome = leader_joined.try_recv().unwrap();
        let follower_outcome = follower_joined.try_recv().unwrap();
        assert_eq!(leader_outcome.generation_id, 2);
        assert_eq!(leader_outcome.leader_id, leader, "the leader stays leader");
        assert_eq!(leader_outcome.members.len(), 2);
        assert!(
            follower_outcome.members.is_empty(),
            "only the leader sees the members"
        );
        // A follower syncing first waits for the leader.
        let (follower_sync, pending) = sync(&mut group, &follower, Vec::new());
        assert!(pending.is_none());
        let mut follower_sync = later(follower_sync);
        assert_eq!(follower_sync.try_recv(), Err(TryRecvError::Empty));
        let assignments = vec![
            (leader.clone(), Bytes::from_static(b"p0")),
            (follower.clone(), Bytes::from_static(b"p1")),
        ];
        let (leader_sync, pending) = sync(&mut group, &leader, assignments);
        let pending = pending.unwrap();
        assert_eq!(
            follower_sync.try_recv(),
            Err(TryRecvError::Empty),
            "not before the assignment is stored"
        );
        group.finish_sync(
            pending.generation_id,
            pending.assignments,
            Ok(()),
            now,
            &config(),
        );
        assert_eq!(
            follower_sync.try_recv().unwrap().unwrap().assignment,
            Bytes::from_static(b"p1")
        );
        assert_eq!(
            later(leader_sync).try_recv().unwrap().unwrap().assignment,
            Bytes::from_static(b"p0")
        );
        assert_eq!(group.state, GroupState::Stable);
        assert_eq!(group.describe().members.len(), 2);
    }

    #[test]
    fn members_that_do_not_rejoin_in_time_are_removed() {
        let (mut group, leader, now) = stable_with_one();
        let (newcomer, mut joined) = join_new(&mut group, now);
        // The old leader keeps its session alive but never rejoins.
        for seconds in [9, 18, 27] {
            let at = now + Duration::from_secs(seconds);
            group.on_timer(at, &config());
            assert_eq!(
                group.heartbeat(&leader, 1, at),
                Err(ResponseError::RebalanceInProgress)
            );
        }
        assert!(group.next_deadline().unwrap() <= now + REBALANCE);
        group.on_timer(now + REBALANCE, &config());
        let outcome = joined.try_recv().unwrap();
        assert_eq!(outcome.generation_id, 2);
        assert_eq!(
            outcome.leader_id, newcomer,
            "the leader left, the earliest member leads"
        );
        assert_eq!(
            group.heartbeat(&leader, 2, now + REBALANCE),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn a_silent_member_is_removed_after_its_session_timeout() {
        let (mut group, id, now) = stable_with_one();
        assert_eq!(group.next_deadline(), Some(now + SESSION));
        group.on_timer(now + SESSION - Duration::from_millis(1), &config());
        assert_eq!(group.state, GroupState::Stable);
        group.on_timer(now + SESSION, &config());
        assert_eq!(
            group.state,
            GroupState::Empty,
            "the only member left: the group empties"
        );
        assert_eq!(group.generation_id, 2);
        assert_eq!(
            group.heartbeat(&id, 2, now + SESSION),
            Err(ResponseError::UnknownMemberId)
        );
        assert!(group.is_idle());
        assert_eq!(group.next_deadline(), None, "nothing left to time");
    }

    #[test]
    fn a_member_waiting_for_a_response_does_not_time_out() {
        let (mut group, leader, now) = stable_with_one();
        let (_, mut joined) = join_new(&mut group, now);
        let _leader_joined = later(group.join(request(&leader, &["range"]), now, &config()));
        joined.try_recv().unwrap();
        // Both wait in SyncGroup for the leader's stored assignment.
        let (_reply, pending) = sync(&mut group, &leader, Vec::new());
        assert!(pending.is_some());
        group.on_timer(now + SESSION * 3, &config());
        assert!(
            group.members.contains_key(&leader),
            "waiting in SyncGroup keeps it alive"
        );
    }

    #[test]
    fn heartbeat_and_sync_errors_follow_kafka() {
        let (mut group, id, now) = stable_with_one();
        assert_eq!(group.heartbeat(&id, 1, now), Ok(()));
        assert_eq!(
            group.heartbeat(&id, 0, now),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            group.heartbeat("stranger", 1, now),
            Err(ResponseError::UnknownMemberId)
        );
        let mut stale = SyncRequest {
            group_id: "g".into(),
            member_id: id.clone(),
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            assignments: Vec::new(),
        };
        assert_eq!(
            now_value(group.sync(stale.clone()).0),
            Err(ResponseError::IllegalGeneration)
        );
        stale.generation_id = 2;
        assert_eq!(
            now_value(group.sync(stale.clone()).0),
            Err(ResponseError::IllegalGeneration),
            "a generation from the future is just as wrong"
        );
        stale.generation_id = 1;
        stale.protocol_name = Some("roundrobin".into());
        assert_eq!(
            now_value(group.sync(stale.clone()).0),
            Err(ResponseError::InconsistentGroupProtocol)
        );
        stale.protocol_name = None;
        assert_eq!(
            now_value(group.sync(stale.clone()).0).unwrap().assignment,
            Bytes::from_static(b"all")
        );
        let _ = join_new(&mut group, now);
        assert_eq!(
            now_value(group.sync(stale).0),
            Err(ResponseError::RebalanceInProgress)
        );
    }

    #[test]
    fn commits_need_the_current_generation_or_an_empty_group() {
        let (mut group, id, now) = stable_with_one();
        assert_eq!(group.check_commit(&id, None, 1), Ok(()));
        assert_eq!(
            group.check_commit(&id, None, 0),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            group.check_commit("stranger", None, 1),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            group.check_commit("", None, -1),
            Err(ResponseError::UnknownMemberId),
            "not while it has members"
        );
        group.leave(&id, None, now, &config()).unwrap();
        assert_eq!(group.state, GroupState::Empty);
        assert_eq!(
            group.check_commit("", None, -1),
            Ok(()),
            "a simple commit to an empty group"
        );
    }

    #[test]
    fn leaving_rebalances_and_unknown_members_are_refused() {
        let (mut group, leader, now) = stable_with_one();
        let (follower, _) = join_new(&mut group, now);
        let _leader_joined = later(group.join(request(&leader, &["range"]), now, &config()));
        assert_eq!(
            group.leave("stranger", None, now, &config()),
            Err(ResponseError::UnknownMemberId)
        );
        group.leave(&follower, None, now, &config()).unwrap();
        assert_eq!(group.state, GroupState::PreparingRebalance);
        assert_eq!(group.members.len(), 1);
    }

    #[test]
    fn a_failed_store_fails_the_syncs_and_rebalances() {
        let mut group = Group::new("g".into());
        let now = Instant::now();
        let (id, mut joined) = join_new(&mut group, now);
        group.on_timer(now + DELAY, &config());
        joined.try_recv().unwrap();
        let (reply, pending) = sync(&mut group, &id, Vec::new());
        let pending = pending.unwrap();
        group.finish_sync(
            pending.generation_id,
            pending.assignments,
            Err(ResponseError::CoordinatorNotAvailable),
            now,
            &config(),
        );
        assert_eq!(
            later(reply).try_recv().unwrap(),
            Err(ResponseError::CoordinatorNotAvailable)
        );
        assert_eq!(group.state, GroupState::PreparingRebalance);
    }

    #[test]
    fn the_protocol_most_members_prefer_wins() {
        let mut group = Group::new("g".into());
        let now = Instant::now();
        let leader =
            now_value(group.join(request("", &["range", "sticky"]), now, &config())).member_id;
        let mut leader_joined =
            later(group.join(request(&leader, &["range", "sticky"]), now, &config()));
        for _ in 0..2 {
            let id =
                now_value(group.join(request("", &["sticky", "range"]), now, &config())).member_id;
            let _joined = later(group.join(request(&id, &["sticky", "range"]), now, &config()));
        }
        let refused = now_value(group.join(request("", &["cooperative"]), now, &config()));
        assert_eq!(
            refused.error,
            Some(ResponseError::InconsistentGroupProtocol)
        );
        // Members arrived during the initial delay: it runs twice.
        group.on_timer(now + DELAY, &config());
        group.on_timer(now + DELAY * 2, &config());
        assert_eq!(
            leader_joined.try_recv().unwrap().protocol_name.as_deref(),
            Some("sticky")
        );
    }

    #[test]
    fn session_timeouts_outside_the_bounds_are_refused() {
        let mut group = Group::new("g".into());
        let mut too_long = request("", &["range"]);
        too_long.session_timeout =
            GroupConfig::default().session_timeout_max + Duration::from_millis(1);
        let outcome = now_value(group.join(too_long, Instant::now(), &config()));
        assert_eq!(outcome.error, Some(ResponseError::InvalidSessionTimeout));
        assert!(group.is_idle());
    }
}
