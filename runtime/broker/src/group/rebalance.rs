//! The join phase of a rebalance: members are added or updated, the
//! phase starts (with the initial delay for an empty group), ends when
//! everyone has rejoined or at its deadline, and then the generation, the
//! leader and the protocol are chosen and every JoinGroup is answered.
//!
//! These are the transitions into and out of PreparingRebalance; the
//! request entry points that lead here are in `state.rs`.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::info;

use super::config::GroupConfig;
use super::member::Member;
use super::requests::{JoinOutcome, JoinRequest, JoinedMember};
use super::state::{Group, GroupState, Reply};

/// The join phase's deadline.
#[derive(Debug)]
pub(super) struct Rebalance {
    deadline: Instant,
    /// Set while an empty group's first join waits for more members.
    initial: Option<InitialDelay>,
}

#[derive(Debug)]
pub(super) struct InitialDelay {
    delay: Duration,
    /// Of the members' rebalance timeout, what extensions may still use.
    remaining: Duration,
    member_added: bool,
}

impl Group {
    /// When the join phase ends at the latest, while one runs.
    pub(super) fn rebalance_deadline(&self) -> Option<Instant> {
        self.rebalance.as_ref().map(|r| r.deadline)
    }

    /// Ends the join phase if its deadline has passed, unless an initial
    /// delay that saw new members may be extended.
    pub(super) fn on_rebalance_deadline(&mut self, now: Instant) {
        let Some(rebalance) = &mut self.rebalance else {
            return;
        };
        if rebalance.deadline > now {
            return;
        }
        match &mut rebalance.initial {
            Some(initial) if initial.member_added && !initial.remaining.is_zero() => {
                let delay = initial.delay.min(initial.remaining);
                initial.remaining -= delay;
                initial.member_added = false;
                rebalance.deadline = now + delay;
            }
            _ => self.complete_join(now),
        }
    }

    /// Adds a member (new, or holding an id from MEMBER_ID_REQUIRED) whose
    /// JoinGroup waits for the join phase it starts or joins.
    pub(super) fn add_member(
        &mut self,
        member_id: String,
        request: JoinRequest,
        now: Instant,
        config: &GroupConfig,
    ) -> Reply<JoinOutcome> {
        if let Some(instance) = request.group_instance_id.as_deref() {
            let replaced: Vec<String> = self
                .members
                .values()
                .filter(|m| m.group_instance_id.as_deref() == Some(instance))
                .map(|m| m.id.clone())
                .collect();
            for old in replaced {
                info!(group = %self.id, member = %old, instance, "member replaced by a new one with its group.instance.id");
                self.detach_member(&old);
            }
        }
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        if let Some(Rebalance {
            initial: Some(initial),
            ..
        }) = &mut self.rebalance
        {
            initial.member_added = true;
        }
        let (sender, receiver) = oneshot::channel();
        let mut member = Member::new(member_id.clone(), request, self.next_join_seq, now);
        self.next_join_seq += 1;
        member.awaiting_join = Some(sender);
        self.members.insert(member_id, member);
        self.prepare_rebalance(now, config, "member joined");
        self.try_complete_join(now);
        Reply::Later(receiver)
    }

    /// Takes a known member's rejoin (new metadata or timeouts) and makes
    /// it wait for the join phase it starts or joins.
    pub(super) fn update_member(
        &mut self,
        request: JoinRequest,
        now: Instant,
        config: &GroupConfig,
        reason: &str,
    ) -> Reply<JoinOutcome> {
        let (sender, receiver) = oneshot::channel();
        let member = self
            .members
            .get_mut(&request.member_id)
            .expect("caller checked membership");
        member.update(request);
        if let Some(previous) = member.awaiting_join.replace(sender) {
            // The client gave up on its earlier JoinGroup and sent this one.
            let _ = previous.send(JoinOutcome::error(
                ResponseError::RebalanceInProgress,
                member.id.clone(),
            ));
        }
        self.prepare_rebalance(now, config, reason);
        self.try_complete_join(now);
        Reply::Later(receiver)
    }

    /// Removes a member and answers what it waits for, without reacting.
    pub(super) fn detach_member(&mut self, member_id: &str) {
        if let Some(mut member) = self.members.remove(member_id) {
            member.fail_waiters(ResponseError::UnknownMemberId);
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = None;
        }
    }

