//! Kafka framing, the request/response codec and version negotiation,
//! built on `kafka-protocol`.
//!
//! This crate turns bytes into typed Kafka messages and back, for both
//! sides of a connection: the broker decodes requests and encodes
//! responses, Sluice's CLI (a Kafka client) encodes requests and decodes
//! responses. It depends on `bytes`, `thiserror` and `kafka-protocol` only
//! and must not see storage, sockets or wasmtime: no I/O, no async, no
//! decisions about what a request means.
//!
//! | module | one job |
//! |---|---|
//! | [`frame`] | cut size-prefixed frames out of a read buffer, write one in place |
//! | [`versions`] | the APIs and version ranges Sluice serves, the ApiVersions answer |
//! | [`request`] | broker side: frame → [`DecodedRequest`] (or an error that says how to answer) |
//! | [`response`] | broker side: [`ResponseKind`] → frame |
//! | [`client`] | client side: request → frame, frame → response, version choice |
//! | [`error`] | [`FrameError`] and [`ProtocolError`] |
//! | [`alloc_guard`] | a global allocator that keeps hostile array counts from aborting the process |
//!
//! Every message codec is `kafka-protocol`'s; this crate only frames,
//! dispatches on the API key and enforces the version table. Record bytes
//! (`records` in Produce and Fetch) are never parsed here: decoding keeps
//! them as slices of the frame; encoding copies them once into the output
//! frame, or not at all through [`encode_response_into`] (see [`response`]).
//!
//! Errors are plain enums (no boxing), since one may be produced per
//! request. The kind of error tells the broker what to do: close the
//! connection for anything malformed, as Kafka does, except an ApiVersions
//! request at an unknown version, which Kafka answers
//! ([`ProtocolError::api_versions_fallback`]).
//!
//! Known limit, from `kafka-protocol` 0.18: its array decoder reserves
//! capacity for the element count read off the wire before checking that
//! the frame holds that many elements, so a small malicious frame can ask
//! for a multi-gigabyte allocation, which aborts the process if it fails.
//! The frame size limit does not bound it. Binaries that decode requests
//! install [`alloc_guard::LazyHugeAlloc`] as their global allocator, which
//! turns such a reservation into a lazy mapping so decoding fails cleanly
//! instead (`tests/wire.rs` installs it and proves it).

pub mod alloc_guard;
pub mod client;
pub mod error;
pub mod frame;
mod message;
pub mod request;
pub mod response;
pub mod versions;

pub use client::{decode_response, encode_request, negotiate_version};
pub use error::{FrameError, MessagePart, ProtocolError};
pub use frame::{write_frame, FrameDecoder};
pub use request::{decode_request, DecodedRequest, RequestKind};
pub use response::{
    encode_response, encode_response_into, encode_unsupported_api_versions, ResponseKind,
};
pub use versions::{supported, SupportedApi, SUPPORTED_APIS};

/// The `kafka-protocol` this crate is built on, so callers build message
/// structs from the same version the codec uses.
pub use kafka_protocol;
