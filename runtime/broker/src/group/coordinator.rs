//! The group coordinator: finds each request's group, runs it through the
//! group's state machine, makes offsets and assignments durable before
//! answering, and keeps the timers and the shutdown in order.
//!
//! Locking: a std `RwLock` over the map of groups, a std `Mutex` per group,
//! a std `Mutex` over the offset table; always taken in that order, held
//! only for short sections with no `.await`. Delayed answers (JoinGroup,
//! SyncGroup) are `oneshot` receivers awaited after the locks are gone.
//!
//! Groups live in the map while they have members, pending member ids, or
//! committed offsets. A group that ends up Empty with no offsets is
//! forgotten at once (Kafka keeps it up to ten minutes, until its periodic
//! cleanup) and its group record gets a tombstone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::{StorageError, Store};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, error, info};

use super::config::GroupConfig;
use super::log::OffsetsLog;
use super::offsets::OffsetTable;
use super::record::{encode_group_value, RecordKey};
use super::requests::{
    GroupDescription, GroupOverview, JoinOutcome, JoinRequest, MemberRef, SyncOutcome, SyncRequest,
};
use super::state::{Group, GroupState, PendingAssignment, Reply};
use super::timer;

/// One group and the wake-up of its timer task.
#[derive(Debug)]
pub(crate) struct GroupSlot {
    group: Mutex<Group>,
    pub wake: Notify,
}