    /// Removes a member and lets the group react: a rebalance, or the end
    /// of the one under way if it only waited for this member.
    pub(super) fn remove_member(
        &mut self,
        member_id: &str,
        now: Instant,
        config: &GroupConfig,
        reason: &str,
    ) {
        self.detach_member(member_id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, config, reason)
            }
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => return,
        }
        // With no one left to wait for (the last member left), the join
        // phase ends at once and the group is Empty.
        self.try_complete_join(now);
    }

    pub(super) fn prepare_rebalance(&mut self, now: Instant, config: &GroupConfig, reason: &str) {
        match self.state {
            GroupState::PreparingRebalance | GroupState::Dead => return,
            GroupState::CompletingRebalance => self.fail_syncs(ResponseError::RebalanceInProgress),
            GroupState::Empty | GroupState::Stable => {}
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance = Some(if self.state == GroupState::Empty {
            let delay = config.initial_rebalance_delay;
            Rebalance {
                deadline: now + delay,
                initial: Some(InitialDelay {
                    delay,
                    remaining: timeout.saturating_sub(delay),
                    member_added: false,
                }),
            }
        } else {
            Rebalance {
                deadline: now + timeout,
                initial: None,
            }
        });
        self.state = GroupState::PreparingRebalance;
        self.persisting_generation = None;
        info!(
            group = %self.id,
            generation = self.generation_id,
            members = self.members.len(),
            reason,
            "rebalance started"
        );
    }

    pub(super) fn try_complete_join(&mut self, now: Instant) {
        let Some(rebalance) = &self.rebalance else {
            return;
        };
        // An empty group's first join always waits out its delay.
        if rebalance.initial.is_none()
            && self.pending.is_empty()
            && self.members.values().all(|m| m.awaiting_join.is_some())
        {
            self.complete_join(now);
        }
    }

    pub(super) fn complete_join(&mut self, now: Instant) {
        let late: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for member_id in late {
            info!(group = %self.id, member = %member_id, "member removed: did not rejoin before the rebalance timeout");
            self.detach_member(&member_id);
        }
        self.rebalance = None;
        self.generation_id = self.generation_id.saturating_add(1);
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader_id = None;
            info!(group = %self.id, generation = self.generation_id, "group is empty");
            return;
        }
        if self.leader_id.is_none() {
            let earliest = self.members_in_join_order().next().map(|m| m.id.clone());
            self.leader_id = earliest;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        let outcomes: Vec<(String, JoinOutcome)> = self
            .members
            .keys()
            .map(|id| (id.clone(), self.join_outcome(id)))
            .collect();
        for (member_id, outcome) in outcomes {
            let member = self.members.get_mut(&member_id).expect("listed above");
            member.touch(now);
            member.answer_join(outcome);
        }
        info!(
            group = %self.id,
            generation = self.generation_id,
            members = self.members.len(),
            leader = self.leader_id.as_deref().unwrap_or_default(),
            protocol = self.protocol_name.as_deref().unwrap_or_default(),
            "rebalance joined; waiting for the leader's assignment"
        );
    }

    /// Kafka's vote: each member votes for the first protocol in its list
    /// that every member supports; the most votes win, ties go to the
    /// leader's order.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let leader = self.members.get(self.leader_id.as_deref()?)?;
        let candidates: Vec<&str> = leader
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for member in self.members.values() {
            if let Some(choice) = member
                .protocols
                .iter()
                .find(|p| candidates.contains(&p.name.as_str()))
            {
                *votes.entry(choice.name.as_str()).or_default() += 1;
            }
        }
        let chosen = candidates
            .iter()
            .enumerate()
            .max_by_key(|(rank, name)| (votes.get(*name).copied().unwrap_or(0), Reverse(*rank)))
            .map(|(_, name)| name.to_string());
        // Joins are checked against the common protocols, so some exist;
        // fall back to the leader's first choice rather than fail.
        chosen.or_else(|| leader.protocols.first().map(|p| p.name.clone()))
    }

    /// Whether a joining member fits: the group's protocol type and at
    /// least one protocol all current members support.
    pub(super) fn supports_protocols(&self, request: &JoinRequest) -> bool {
        if self.members.is_empty() {
            return !request.protocol_type.is_empty() && !request.protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(request.protocol_type.as_str())
            && request
                .protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.supports(&p.name)))
    }

    pub(super) fn join_outcome(&self, member_id: &str) -> JoinOutcome {
        let is_leader = self.leader_id.as_deref() == Some(member_id);
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        let members = if is_leader {
            self.members_in_join_order()
                .map(|m| JoinedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata(protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: None,
            member_id: member_id.to_string(),
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone().unwrap_or_default(),
            members,
        }
    }

    /// Clears assignments and answers waiting SyncGroups with `error`.
    pub(super) fn fail_syncs(&mut self, error: ResponseError) {
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            member.answer_sync(Err(error));
        }
    }

    pub(super) fn members_in_join_order(&self) -> impl Iterator<Item = &Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.join_seq);
        members.into_iter()
    }
}
