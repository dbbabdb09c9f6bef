//! Per-batch compression codecs, as Kafka numbers them in the attributes,
//! and the byte formats Kafka clients actually put on the wire.
//!
//! A compressed batch keeps its 61-byte header in the clear and compresses
//! only the record section. Each codec has one wire format that Java and
//! librdkafka agree on:
//!
//! - gzip: a gzip stream (concatenated members are accepted, as Java's
//!   `GZIPInputStream` does).
//! - snappy: snappy-java's xerial framing, see [`snappy`].
//! - lz4: the LZ4 *frame* format, see [`lz4`].
//! - zstd: one or more zstd frames, with or without a content size.
//!
//! Decompression reads bytes from producers and from disk, so it is bounded:
//! past `limit_bytes` (default [`DECOMPRESSED_BYTES_MAX`]) it stops and
//! errors instead of growing memory for a decompression bomb. This module
//! must not look inside the record section.

use std::cell::RefCell;
use std::io::{Read, Write};

use bytes::Bytes;

use crate::error::BatchError;

pub mod lz4;
pub mod snappy;

/// Largest record section [`decompress`] produces: Kafka's default
/// `message.max.bytes` is 1 MiB and real batches stay far below this, so
/// anything larger is treated as hostile.
pub const DECOMPRESSED_BYTES_MAX: usize = 256 * 1024 * 1024;

/// zstd level Kafka uses when `compression.zstd.level` is not set.
const ZSTD_LEVEL: i32 = 3;

/// The codec of a batch's record section (attributes bits 0..3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The codec named by the low three attribute bits, if Kafka defines it.
    pub fn from_attributes(attributes: i16) -> Option<Compression> {
        match attributes & 0x7 {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The attribute bits for this codec.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name Kafka's `compression.type` uses.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Compresses a record section with `codec` into a new buffer.
///
/// # Errors
/// [`BatchError::Compression`] when the codec's library fails.
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    compress_into(codec, input, &mut out)?;
    Ok(out)
}

/// Appends the compressed form of `input` to `out`, leaving what `out`
/// already holds (a batch header, say) in place.
///
/// # Errors
/// [`BatchError::Compression`] when the codec's library fails.
pub fn compress_into(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), BatchError> {
    let fail = |error: std::io::Error| BatchError::Compression {
        codec: codec.name(),
        reason: error.to_string(),
    };
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            // Level 6 is Java's `Deflater.DEFAULT_COMPRESSION`.
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            encoder.write_all(input).map_err(fail)?;
            encoder.finish().map_err(fail)?;
        }
        Compression::Snappy => snappy::compress_into(input, out)?,
        Compression::Lz4 => lz4::compress_into(input, out)?,
        Compression::Zstd => zstd_compress_into(input, out).map_err(fail)?,
    }
    Ok(())
}

thread_local! {
    /// One zstd context per thread: producers compress batch after batch,
    /// and a fresh context adds about a quarter to the time of compressing
    /// a 100 KiB batch (measured with `benches/batch_codec.rs`).
    static ZSTD_COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
}

fn zstd_compress_into(input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    let start = out.len();
    out.resize(start + zstd::zstd_safe::compress_bound(input.len()), 0);
    let written = ZSTD_COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(compressor) => compressor,
            None => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        compressor.compress_to_buffer(input, &mut out[start..])
    });
    match written {
        Ok(written) => {
            out.truncate(start + written);
            Ok(())
        }
        Err(error) => {
            out.truncate(start);
            Err(error)
        }
    }
}

thread_local! {
    /// One zstd decompression context per thread, reused for the same
    /// reason as [`ZSTD_COMPRESSOR`].
    static ZSTD_DECOMPRESSOR: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { RefCell::new(None) };
}

/// A decompression context that grew past this (a frame asked for a large
/// window, up to zstd's default 128 MiB limit) is dropped after use rather
/// than kept for the life of the thread.
const ZSTD_CONTEXT_BYTES_KEEP_MAX: usize = 8 << 20;

fn zstd_decompress(input: &[u8], limit_bytes: usize) -> std::io::Result<Vec<u8>> {
    ZSTD_DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let context = match slot.as_mut() {
            Some(context) => context,
            None => slot.insert(
                zstd::zstd_safe::DCtx::try_create()
                    .ok_or_else(|| std::io::Error::other("cannot allocate a zstd context"))?,
            ),
        };
        // A previous input may have failed mid-frame: start clean.
        context
            .reset(zstd::zstd_safe::ResetDirective::SessionOnly)
            .map_err(|code| std::io::Error::other(zstd::zstd_safe::get_error_name(code)))?;
        let mut out = Vec::new();
        let decoder = zstd::stream::read::Decoder::with_context(input, context);
        let result = read_bounded(decoder, input.len(), &mut out, limit_bytes);
        if slot
            .as_ref()
            .is_some_and(|context| context.sizeof() > ZSTD_CONTEXT_BYTES_KEEP_MAX)
        {
            *slot = None;
        }
        result.map(|()| out)
    })
}

