//! Kafka framing: every request and response on a connection is a 4-byte
//! big-endian size followed by that many bytes of payload.
//!
//! This module exists so that the connection loop never looks inside a
//! payload and the codec never looks at a socket. [`FrameDecoder`] cuts
//! whole frames out of a read buffer; [`write_frame`] writes one in place.
//! Neither knows anything about API keys or versions.
//!
//! A partial frame is an expected state (`Ok(None)`), not an error, and
//! nothing is allocated for it: the payload is split off the read buffer
//! only once all of it is there, so a peer that announces a large frame
//! and stalls costs no more memory than the bytes it actually sent.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::FrameError;

/// Bytes of the size prefix in front of every frame.
pub const SIZE_PREFIX_BYTES: usize = 4;

/// The largest payload [`FrameDecoder::default`] accepts: 100 MiB, the
/// default of Kafka's `socket.request.max.bytes`, so a client that works
/// against Kafka with default settings also works against Sluice.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Cuts whole frames out of a connection's read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    /// The largest payload (excluding the size prefix) accepted from the
    /// peer. A larger size prefix is an error before any of the payload is
    /// buffered, which bounds the memory one connection can pin.
    pub max_frame_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl FrameDecoder {
    /// A decoder that accepts payloads of up to `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameDecoder { max_frame_bytes }
    }

    /// Takes the next whole frame's payload (size prefix removed) off the
    /// front of `buf`.
    ///
    /// Returns `Ok(None)` and leaves `buf` untouched while the size prefix
    /// or the payload is incomplete: read more bytes and call again. The
    /// payload is split off `buf` without copying.
    ///
    /// # Errors
    ///
    /// [`FrameError::NegativeSize`] or [`FrameError::TooLarge`] as soon as
    /// the size prefix is buffered, even if the payload is not. The stream
    /// has no recoverable frame boundary after either, so the caller closes
    /// the connection; `buf` is left untouched.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = buf.get(..SIZE_PREFIX_BYTES) else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let Ok(size_bytes) = usize::try_from(size) else {
            return Err(FrameError::NegativeSize { size });
        };
        if size_bytes > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                size_bytes,
                limit_bytes: self.max_frame_bytes,
            });
        }
        if buf.len() - SIZE_PREFIX_BYTES < size_bytes {
            return Ok(None);
        }
        buf.advance(SIZE_PREFIX_BYTES);
        Ok(Some(buf.split_to(size_bytes).freeze()))
    }
}

/// Appends one frame to `buf`: a size prefix, then whatever `write_payload`
/// appends, with the prefix patched to the payload's length afterwards.
///
/// Writing the payload in place (rather than taking it as a slice) is what
/// lets an encoder put a message straight into the output buffer with no
/// intermediate copy. Callers that know the payload size should reserve it
/// in `buf` first so the buffer does not grow (and copy) while writing.
///
/// # Errors
///
/// Whatever `write_payload` returns, or [`FrameError::TooLarge`] if the
/// payload does not fit the `i32` size prefix. On error `buf` is truncated
/// back to its length before the call.
pub fn write_frame<E: From<FrameError>>(
    buf: &mut BytesMut,
    write_payload: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let start = buf.len();
    buf.put_i32(0);
    if let Err(error) = write_payload(buf) {
        buf.truncate(start);
        return Err(error);
    }
    let payload_bytes = buf.len() - start - SIZE_PREFIX_BYTES;
    let Ok(size) = i32::try_from(payload_bytes) else {
        buf.truncate(start);
        return Err(FrameError::TooLarge {
            size_bytes: payload_bytes,
            limit_bytes: i32::MAX as usize,
        }
        .into());
    };
    buf[start..start + SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(payload: &[u8]) -> Vec<u8> {
        let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn partial_frame_at_every_split_point_is_none_until_complete() {
        let payload = b"a Kafka request, or something like it";
        let frame = frame_of(payload);
        let decoder = FrameDecoder::new(1024);
        for split in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..split]);
            assert_eq!(decoder.decode(&mut buf), Ok(None), "split at {split}");
            assert_eq!(buf.len(), split, "a partial frame is left in place");
            buf.extend_from_slice(&frame[split..]);
            let got = decoder.decode(&mut buf).unwrap();
            assert_eq!(got.as_deref(), Some(&payload[..]), "split at {split}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn byte_at_a_time_yields_exactly_one_frame() {
        let payload = b"one byte at a time";
        let decoder = FrameDecoder::new(1024);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for byte in frame_of(payload) {
            buf.put_u8(byte);
            if let Some(frame) = decoder.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, vec![Bytes::from_static(payload)]);
    }

    #[test]
    fn two_frames_back_to_back_come_out_in_order() {
        let mut wire = frame_of(b"first");
        wire.extend(frame_of(b"second, longer"));
        wire.extend_from_slice(&[0, 0]); // the start of a third size prefix
        let decoder = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(
            decoder.decode(&mut buf).unwrap().as_deref(),
            Some(&b"first"[..])
        );
        assert_eq!(
            decoder.decode(&mut buf).unwrap().as_deref(),
            Some(&b"second, longer"[..])
        );
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], &[0, 0]);
    }

    #[test]
    fn empty_payload_is_a_frame() {
        let decoder = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(decoder.decode(&mut buf), Ok(Some(Bytes::new())));
    }

    #[test]
    fn negative_size_is_an_error_without_waiting_for_payload() {
        let decoder = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::NegativeSize { size: -1 })
        );
        let mut buf = BytesMut::from(&i32::MIN.to_be_bytes()[..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::NegativeSize { size: i32::MIN })
        );
    }

    #[test]
    fn size_above_limit_is_an_error_without_waiting_for_payload() {
        let decoder = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&1025i32.to_be_bytes()[..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::TooLarge {
                size_bytes: 1025,
                limit_bytes: 1024
            })
        );
        assert_eq!(buf.len(), SIZE_PREFIX_BYTES, "nothing consumed");

        let mut at_limit = BytesMut::from(&frame_of(&[7; 1024])[..]);
        assert_eq!(decoder.decode(&mut at_limit).unwrap().unwrap().len(), 1024);
    }

    #[test]
    fn default_limit_is_kafkas_socket_request_max_bytes() {
        assert_eq!(FrameDecoder::default().max_frame_bytes, 104_857_600);
    }

    #[test]
    fn write_frame_prefixes_the_payload_length() {
        let mut buf = BytesMut::from(&b"earlier"[..]);
        write_frame::<FrameError>(&mut buf, |buf| {
            buf.put_slice(b"payload");
            Ok(())
        })
        .unwrap();
        assert_eq!(&buf[..7], b"earlier");
        assert_eq!(&buf[7..], &frame_of(b"payload")[..]);
    }

    #[test]
    fn write_frame_leaves_buf_as_it_was_on_error() {
        let mut buf = BytesMut::from(&b"earlier"[..]);
        let result = write_frame(&mut buf, |buf| {
            buf.put_slice(b"half a payload");
            Err(FrameError::NegativeSize { size: -7 })
        });
        assert_eq!(result, Err(FrameError::NegativeSize { size: -7 }));
        assert_eq!(&buf[..], b"earlier");
    }

    #[test]
    fn write_then_decode_round_trips() {
        let mut buf = BytesMut::new();
        for payload in [&b"x"[..], b"", b"third"] {
            write_frame::<FrameError>(&mut buf, |buf| {
                buf.put_slice(payload);
                Ok(())
            })
            .unwrap();
        }
        let decoder = FrameDecoder::default();
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        assert_eq!(frames, vec![&b"x"[..], b"", b"third"]);
    }
}
