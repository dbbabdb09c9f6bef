//! One client connection: read frames, decode requests, run handlers, write
//! responses in request order.
//!
//! Requests of a connection run concurrently (up to
//! `max_in_flight_per_connection`), because clients pipeline: librdkafka
//! keeps several produce requests in flight, and each waits for its fsync.
//! Responses leave in request order, as the protocol requires, through a
//! `FuturesOrdered`. A malformed or oversized frame ends this connection
//! with a log line; nothing else is affected.
//!
//! A response is a list of chunks (see `fetch_encoding`): a Fetch
//! response's records stay the storage's own bytes and go out with the
//! encoded pieces around them in one vectored write.

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesOrdered, StreamExt};
use sluice_protocol::{
    decode_request, encode_unsupported_api_versions, FrameDecoder, ProtocolError,
};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, warn, Instrument};

use crate::fetch_encoding::encode_response_chunks;
use crate::handlers;
use crate::state::Broker;

/// Why a connection ended early.
#[derive(Debug, Error)]
pub enum ConnectionError {
    #[error("malformed request from {peer}: {source}")]
    Protocol {
        peer: SocketAddr,
        #[source]
        source: ProtocolError,
    },
    #[error("bad frame from {peer}: {source}")]
    Frame {
        peer: SocketAddr,
        #[source]
        source: sluice_protocol::FrameError,
    },
    #[error("socket error with {peer}: {source}")]
    Io {
        peer: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A request being handled: its encoded response frame (in chunks, to
/// write in order), or `None` when the request gets no response (Produce
/// with acks=0).
type Pending = Pin<Box<dyn Future<Output = Option<Result<Vec<Bytes>, ProtocolError>>> + Send>>;

/// Slices handed to one vectored write; Linux takes up to 1024 (IOV_MAX).
const WRITE_SLICES_MAX: usize = 64;

pub struct Connection {
    broker: Arc<Broker>,
    socket: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    pub fn new(
        broker: Arc<Broker>,
        socket: TcpStream,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Connection {
            broker,
            socket,
            peer,
            shutdown,
        }
    }

    /// Serves the connection until the client hangs up, sends something
    /// malformed, or the broker shuts down (after in-flight requests).
    ///
    /// # Errors
    /// The reason the connection was closed from this side.
    pub async fn run(self) -> Result<(), ConnectionError> {
        let Connection {
            broker,
            socket,
            peer,
            mut shutdown,
        } = self;
        let (mut reader, mut writer) = socket.into_split();
        let decoder = FrameDecoder::new(broker.config.max_frame_bytes);
        let max_in_flight = broker.config.max_in_flight_per_connection.max(1);
        let mut buffer = BytesMut::with_capacity(64 * 1024);
        let mut in_flight: FuturesOrdered<Pending> = FuturesOrdered::new();
        let mut reading = true;
        let io_error = |source| ConnectionError::Io { peer, source };
        loop {
            // Cut every whole frame out of the buffer before reading more.
            while reading && in_flight.len() < max_in_flight {
                let frame = match decoder.decode(&mut buffer) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(source) => {
                        warn!(%peer, error = %source, "closing connection: bad frame");
                        return Err(ConnectionError::Frame { peer, source });
                    }
                };
                match decode_request(frame) {
                    Ok(request) => {
                        let header = request.header;
                        let span = tracing::debug_span!(
                            "request",
                            api_key = ?request.body.api_key(),
                            api_version = header.request_api_version,
                            correlation_id = header.correlation_id,
                        );
                        let broker = broker.clone();
                        in_flight.push_back(Box::pin(
                            async move {
                                let api_key = request.body.api_key();
                                let version = header.request_api_version;
                                let response =
                                    handlers::handle(&broker, &header, peer, request.body).await;
                                response.map(|body| {
                                    encode_response_chunks(
                                        header.correlation_id,
                                        api_key,
                                        version,
                                        &body,
                                    )
                                })
                            }
                            .instrument(span),
                        ));
                    }
                    Err(error) => {
                        if let Some(correlation_id) = error.api_versions_fallback() {
                            // Kafka answers an ApiVersions it cannot parse with
                            // the versions it can, so the client retries lower.
                            let bytes = encode_unsupported_api_versions(correlation_id)
                                .map_err(|source| ConnectionError::Protocol { peer, source })?;
                            in_flight.push_back(Box::pin(async move { Some(Ok(vec![bytes])) }));
                            continue;
                        }
                        warn!(%peer, %error, "closing connection: malformed request");
                        return Err(ConnectionError::Protocol {
                            peer,
                            source: error,
                        });
                    }
                }
            }
            if !reading && in_flight.is_empty() {
                break;
            }
            tokio::select! {
                Some(response) = in_flight.next(), if !in_flight.is_empty() => {
                    match response {
                        Some(Ok(chunks)) => write_chunks(&mut writer, &chunks).await.map_err(io_error)?,
                        Some(Err(source)) => {
                            warn!(%peer, error = %source, "closing connection: response could not be encoded");
                            return Err(ConnectionError::Protocol { peer, source });
                        }
                        None => {} // acks=0 produce: no response
                    }
                }
                read = reader.read_buf(&mut buffer), if reading && in_flight.len() < max_in_flight => {
                    if read.map_err(io_error)? == 0 {
                        if !buffer.is_empty() {
                            debug!(%peer, bytes = buffer.len(), "peer closed mid-frame");
                        }
                        reading = false;
                    }
                }
                _ = shutdown.changed(), if reading => {
                    reading = false;
                }
            }
        }
        writer.shutdown().await.ok();
        Ok(())
    }
}

/// Writes a response's chunks in order, as few vectored writes as the
/// socket takes.
async fn write_chunks(writer: &mut OwnedWriteHalf, chunks: &[Bytes]) -> std::io::Result<()> {
    if let [frame] = chunks {
        return writer.write_all(frame).await;
    }
    // The first chunk not fully written, and how much of it was.
    let (mut index, mut written) = (0, 0);
    while index < chunks.len() {
        if written == chunks[index].len() {
            (index, written) = (index + 1, 0);
            continue;
        }
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES_MAX];
        let mut count = 0;
        for (i, chunk) in chunks[index..].iter().take(WRITE_SLICES_MAX).enumerate() {
            slices[i] = IoSlice::new(if i == 0 { &chunk[written..] } else { chunk });
            count += 1;
        }
        let mut progress = writer.write_vectored(&slices[..count]).await?;
        if progress == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while progress > 0 {
            let left = chunks[index].len() - written;
            if progress < left {
                written += progress;
                progress = 0;
            } else {
                progress -= left;
                index += 1;
                written = 0;
            }
        }
    }
    Ok(())
}