/// Decompresses a record section, bounded by [`DECOMPRESSED_BYTES_MAX`].
///
/// # Errors
/// As [`decompress_with_limit`].
pub fn decompress(codec: Compression, input: &[u8]) -> Result<Bytes, BatchError> {
    decompress_with_limit(codec, input, DECOMPRESSED_BYTES_MAX)
}

/// Decompresses a record section, refusing to produce more than
/// `limit_bytes` bytes.
///
/// # Errors
/// [`BatchError::DecompressedTooLarge`] past the limit and
/// [`BatchError::Compression`] when the input is not a valid stream of the
/// codec's wire format.
pub fn decompress_with_limit(
    codec: Compression,
    input: &[u8],
    limit_bytes: usize,
) -> Result<Bytes, BatchError> {
    let fail = |error: std::io::Error| BatchError::Compression {
        codec: codec.name(),
        reason: error.to_string(),
    };
    let out = match codec {
        Compression::None => {
            if input.len() > limit_bytes {
                return Err(too_large(codec, limit_bytes));
            }
            return Ok(Bytes::copy_from_slice(input));
        }
        Compression::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(input);
            let mut out = Vec::new();
            read_bounded(decoder, input.len(), &mut out, limit_bytes).map_err(fail)?;
            out
        }
        Compression::Snappy => snappy::decompress(input, limit_bytes)?,
        Compression::Lz4 => lz4::decompress(input, limit_bytes)?,
        Compression::Zstd => zstd_decompress(input, limit_bytes).map_err(fail)?,
    };
    if out.len() > limit_bytes {
        return Err(too_large(codec, limit_bytes));
    }
    Ok(Bytes::from(out))
}

pub(crate) fn too_large(codec: Compression, limit_bytes: usize) -> BatchError {
    BatchError::DecompressedTooLarge {
        codec: codec.name(),
        limit_bytes,
    }
}

