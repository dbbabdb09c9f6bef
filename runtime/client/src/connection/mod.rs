//! One TCP connection to one broker: version negotiation, correlation ids,
//! pipelined requests whose responses are matched in order.
//!
//! Kafka answers the requests of a connection in the order they were
//! sent, so a connection is two tasks and two bounded queues:
//!
//! ```text
//! send() ──Outgoing──▶ writer task ──bytes──▶ socket ──bytes──▶ reader task
//!                           └────────Pending (in write order)────────┘
//! ```
//!
//! The writer hands each written request's `Pending` (correlation id, API,
//! version, reply channel) to the reader, which pops one per response
//! frame, checks the correlation id, decodes and replies. A semaphore
//! bounds the requests written and not yet answered
//! ([`ClientConfig::max_in_flight_per_connection`]); a caller waits for a
//! permit before its request is queued, so nothing here grows without
//! limit.
//!
//! The two tasks are in [`wire`]; this module is the caller's side.
//!
//! On connect the client asks ApiVersions and then speaks, per API, the
//! highest version both sides know (`sluice_protocol::negotiate_version`).
//! A connection that fails (socket error, timeout, a response out of step)
//! is closed for good and every request on it fails; the owner
//! ([`crate::cluster::Cluster`]) opens a new one on the next call.

