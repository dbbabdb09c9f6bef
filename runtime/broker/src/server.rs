//! Accepting connections: a semaphore caps how many are served at once, a
//! failed accept backs off instead of spinning, and each connection runs
//! in its own task whose errors end that connection only.
//!
//! Shutdown (mini-redis style): a `watch` channel tells every task to stop
//! reading new requests; each connection finishes its in-flight requests
//! and drops its clone of `done`; `run` returns once the last one has.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::{debug, error, info, Instrument};

use crate::connection::Connection;
use crate::state::Broker;

/// Serves Kafka connections on `listener` until `shutdown` turns true, then
/// waits for open connections to finish their in-flight requests.
pub async fn run(broker: Arc<Broker>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(broker.config.max_connections));
    let (done_sender, mut done) = mpsc::channel::<()>(1);
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("semaphore never closed"),
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(error) => {
                // Out of file descriptors and the like: wait, don't spin.
                error!(%error, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(error) = socket.set_nodelay(true) {
            debug!(%peer, %error, "set_nodelay failed");
        }
        let connection = Connection::new(broker.clone(), socket, peer, shutdown.clone());
        let done_sender = done_sender.clone();
        let span = tracing::debug_span!("connection", %peer);
        tokio::spawn(
            async move {
                if let Err(error) = connection.run().await {
                    info!(%error, "connection closed");
                }
                drop(permit);
                drop(done_sender);
            }
            .instrument(span),
        );
    }
    drop(done_sender);
    // Every connection holds a sender; recv returns None once all are gone.
    let _ = done.recv().await;
}