impl GroupSlot {
    fn new(group: Group) -> Arc<GroupSlot> {
        Arc::new(GroupSlot {
            group: Mutex::new(group),
            wake: Notify::new(),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Group> {
        self.group.lock().expect("group lock poisoned")
    }
}

/// Whether a request may create the group it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Create {
    IfMissing,
    Never,
}

/// Why a request found no live group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoGroup {
    Unknown,
    ShutDown,
}

/// Consumer groups and their committed offsets.
pub struct GroupCoordinator {
    pub(super) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(super) config: GroupConfig,
    pub(super) groups: RwLock<HashMap<String, Arc<GroupSlot>>>,
    /// Changed only by `log`'s acknowledgement callbacks, in log order.
    pub(super) offsets: Arc<Mutex<OffsetTable>>,
    pub(super) log: OffsetsLog,
    /// Set by `shutdown`: requests then get NOT_COORDINATOR.
    pub(super) closed: AtomicBool,
}

impl GroupCoordinator {
    /// Opens (creating if needed) `__consumer_offsets`, replays it, and
    /// restores every group that has committed offsets, Empty. Blocking:
    /// call it off the reactor.
    ///
    /// # Errors
    /// Storage errors creating or reading the offsets topic, or a record
    /// this version cannot read.
    pub fn open(store: &Arc<Store>, config: GroupConfig) -> Result<GroupCoordinator, StorageError> {
        let (log, replayed) = OffsetsLog::open(store, &config)?;
        let groups: HashMap<String, Arc<GroupSlot>> = replayed
            .offsets
            .group_ids()
            .map(|id| {
                let group = Group::restored(id.to_string(), replayed.groups.get(id));
                (id.to_string(), GroupSlot::new(group))
            })
            .collect();
        info!(groups = groups.len(), "group coordinator open");
        Ok(GroupCoordinator {
            inner: Arc::new(Inner {
                config,
                groups: RwLock::new(groups),
                offsets: Arc::new(Mutex::new(replayed.offsets)),
                log,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Answers every waiting JoinGroup and SyncGroup with NOT_COORDINATOR,
    /// stops the timers and closes the offsets log (appends already queued
    /// are still written). Later requests get NOT_COORDINATOR.
    pub fn shutdown(&self) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        for slot in self.inner.slots() {
            slot.lock().close();
            slot.wake.notify_one();
        }
        self.inner.log.close();
        info!("group coordinator closed");
    }

    /// Joins (or rejoins) a member; waits while the rebalance collects the
    /// other members.
    pub async fn join(&self, request: JoinRequest) -> JoinOutcome {
        let member_id = request.member_id.clone();
        if request.group_id.is_empty() {
            return JoinOutcome::error(ResponseError::InvalidGroupId, member_id);
        }
        let create = if request.member_id.is_empty() {
            Create::IfMissing
        } else {
            Create::Never
        };
        let group_id = request.group_id.clone();
        let now = Instant::now();
        let config = &self.inner.config;
        let reply = match self
            .inner
            .with_group(&group_id, create, |group| group.join(request, now, config))
        {
            Ok((slot, reply)) => {
                self.inner.forget_if_idle(&slot);
                reply
            }
            Err(NoGroup::Unknown) => {
                return JoinOutcome::error(ResponseError::UnknownMemberId, member_id)
            }
            Err(NoGroup::ShutDown) => {
                return JoinOutcome::error(ResponseError::NotCoordinator, member_id)
            }
        };
        match reply {
            Reply::Now(outcome) => outcome,
            Reply::Later(outcome) => outcome
                .await
                .unwrap_or_else(|_| JoinOutcome::error(ResponseError::NotCoordinator, member_id)),
        }
    }

    /// Takes a member's SyncGroup; waits for the leader's assignment.
    pub async fn sync(&self, request: SyncRequest) -> SyncOutcome {
        if request.group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let group_id = request.group_id.clone();
        let (slot, (reply, pending)) = self
            .inner
            .with_group(&group_id, Create::Never, |group| group.sync(request))
            .map_err(NoGroup::error)?;
        if let Some(pending) = pending {
            // Spawned, so that the group completes even if this request's
            // future were dropped: its members would otherwise wait forever.
            tokio::spawn(self.inner.clone().store_assignment(slot, pending));
        }
        match reply {
            Reply::Now(outcome) => outcome,
            Reply::Later(outcome) => outcome.await.unwrap_or(Err(ResponseError::NotCoordinator)),
        }
    }

    /// Restarts a member's session clock.
    ///
    /// # Errors
    /// REBALANCE_IN_PROGRESS (rejoin now), ILLEGAL_GENERATION,
    /// UNKNOWN_MEMBER_ID, as Kafka.
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let now = Instant::now();
        self.inner
            .with_group(group_id, Create::Never, |group| {
                group.heartbeat(member_id, generation_id, now)
            })
            .map_err(NoGroup::error)?
            .1
    }

    /// Removes members that leave; one result per member.
    ///
    /// # Errors
    /// A group-wide error (invalid group id, shutting down).
    pub fn leave(
        &self,
        group_id: &str,
        members: &[MemberRef],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let now = Instant::now();
        let config = &self.inner.config;
        let leave_all = |group: &mut Group| {
            members
                .iter()
                .map(|m| group.leave(&m.member_id, m.group_instance_id.as_deref(), now, config))
                .collect()
        };
        match self.inner.with_group(group_id, Create::Never, leave_all) {
            Ok((slot, results)) => {
                self.inner.forget_if_idle(&slot);
                Ok(results)
            }
            Err(NoGroup::Unknown) => Ok(vec![Err(ResponseError::UnknownMemberId); members.len()]),
            Err(NoGroup::ShutDown) => Err(ResponseError::NotCoordinator),
        }
    }

    /// Every group with its state and member count, sorted by group id.
    pub fn list_groups(&self) -> Vec<GroupOverview> {
        let mut groups: Vec<GroupOverview> = self
            .inner
            .slots()
            .iter()
            .map(|slot| slot.lock().overview())
            .collect();
        groups.retain(|g| g.state != GroupState::Dead);
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups
    }

    /// A group's state and members, or `None` if there is no such group.
    pub fn describe_group(&self, group_id: &str) -> Option<GroupDescription> {
        let slot = self.inner.slot(group_id)?;
        let group = slot.lock();
        (group.state != GroupState::Dead).then(|| group.describe())
    }
}

impl NoGroup {
    /// The error for requests that need an existing group.
    pub(super) fn error(self) -> ResponseError {
        match self {
            NoGroup::Unknown => ResponseError::UnknownMemberId,
            NoGroup::ShutDown => ResponseError::NotCoordinator,
        }
    }
}

impl Inner {
    fn slots(&self) -> Vec<Arc<GroupSlot>> {
        self.groups
            .read()
            .expect("groups lock poisoned")
            .values()
            .cloned()
            .collect()
    }

    fn slot(&self, group_id: &str) -> Option<Arc<GroupSlot>> {
        self.groups
            .read()
            .expect("groups lock poisoned")
            .get(group_id)
            .cloned()
    }

    fn slot_or_create(&self, group_id: &str) -> Arc<GroupSlot> {
        if let Some(slot) = self.slot(group_id) {
            return slot;
        }
        let mut groups = self.groups.write().expect("groups lock poisoned");
        groups
            .entry(group_id.to_string())
            .or_insert_with(|| {
                debug!(group = group_id, "group created");
                GroupSlot::new(Group::new(group_id.to_string()))
            })
            .clone()
    }

    /// Runs `f` on the live group named `group_id` (created first if
    /// `create` allows), then schedules its timer. A group found Dead was
    /// forgotten meanwhile; it is looked up again.
    pub(super) fn with_group<R>(
        self: &Arc<Self>,
        group_id: &str,
        create: Create,
        f: impl FnOnce(&mut Group) -> R,
    ) -> Result<(Arc<GroupSlot>, R), NoGroup> {
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return Err(NoGroup::ShutDown);
            }
            let slot = match create {
                Create::IfMissing => self.slot_or_create(group_id),
                Create::Never => self.slot(group_id).ok_or(NoGroup::Unknown)?,
            };
            let mut group = slot.lock();
            if group.state == GroupState::Dead {
                continue;
            }
            let result = f(&mut group);
            self.schedule(&slot, &mut group);
            drop(group);
            return Ok((slot, result));
        }
    }

    /// Makes sure a timer task runs for the group if it has a deadline, and
    /// wakes it if the earliest deadline moved earlier.
    fn schedule(self: &Arc<Self>, slot: &Arc<GroupSlot>, group: &mut Group) {
        let Some(next) = group.next_deadline() else {
            return; // a running task sees this and ends
        };
        if !group.timer_running {
            group.timer_running = true;
            group.timer_deadline = Some(next);
            tokio::spawn(timer::run(Arc::downgrade(self), slot.clone()));
        } else if group.timer_deadline.is_none_or(|current| next < current) {
            slot.wake.notify_one();
        }
    }

    /// The timer task's step: runs what is due, returns when to come back
    /// (`None`: the task ends).
    pub(super) fn on_timer(self: &Arc<Self>, slot: &Arc<GroupSlot>) -> Option<Instant> {
        let next = {
            let mut group = slot.lock();
            if self.closed.load(Ordering::SeqCst) || group.state == GroupState::Dead {
                group.timer_running = false;
                return None;
            }
            group.on_timer(Instant::now(), &self.config);
            let next = group.next_deadline();
            group.timer_deadline = next;
            group.timer_running = next.is_some();
            next
        };
        self.forget_if_idle(slot);
        next
    }

    /// Forgets the group if it is Empty, idle and has no committed offsets.
    pub(super) fn forget_if_idle(&self, slot: &Arc<GroupSlot>) {
        // Almost every call finds the group busy: check that without the
        // map's write lock, which would serialise requests of all groups.
        if !slot.lock().is_idle() {
            return;
        }
        let mut groups = self.groups.write().expect("groups lock poisoned");
        let mut group = slot.lock();
        if !group.is_idle()
            || self
                .offsets
                .lock()
                .expect("offsets lock poisoned")
                .has_group(&group.id)
        {
            return;
        }
        if groups
            .get(&group.id)
            .is_some_and(|current| Arc::ptr_eq(current, slot))
        {
            groups.remove(&group.id);
        }
        group.state = GroupState::Dead;
        if group.has_stored_metadata {
            // Queued under the map lock: a new group of the same name can
            // only write its record after this.
            let key = RecordKey::Group {
                group: group.id.clone(),
            }
            .encode();
            self.log.append_detached(vec![(key, None)]);
        }
        debug!(group = %group.id, "group forgotten: empty and without committed offsets");
        slot.wake.notify_one();
    }

    /// Writes the leader's assignment as the group's record, then lets the
    /// state machine hand it out (or fail the SyncGroups).
    async fn store_assignment(self: Arc<Self>, slot: Arc<GroupSlot>, pending: PendingAssignment) {
        let group_id = slot.lock().id.clone();
        let record = (
            RecordKey::Group {
                group: group_id.clone(),
            }
            .encode(),
            Some(encode_group_value(&pending.record)),
        );
        let result = self.log.append(vec![record], || {}).await.map_err(|error| {
            error!(group = %group_id, %error, "storing the group's assignment failed");
            ResponseError::CoordinatorNotAvailable
        });
        let mut group = slot.lock();
        group.finish_sync(
            pending.generation_id,
            pending.assignments,
            result,
            Instant::now(),
            &self.config,
        );
        self.schedule(&slot, &mut group);
        drop(group);
        // Everyone may have left while the record was being written.
        self.forget_if_idle(&slot);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Wake every timer task so it finds its coordinator gone and ends.
        for slot in self
            .groups
            .get_mut()
            .map(|groups| groups.values())
            .into_iter()
            .flatten()
        {
            slot.wake.notify_one();
        }
    }
}
