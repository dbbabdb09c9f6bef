//! What keeps a membership alive between polls: the member's own
//! connection to its coordinator, and the heartbeat task with the flags it
//! raises for the next `poll`.
//!
//! The connection is the member's own because the coordinator holds a
//! JoinGroup until the whole group has rejoined: on a shared connection
//! every request behind it (another member's heartbeat, a fetch) would
//! wait that long, and the rebalance could never finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sluice_protocol::kafka_protocol::error::ResponseError;
use tracing::{debug, warn};

use super::coordinator;
use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::Result;

/// Flags the heartbeat task raises for the next `poll`.
#[derive(Debug, Default)]
pub(super) struct Signals {
    pub(super) rejoin: AtomicBool,
    /// The coordinator no longer knows the member id: join afresh.
    pub(super) forget_member_id: AtomicBool,
}

/// The member's own connection to its group's coordinator, shared by the
/// member and its heartbeat task and reopened after a failure.
pub(super) struct CoordinatorLink {
    cluster: Arc<Cluster>,
    pub(super) group: String,
    connection: Mutex<Option<Arc<Connection>>>,
}

impl CoordinatorLink {
    pub(super) fn new(cluster: Arc<Cluster>, group: String) -> CoordinatorLink {
        CoordinatorLink {
            cluster,
            group,
            connection: Mutex::new(None),
        }
    }

    pub(super) async fn get(&self) -> Result<Arc<Connection>> {
        let current = self.lock().clone();
        if let Some(connection) = current.filter(|c| !c.is_closed()) {
            return Ok(connection);
        }
        let addr = self.cluster.coordinator_addr(&self.group).await?;
        let connection = match Connection::connect(&addr, self.cluster.config()).await {
            Ok(connection) => Arc::new(connection),
            Err(error) => {
                self.cluster.invalidate_coordinator(&self.group);
                return Err(error);
            }
        };
        *self.lock() = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets the coordinator (NOT_COORDINATOR, a lost connection): the
    /// next call finds it again.
    pub(super) fn reset(&self) {
        self.cluster.invalidate_coordinator(&self.group);
        if let Some(connection) = self.lock().take() {
            connection.close();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<Connection>>> {
        // Only ever holds an `Option<Arc<_>>` swap; a panic cannot leave
        // it half-written.
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Heartbeats every `interval` until aborted or the membership ends.
pub(super) async fn heartbeat_loop(
    link: Arc<CoordinatorLink>,
    generation_id: i32,
    member_id: String,
    interval: Duration,
    signals: Arc<Signals>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let group = &link.group;
        let result = async {
            let connection = link.get().await?;
            coordinator::heartbeat(&connection, group, generation_id, &member_id).await
        }
        .await;
        let code = match result {
            Ok(code) => code,
            Err(error) => {
                debug!(group = %group, %error, "heartbeat failed; finding the coordinator again");
                link.reset();
                continue;
            }
        };
        match ResponseError::try_from_code(code) {
            None => {}
            // Keep heartbeating until `poll` rejoins, so the session
            // stays alive meanwhile.
            Some(ResponseError::RebalanceInProgress) => {
                signals.rejoin.store(true, Ordering::Release);
            }
            Some(ResponseError::UnknownMemberId) => {
                signals.forget_member_id.store(true, Ordering::Release);
                signals.rejoin.store(true, Ordering::Release);
                return;
            }
            Some(ResponseError::IllegalGeneration | ResponseError::FencedInstanceId) => {
                signals.rejoin.store(true, Ordering::Release);
                return;
            }
            Some(
                ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress,
            ) => link.reset(),
            Some(other) => {
                warn!(group = %group, error = %crate::error::code_name(other), "heartbeat refused");
            }
        }
    }
}