/// Appends what `decoder` produces to `out` until the decoder ends or `out`
/// is one byte past `limit_bytes`, whichever comes first; the caller turns
/// the extra byte into an error.
pub(crate) fn read_bounded(
    decoder: impl Read,
    input_len: usize,
    out: &mut Vec<u8>,
    limit_bytes: usize,
) -> std::io::Result<()> {
    let room = limit_bytes.saturating_sub(out.len());
    // Batches typically compress 2-5x; reserve that to avoid most regrowth.
    out.reserve(input_len.saturating_mul(4).min(room));
    let cap = u64::try_from(room).unwrap_or(u64::MAX).saturating_add(1);
    decoder.take(cap).read_to_end(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary;
    use proptest::prelude::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Text-like input that compresses, longer than one snappy and lz4 block.
    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| format!("record-{} ", i % 977).into_bytes())
            .collect()
    }

    #[test]
    fn attribute_bits_round_trip() {
        for codec in CODECS {
            assert_eq!(
                Compression::from_attributes(codec.attribute_bits()),
                Some(codec)
            );
        }
        assert_eq!(Compression::from_attributes(5), None);
    }

    #[test]
    fn every_codec_round_trips_and_compresses() {
        let input = sample();
        for codec in CODECS {
            let compressed = compress(codec, &input).unwrap();
            if codec != Compression::None {
                assert!(compressed.len() < input.len() / 2, "{codec:?}");
            }
            assert_eq!(decompress(codec, &compressed).unwrap(), input, "{codec:?}");
        }
    }

    #[test]
    fn compress_into_keeps_what_the_buffer_held() {
        for codec in CODECS {
            let mut out = b"header".to_vec();
            compress_into(codec, b"records", &mut out).unwrap();
            assert!(out.starts_with(b"header"));
            assert_eq!(decompress(codec, &out[6..]).unwrap(), &b"records"[..]);
        }
    }

    #[test]
    fn written_formats_are_the_ones_kafka_clients_use() {
        let gzip = compress(Compression::Gzip, b"x").unwrap();
        assert_eq!(gzip[..2], [0x1f, 0x8b]);
        let snappy = compress(Compression::Snappy, b"x").unwrap();
        assert_eq!(snappy[..16], snappy::HEADER);
        let lz4 = compress(Compression::Lz4, b"x").unwrap();
        assert_eq!(lz4[..4], [0x04, 0x22, 0x4d, 0x18]);
        let zstd = compress(Compression::Zstd, b"x").unwrap();
        assert_eq!(zstd[..4], [0x28, 0xb5, 0x2f, 0xfd]);
    }

    #[test]
    fn zstd_streaming_frames_without_content_size_decode() {
        let input = sample();
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.write_all(&input).unwrap();
        let mut frames = encoder.finish().unwrap();
        let header = zstd::zstd_safe::get_frame_content_size(&frames);
        assert!(
            matches!(header, Ok(None)),
            "frame must not declare its size"
        );
        // A second frame after the first, as a concatenating producer writes.
        frames.extend(zstd::bulk::compress(b"tail", 1).unwrap());
        let mut expected = input.clone();
        expected.extend_from_slice(b"tail");
        assert_eq!(decompress(Compression::Zstd, &frames).unwrap(), expected);
    }

    #[test]
    fn a_failed_zstd_input_does_not_spoil_the_next_one() {
        let good = compress(Compression::Zstd, &sample()).unwrap();
        // Cut mid-frame: the reused context is left inside a frame.
        assert!(decompress(Compression::Zstd, &good[..good.len() / 2]).is_err());
        assert_eq!(decompress(Compression::Zstd, &good).unwrap(), sample());
    }

    #[test]
    fn a_zstd_context_grown_by_a_large_window_is_not_kept() {
        let kept = || ZSTD_DECOMPRESSOR.with(|cell| cell.borrow().as_ref().map(|c| c.sizeof()));
        let normal = compress(Compression::Zstd, b"small").unwrap();
        decompress(Compression::Zstd, &normal).unwrap();
        assert!(kept().is_some_and(|bytes| bytes <= ZSTD_CONTEXT_BYTES_KEEP_MAX));
        // A streaming frame (no content size) asking for a 32 MiB window.
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder
            .set_parameter(zstd::zstd_safe::CParameter::WindowLog(25))
            .unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.write_all(&sample()).unwrap();
        let wide = encoder.finish().unwrap();
        assert_eq!(decompress(Compression::Zstd, &wide).unwrap(), sample());
        assert_eq!(kept(), None, "the grown context was kept");
        decompress(Compression::Zstd, &normal).unwrap();
        assert!(kept().is_some());
    }

    #[test]
    fn gzip_members_concatenated_decode_in_order() {
        let mut both = compress(Compression::Gzip, b"first ").unwrap();
        both.extend(compress(Compression::Gzip, b"second").unwrap());
        assert_eq!(
            decompress(Compression::Gzip, &both).unwrap(),
            &b"first second"[..]
        );
    }

    #[test]
    fn output_past_the_limit_is_refused_for_every_codec() {
        let zeros = vec![0u8; 3 << 20];
        for codec in CODECS {
            let compressed = compress(codec, &zeros).unwrap();
            assert_eq!(
                decompress_with_limit(codec, &compressed, 1 << 20),
                Err(too_large(codec, 1 << 20)),
                "{codec:?}"
            );
            // Exactly at the limit is fine.
            assert_eq!(
                decompress_with_limit(codec, &compressed, 3 << 20)
                    .unwrap()
                    .len(),
                3 << 20
            );
        }
    }

    #[test]
    fn truncated_streams_are_errors() {
        let input = sample();
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let compressed = compress(codec, &input).unwrap();
            for cut in (0..compressed.len()).step_by(97) {
                let result = decompress(codec, &compressed[..cut]);
                assert!(
                    result.as_ref().map_or(true, |out| out.len() < input.len()),
                    "{codec:?} cut at {cut} produced everything"
                );
            }
            // Cutting the last byte always loses the end marker or checksum.
            assert!(
                decompress(codec, &compressed[..compressed.len() - 1]).is_err(),
                "{codec:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn random_input_round_trips(input in proptest::collection::vec(any::<u8>(), 0..5000), codec in arbitrary::codec()) {
            let compressed = compress(codec, &input).unwrap();
            prop_assert_eq!(decompress(codec, &compressed).unwrap(), input);
        }

        #[test]
        fn garbage_never_panics(input in proptest::collection::vec(any::<u8>(), 0..300), codec in arbitrary::codec()) {
            let _ = decompress_with_limit(codec, &input, 1 << 20);
        }

        #[test]
        fn corrupted_streams_never_panic(
            input in proptest::collection::vec(any::<u8>(), 1..3000),
            codec in arbitrary::codec(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
        ) {
            let mut compressed = compress(codec, &input).unwrap();
            for (at, byte) in flips {
                let at = at.index(compressed.len());
                compressed[at] ^= byte;
            }
            let _ = decompress_with_limit(codec, &compressed, 1 << 20);
        }
    }
}
