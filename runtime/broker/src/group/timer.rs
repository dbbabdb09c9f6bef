//! The per-group timer: one tokio task per group that has something due
//! (a member's session, an unused member id, the end of a join phase).
//!
//! The task sleeps until the group's earliest deadline, runs what is due
//! (`Group::on_timer`), and repeats; it ends when the group has nothing
//! left to time (Stable groups always have sessions; Empty groups have
//! nothing). Whoever makes a deadline earlier than the one the task sleeps
//! until pokes the group's `Notify`; later deadlines (every heartbeat) need
//! no wake-up, the task finds them when it wakes.
//!
//! The task holds only a `Weak` to the coordinator, so it never keeps a
//! shut-down broker's state alive: the coordinator pokes every group when
//! it closes or drops, and a task that cannot upgrade its `Weak` ends.

use std::sync::{Arc, Weak};

use tokio::time::sleep_until;

use super::coordinator::{GroupSlot, Inner};

/// Runs `slot`'s timer until its group has nothing due or the coordinator
/// is gone.
pub(crate) async fn run(coordinator: Weak<Inner>, slot: Arc<GroupSlot>) {
    loop {
        let next = match coordinator.upgrade() {
            Some(inner) => inner.on_timer(&slot),
            None => return,
        };
        let Some(deadline) = next else {
            return;
        };
        tokio::select! {
            () = sleep_until(deadline) => {}
            () = slot.wake.notified() => {}
        }
    }
}
