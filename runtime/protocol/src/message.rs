//! What requests and responses have in common: a typed body per API, and
//! writing a header plus a body as one frame.
//!
//! [`crate::request::RequestKind`] and [`crate::response::ResponseKind`]
//! are the same shape (one variant per API, named after its `ApiKey`,
//! wrapping the `kafka-protocol` struct), so one macro generates both from
//! the list written out in each module. The codec itself is always
//! `kafka-protocol`'s; this module only dispatches on the API key.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::Encodable;

use crate::error::{FrameError, MessagePart, ProtocolError};
use crate::frame::SIZE_PREFIX_BYTES;

/// A typed body that knows its API and can encode itself at a version.
pub(crate) trait MessageBody {
    fn api_key(&self) -> ApiKey;
    fn compute_size(&self, api_version: i16) -> Result<usize, ProtocolError>;
    fn encode<B: ByteBufMut>(&self, buf: &mut B, api_version: i16) -> Result<(), ProtocolError>;
}

/// Encodes `header` at `header_version` and `body` at `api_version` as one
/// frame, size prefix included.
///
/// The output buffer is sized up front from `compute_size`, so it never
/// grows while writing: each byte of the body (including `records`) is
/// copied exactly once, by `kafka-protocol`, into the frame.
pub(crate) fn encode_message<H: Encodable>(
    header: &H,
    header_version: i16,
    body: &impl MessageBody,
    api_version: i16,
) -> Result<Bytes, ProtocolError> {
    let frame = FrameSize::of(header, header_version, body, api_version)?;
    let mut buf = BytesMut::with_capacity(frame.frame_bytes());
    frame.write(&mut buf, header, header_version, body, api_version)?;
    Ok(buf.freeze())
}

/// As [`encode_message`], into any [`ByteBufMut`]; returns the frame's
/// length, size prefix included. The size is computed before anything is
/// written, so the prefix goes first and `buf` is only ever appended to.
pub(crate) fn encode_message_into<H: Encodable, B: ByteBufMut>(
    header: &H,
    header_version: i16,
    body: &impl MessageBody,
    api_version: i16,
    buf: &mut B,
) -> Result<usize, ProtocolError> {
    let frame = FrameSize::of(header, header_version, body, api_version)?;
    frame.write(buf, header, header_version, body, api_version)?;
    Ok(frame.frame_bytes())
}

/// The payload size of one frame (header plus body), computed before it
/// is written.
struct FrameSize {
    payload_bytes: usize,
    /// The same, as the `i32` the size prefix holds.
    prefix: i32,
}

impl FrameSize {
    fn of<H: Encodable>(
        header: &H,
        header_version: i16,
        body: &impl MessageBody,
        api_version: i16,
    ) -> Result<FrameSize, ProtocolError> {
        let header_bytes = header
            .compute_size(header_version)
            .map_err(|cause| header_error(body.api_key(), api_version, &cause))?;
        let payload_bytes = header_bytes + body.compute_size(api_version)?;
        let prefix = i32::try_from(payload_bytes).map_err(|_| FrameError::TooLarge {
            size_bytes: payload_bytes,
            limit_bytes: i32::MAX as usize,
        })?;
        Ok(FrameSize {
            payload_bytes,
            prefix,
        })
    }

    fn frame_bytes(&self) -> usize {
        SIZE_PREFIX_BYTES + self.payload_bytes
    }

    fn write<H: Encodable, B: ByteBufMut>(
        &self,
        buf: &mut B,
        header: &H,
        header_version: i16,
        body: &impl MessageBody,
        api_version: i16,
    ) -> Result<(), ProtocolError> {
        let start = buf.offset();
        buf.put_i32(self.prefix);
        header
            .encode(buf, header_version)
            .map_err(|cause| header_error(body.api_key(), api_version, &cause))?;
        body.encode(buf, api_version)?;
        debug_assert_eq!(
            buf.offset() - start,
            self.frame_bytes(),
            "compute_size disagrees with encode"
        );
        Ok(())
    }
}

fn header_error(
    api_key: ApiKey,
    api_version: i16,
    cause: &impl std::fmt::Display,
) -> ProtocolError {
    ProtocolError::encode(api_key, api_version, MessagePart::Header, cause)
}

/// Defines a body enum with one variant per listed API, plus its
/// dispatch: `api_key`, `decode`, the [`MessageBody`] impl and a `From`
/// impl per message type.
macro_rules! message_kind {
    (
        $(#[$attr:meta])*
        pub enum $kind:ident {
            $($api:ident($message:ident),)*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $kind {
            $(
                #[doc = concat!("API key `", stringify!($api), "`.")]
                $api($message),
            )*
        }

        impl $kind {
            /// The API this body belongs to.
            pub fn api_key(&self) -> ::kafka_protocol::messages::ApiKey {
                match self {
                    $($kind::$api(_) => ::kafka_protocol::messages::ApiKey::$api,)*
                }
            }

            /// Decodes a body of `api_key` at `api_version` from the front
            /// of `buf`, or `None` if the enum has no variant for
            /// `api_key`. Decoding from `Bytes` keeps `bytes` fields
            /// (records) as slices of the frame, without copying.
            pub(crate) fn decode(
                api_key: ::kafka_protocol::messages::ApiKey,
                api_version: i16,
                buf: &mut ::bytes::Bytes,
            ) -> Option<Result<Self, $crate::error::ProtocolError>> {
                use ::kafka_protocol::protocol::Decodable;
                let decoded = match api_key {
                    $(
                        ::kafka_protocol::messages::ApiKey::$api => {
                            $message::decode(buf, api_version).map($kind::$api)
                        }
                    )*
                    _ => return None,
                };
                Some(decoded.map_err(|cause| {
                    $crate::error::ProtocolError::decode(
                        api_key,
                        api_version,
                        $crate::error::MessagePart::Body,
                        &cause,
                    )
                }))
            }
        }

        impl $crate::message::MessageBody for $kind {
            fn api_key(&self) -> ::kafka_protocol::messages::ApiKey {
                $kind::api_key(self)
            }

            fn compute_size(
                &self,
                api_version: i16,
            ) -> Result<usize, $crate::error::ProtocolError> {
                use ::kafka_protocol::protocol::Encodable;
                let size = match self {
                    $($kind::$api(message) => message.compute_size(api_version),)*
                };
                size.map_err(|cause| {
                    $crate::error::ProtocolError::encode(
                        self.api_key(),
                        api_version,
                        $crate::error::MessagePart::Body,
                        &cause,
                    )
                })
            }

            fn encode<B: ::kafka_protocol::protocol::buf::ByteBufMut>(
                &self,
                buf: &mut B,
                api_version: i16,
            ) -> Result<(), $crate::error::ProtocolError> {
                use ::kafka_protocol::protocol::Encodable;
                let encoded = match self {
                    $($kind::$api(message) => message.encode(buf, api_version),)*
                };
                encoded.map_err(|cause| {
                    $crate::error::ProtocolError::encode(
                        self.api_key(),
                        api_version,
                        $crate::error::MessagePart::Body,
                        &cause,
                    )
                })
            }
        }

        $(
            impl From<$message> for $kind {
                fn from(message: $message) -> Self {
                    $kind::$api(message)
                }
            }
        )*
    };
}

pub(crate) use message_kind;
