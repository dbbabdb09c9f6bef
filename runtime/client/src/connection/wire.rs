//! The two tasks behind a [`super::Connection`]: the writer puts request
//! frames on the socket in queue order and hands each one's [`Pending`] to
//! the reader, which cuts response frames off the socket and answers the
//! pending requests in that same order.
//!
//! Kafka answers a connection's requests in the order they arrive, so the
//! order of `Pending`s is the order of responses; the correlation id of
//! every response is still checked, and a mismatch closes the connection.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::ApiKey;
use sluice_protocol::{decode_response, FrameDecoder, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tracing::debug;

use crate::error::{ClientError, Result};

/// Read buffer to start with; it grows to the largest frame announced.
const READ_BUFFER_BYTES: usize = 64 * 1024;

pub(super) type Reply = oneshot::Sender<Result<Option<ResponseKind>>>;

/// A request on its way to the writer task.
pub(super) struct Outgoing {
    pub(super) frame: Bytes,
    pub(super) api_key: ApiKey,
    pub(super) api_version: i16,
    pub(super) correlation_id: i32,
    /// False for Produce with acks=0: the broker sends nothing back, so
    /// the reply (`Ok(None)`) goes out as soon as the bytes are written.
    pub(super) expects_response: bool,
    pub(super) reply: Reply,
    pub(super) permit: OwnedSemaphorePermit,
}

/// A written request waiting for its response.
pub(super) struct Pending {
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    reply: Reply,
    /// Returned to the in-flight semaphore when the response is handled.
    _permit: OwnedSemaphorePermit,
}

/// Writes each request in queue order and hands its `Pending` to the
/// reader. Ends when the connection is dropped or the socket fails.
pub(super) async fn write_loop(
    mut socket: OwnedWriteHalf,
    mut outgoing: mpsc::Receiver<Outgoing>,
    pending: mpsc::Sender<Pending>,
    closed: Arc<AtomicBool>,
    addr: Arc<str>,
) {
    while let Some(request) = outgoing.recv().await {
        if let Err(source) = socket.write_all(&request.frame).await {
            closed.store(true, Ordering::Release);
            let kind = source.kind();
            let _ = request.reply.send(Err(ClientError::Io {
                addr: addr.to_string(),
                api: request.api_key,
                source,
            }));
            outgoing.close();
            while let Ok(request) = outgoing.try_recv() {
                let _ = request.reply.send(Err(ClientError::Io {
                    addr: addr.to_string(),
                    api: request.api_key,
                    source: io::Error::new(kind, "an earlier write on this connection failed"),
                }));
            }
            return;
        }
        if !request.expects_response {
            let _ = request.reply.send(Ok(None));
            continue;
        }
        let waiting = Pending {
            api_key: request.api_key,
            api_version: request.api_version,
            correlation_id: request.correlation_id,
            reply: request.reply,
            _permit: request.permit,
        };
        if let Err(mpsc::error::SendError(waiting)) = pending.send(waiting).await {
            // The reader has stopped: the connection is gone.
            let _ = waiting.reply.send(Err(ClientError::Disconnected {
                addr: addr.to_string(),
                api: waiting.api_key,
            }));
        }
    }
}

/// Why the reader stopped, given to every request still waiting.
enum ReadEnd {
    Eof,
    Io(io::Error),
    Failed,
}

/// Reads response frames and answers the pending requests in order.
pub(super) async fn read_loop(
    mut socket: OwnedReadHalf,
    mut pending: mpsc::Receiver<Pending>,
    decoder: FrameDecoder,
    closed: Arc<AtomicBool>,
    addr: Arc<str>,
) {
    let mut buffer = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let end = 'read: loop {
        loop {
            let frame = match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(source) => {
                    if let Some(waiting) = pending.recv().await {
                        let _ = waiting.reply.send(Err(ClientError::Frame {
                            addr: addr.to_string(),
                            source,
                        }));
                    }
                    break 'read ReadEnd::Failed;
                }
            };
            let Some(waiting) = pending.recv().await else {
                break 'read ReadEnd::Failed;
            };
            if !answer(waiting, frame, &addr) {
                break 'read ReadEnd::Failed;
            }
        }
        // Make room for the whole frame that is arriving, once, instead of
        // growing the buffer read by read.
        if let Some(prefix) = buffer.get(..4) {
            let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
            let wanted = (size.max(0) as usize + 4).min(decoder.max_frame_bytes + 4);
            buffer.reserve(wanted.saturating_sub(buffer.len()));
        } else if buffer.capacity() < READ_BUFFER_BYTES {
            buffer.reserve(READ_BUFFER_BYTES);
        }
        match socket.read_buf(&mut buffer).await {
            Ok(0) => break ReadEnd::Eof,
            Ok(_) => {}
            Err(error) => break ReadEnd::Io(error),
        }
    };
    closed.store(true, Ordering::Release);
    pending.close();
    while let Some(waiting) = pending.recv().await {
        let error = match &end {
            ReadEnd::Io(source) => ClientError::Io {
                addr: addr.to_string(),
                api: waiting.api_key,
                source: io::Error::new(source.kind(), source.to_string()),
            },
            ReadEnd::Eof | ReadEnd::Failed => ClientError::Disconnected {
                addr: addr.to_string(),
                api: waiting.api_key,
            },
        };
        let _ = waiting.reply.send(Err(error));
    }
    if let ReadEnd::Io(error) = end {
        debug!(%addr, %error, "connection failed");
    }
}

/// Decodes `frame` as the response to `waiting` and replies. Returns false
/// when the connection can no longer be trusted (correlation id out of
/// step).
fn answer(waiting: Pending, frame: Bytes, addr: &str) -> bool {
    let received = frame
        .get(..4)
        .map(|id| i32::from_be_bytes([id[0], id[1], id[2], id[3]]));
    if received != Some(waiting.correlation_id) {
        let _ = waiting.reply.send(Err(ClientError::CorrelationMismatch {
            addr: addr.to_owned(),
            api: waiting.api_key,
            expected: waiting.correlation_id,
            received: received.unwrap_or(-1),
        }));
        return false;
    }
    let result = decode_response(waiting.api_key, waiting.api_version, frame)
        .map(|(_, body)| Some(body))
        .map_err(|source| ClientError::Protocol {
            addr: addr.to_owned(),
            api: waiting.api_key,
            source,
        });
    let _ = waiting.reply.send(result);
    true
}