mod wire;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_protocol::kafka_protocol::error::ResponseError;
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::{
    encode_request, negotiate_version, FrameDecoder, ResponseKind, SUPPORTED_APIS,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::api::ApiRequest;
use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use wire::{read_loop, write_loop, Outgoing};

/// The ApiVersions version asked first: v3 is what librdkafka and the Java
/// client send, and any broker from Kafka 2.4 on answers it.
const API_VERSIONS_FIRST: i16 = 3;
/// API keys are small numbers; the table covers every key Kafka defines.
const API_KEY_SLOTS: usize = 128;

/// One negotiated connection to a broker. Cheap to share behind an `Arc`;
/// every method takes `&self`.
pub struct Connection {
    addr: Arc<str>,
    client_id: StrBytes,
    /// Negotiated version per API key, -1 where there is none.
    versions: [i16; API_KEY_SLOTS],
    outgoing: mpsc::Sender<Outgoing>,
    in_flight: Arc<Semaphore>,
    next_correlation_id: AtomicI32,
    closed: Arc<AtomicBool>,
    request_timeout: Duration,
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.writer.abort();
        self.reader.abort();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`) and negotiates API versions.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the TCP connection fails or the broker
    /// does not answer ApiVersions within `connect_timeout`; any error of
    /// the ApiVersions exchange itself.
    pub async fn connect(addr: &str, config: &ClientConfig) -> Result<Connection> {
        let connect_error = |source| ClientError::Connect {
            addr: addr.to_owned(),
            source,
        };
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| connect_error(timed_out(config.connect_timeout)))?
            .map_err(connect_error)?;
        // Requests are whole frames written at once; Nagle would only
        // delay the small ones.
        stream.set_nodelay(true).map_err(connect_error)?;
        let (read_half, write_half) = stream.into_split();

        let addr: Arc<str> = Arc::from(addr);
        let max_in_flight = config.max_in_flight_per_connection.max(1);
        let closed = Arc::new(AtomicBool::new(false));
        let (outgoing, outgoing_rx) = mpsc::channel(max_in_flight);
        let (pending_tx, pending_rx) = mpsc::channel(max_in_flight);
        let writer = tokio::spawn(write_loop(
            write_half,
            outgoing_rx,
            pending_tx,
            closed.clone(),
            addr.clone(),
        ));
        let reader = tokio::spawn(read_loop(
            read_half,
            pending_rx,
            FrameDecoder::new(config.max_response_bytes),
            closed.clone(),
            addr.clone(),
        ));
        let mut connection = Connection {
            addr,
            client_id: StrBytes::from_string(config.client_id.clone()),
            versions: [-1; API_KEY_SLOTS],
            outgoing,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            next_correlation_id: AtomicI32::new(0),
            closed,
            request_timeout: config.request_timeout,
            writer,
            reader,
        };
        let broker_versions =
            tokio::time::timeout(config.connect_timeout, connection.ask_api_versions())
                .await
                .map_err(|_| ClientError::Connect {
                    addr: connection.addr.to_string(),
                    source: timed_out(config.connect_timeout),
                })??;
        for row in SUPPORTED_APIS {
            if let Some(version) = negotiate_version(row.api_key, &broker_versions) {
                connection.versions[row.api_key as i16 as usize] = version;
            }
        }
        debug!(addr = %connection.addr, "connected");
        Ok(connection)
    }

    /// The broker's `host:port`, as dialled.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// How long [`Connection::send`] waits for a response.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// True once the connection has failed or been closed; every request
    /// on it fails from then on.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the connection: requests in flight fail with
    /// [`ClientError::Disconnected`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.writer.abort();
        self.reader.abort();
    }

    /// The version of `api` this connection speaks.
    ///
    /// # Errors
    /// [`ClientError::UnsupportedApi`] when the broker and this client
    /// share no version of it.
    pub fn version(&self, api: ApiKey) -> Result<i16> {
        match self.versions.get(api as i16 as usize) {
            Some(&version) if version >= 0 => Ok(version),
            _ => Err(ClientError::UnsupportedApi {
                addr: self.addr.to_string(),
                api,
            }),
        }
    }

    /// Sends `body` at the negotiated version and waits for its response,
    /// at most the request timeout.
    ///
    /// # Errors
    /// As [`Connection::send_at`].
    pub async fn send<R: ApiRequest>(&self, body: R) -> Result<R::Response> {
        let version = self.version(R::API_KEY)?;
        self.send_at(body, version, self.request_timeout).await
    }

    /// Sends `body` at `version` and waits up to `timeout` for its
    /// response. The caller picks the version when the body's fields depend
    /// on it ([`Connection::version`] tells the negotiated one).
    ///
    /// # Errors
    /// [`ClientError::Protocol`] if the body does not encode at `version`
    /// or the response does not decode; [`ClientError::Timeout`] (which
    /// closes the connection), [`ClientError::Io`] or
    /// [`ClientError::Disconnected`] when no response arrives.
    pub async fn send_at<R: ApiRequest>(
        &self,
        body: R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        let response = self.exchange(body.into(), R::API_KEY, version, true, timeout);
        match response.await? {
            Some(kind) => {
                let body = kind.api_key();
                R::response(kind).ok_or_else(|| ClientError::Protocol {
                    addr: self.addr.to_string(),
                    api: R::API_KEY,
                    source: sluice_protocol::ProtocolError::BodyMismatch {
                        api_key: R::API_KEY,
                        body,
                    },
                })
            }
            None => Err(ClientError::Disconnected {
                addr: self.addr.to_string(),
                api: R::API_KEY,
            }),
        }
    }

    /// Writes `body` without waiting for a response, for requests the
    /// broker does not answer (Produce with acks=0). Returns once the bytes
    /// are handed to the socket.
    ///
    /// # Errors
    /// As [`Connection::send_at`], minus the response.
    pub async fn send_without_response<R: ApiRequest>(&self, body: R, version: i16) -> Result<()> {
        let written = self.exchange(
            body.into(),
            R::API_KEY,
            version,
            false,
            self.request_timeout,
        );
        written.await.map(drop)
    }

    async fn exchange(
        &self,
        body: sluice_protocol::RequestKind,
        api_key: ApiKey,
        api_version: i16,
        expects_response: bool,
        timeout: Duration,
    ) -> Result<Option<ResponseKind>> {
        let disconnected = || ClientError::Disconnected {
            addr: self.addr.to_string(),
            api: api_key,
        };
        if self.is_closed() {
            return Err(disconnected());
        }
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| disconnected())?;
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(api_version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let frame = encode_request(&header, &body).map_err(|source| ClientError::Protocol {
            addr: self.addr.to_string(),
            api: api_key,
            source,
        })?;
        drop(body);
        let (reply, response) = oneshot::channel();
        let outgoing = Outgoing {
            frame,
            api_key,
            api_version,
            correlation_id,
            expects_response,
            reply,
            permit,
        };
        self.outgoing
            .send(outgoing)
            .await
            .map_err(|_| disconnected())?;
        match tokio::time::timeout(timeout, response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(disconnected()),
            Err(_) => {
                // The answers behind this one would come late too, and a
                // stuck broker must not hold every caller: start afresh.
                self.close();
                Err(ClientError::Timeout {
                    addr: self.addr.to_string(),
                    api: api_key,
                    timeout_ms: timeout.as_millis() as u64,
                })
            }
        }
    }

    /// Asks ApiVersions, retrying once at the version the broker lists if
    /// it does not know the first one (it answers UNSUPPORTED_VERSION in
    /// the v0 layout, which `decode_response` reads).
    async fn ask_api_versions(&self) -> Result<ApiVersionsResponse> {
        let mut version = API_VERSIONS_FIRST;
        loop {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("sluice"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let request = if version >= 3 {
                request
            } else {
                ApiVersionsRequest::default()
            };
            let response = self.send_at(request, version, self.request_timeout).await?;
            let unsupported = ResponseError::UnsupportedVersion.code();
            if response.error_code == unsupported {
                match negotiate_version(ApiKey::ApiVersions, &response) {
                    Some(lower) if lower < version => {
                        version = lower;
                        continue;
                    }
                    _ => {}
                }
            }
            if let Some(error) = ClientError::from_code(
                ApiKey::ApiVersions,
                || format!("broker {}", self.addr),
                response.error_code,
                None,
            ) {
                return Err(error);
            }
            return Ok(response);
        }
    }
}

fn timed_out(after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no answer within {} ms", after.as_millis()),
    )
}
