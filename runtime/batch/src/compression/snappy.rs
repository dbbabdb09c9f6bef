//! Snappy as Kafka clients frame it: snappy-java's "xerial" stream format,
//! not the official snappy framing format.
//!
//! Java's producer compresses with `org.xerial.snappy.SnappyOutputStream`,
//! and librdkafka copies its layout:
//!
//! ```text
//! header: 0x82 "SNAPPY" 0x00 | version i32 BE (1) | compatible version i32 BE (1)
//! blocks: compressed length u32 BE | raw snappy block (≤ 32 KiB uncompressed)
//! ```
//!
//! Reading follows `SnappyInputStream`: input that does not start with the
//! magic is one raw snappy block (some old clients send that), and a second
//! header in the middle of the stream (two streams concatenated) is skipped.

use snap::raw::{decompress_len, max_compress_len, Decoder, Encoder};

use super::{too_large, Compression};
use crate::error::BatchError;

/// The first 8 header bytes, which identify the format.
pub const MAGIC: [u8; 8] = *b"\x82SNAPPY\x00";
/// The whole 16-byte header snappy-java writes: magic, version 1, compatible version 1.
pub const HEADER: [u8; 16] = *b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// Uncompressed bytes per block: snappy-java's default block size.
pub const BLOCK_BYTES: usize = 32 * 1024;

const LENGTH_BYTES: usize = 4;

fn fail(reason: impl Into<String>) -> BatchError {
    BatchError::Compression {
        codec: Compression::Snappy.name(),
        reason: reason.into(),
    }
}

/// Appends `input` to `out` in the xerial framing.
///
/// # Errors
/// [`BatchError::Compression`] if the snappy encoder fails (it only does for
/// blocks over 4 GiB, which the block size rules out).
pub fn compress_into(input: &[u8], out: &mut Vec<u8>) -> Result<(), BatchError> {
    let mut encoder = Encoder::new();
    let blocks = input.len().div_ceil(BLOCK_BYTES);
    out.reserve(HEADER.len() + blocks * LENGTH_BYTES + max_compress_len(input.len()));
    out.extend_from_slice(&HEADER);
    for block in input.chunks(BLOCK_BYTES) {
        let length_at = out.len();
        let data_at = length_at + LENGTH_BYTES;
        out.resize(data_at + max_compress_len(block.len()), 0);
        let written = encoder
            .compress(block, &mut out[data_at..])
            .map_err(|error| fail(error.to_string()))?;
        out.truncate(data_at + written);
        // `written` ≤ max_compress_len(32 KiB), far below u32::MAX.
        out[length_at..data_at].copy_from_slice(&(written as u32).to_be_bytes());
    }
    Ok(())
}

/// Decompresses a xerial stream, or one raw snappy block when the magic is
/// absent, producing at most `limit_bytes`.
///
/// # Errors
/// [`BatchError::DecompressedTooLarge`] when a block would take the output
/// past `limit_bytes`; [`BatchError::Compression`] for a truncated stream,
/// an unsupported header version or an invalid snappy block.
pub fn decompress(input: &[u8], limit_bytes: usize) -> Result<Vec<u8>, BatchError> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    if !input.starts_with(&MAGIC) || input.len() < HEADER.len() {
        append_block(&mut decoder, input, &mut out, limit_bytes)?;
        return Ok(out);
    }
    let mut position = 0;
    while position < input.len() {
        let rest = &input[position..];
        if rest.starts_with(&MAGIC) {
            // A header: the first one, or the start of a concatenated stream.
            // A block length can never start with 0x82 (it would be > 2 GiB).
            let header = rest
                .get(..HEADER.len())
                .ok_or_else(|| fail("stream ends inside a xerial header"))?;
            let version = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
            if version < 1 {
                return Err(fail(format!("unsupported xerial stream version {version}")));
            }
            position += HEADER.len();
            continue;
        }
        let length = rest
            .get(..LENGTH_BYTES)
            .map(|bytes| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            .ok_or_else(|| fail("stream ends inside a block length"))?;
        let block_at = position + LENGTH_BYTES;
        let block_end = usize::try_from(length)
            .ok()
            .and_then(|length| block_at.checked_add(length))
            .filter(|&end| end <= input.len())
            .ok_or_else(|| {
                fail(format!(
                    "block length {length} at byte {position} exceeds the {} bytes left",
                    input.len() - block_at
                ))
            })?;
        append_block(
            &mut decoder,
            &input[block_at..block_end],
            &mut out,
            limit_bytes,
        )?;
        position = block_end;
    }
    Ok(out)
}

/// Decompresses one raw snappy block onto the end of `out`, checking the
/// length the block declares against the limit before allocating for it.
fn append_block(
    decoder: &mut Decoder,
    block: &[u8],
    out: &mut Vec<u8>,
    limit_bytes: usize,
) -> Result<(), BatchError> {
    let block_len = decompress_len(block).map_err(|error| fail(error.to_string()))?;
    let start = out.len();
    let end = start
        .checked_add(block_len)
        .filter(|&end| end <= limit_bytes)
        .ok_or_else(|| too_large(Compression::Snappy, limit_bytes))?;
    out.resize(end, 0);
    let written = decoder
        .decompress(block, &mut out[start..])
        .map_err(|error| fail(error.to_string()))?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn matches_bytes_snappy_java_writes() {
        // The record section of one record (value "sdfdsf") as snappy-java
        // frames it, from kafka-protocol's tests of Java-produced batches.
        let java = b"\x82\x53\x4e\x41\x50\x50\x59\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x0f\x0d\x30\x18\x00\x00\x00\x01\x0csdfdsf\x00";
        let plain = decompress(java, 1024).expect("java stream decodes");
        assert_eq!(plain.len(), 13);
        assert!(plain.ends_with(b"\x0csdfdsf\x00"));
        let mut ours = Vec::new();
        compress_into(&plain, &mut ours).expect("compresses");
        assert_eq!(ours, java);
    }

    #[test]
    fn splits_into_32_kib_blocks() {
        let input = sample(BLOCK_BYTES * 2 + 10);
        let mut out = Vec::new();
        compress_into(&input, &mut out).expect("compresses");
        assert!(out.starts_with(&HEADER));
        let mut position = HEADER.len();
        let mut blocks = Vec::new();
        while position < out.len() {
            let length = u32::from_be_bytes(out[position..position + 4].try_into().unwrap());
            let block = &out[position + 4..position + 4 + length as usize];
            blocks.push(decompress_len(block).unwrap());
            position += 4 + length as usize;
        }
        assert_eq!(blocks, [BLOCK_BYTES, BLOCK_BYTES, 10]);
        assert_eq!(decompress(&out, usize::MAX).unwrap(), input);
    }

    #[test]
    fn raw_snappy_without_magic_is_accepted() {
        let input = sample(100_000);
        let raw = Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(decompress(&raw, usize::MAX).unwrap(), input);
    }

    #[test]
    fn concatenated_streams_are_read_in_order() {
        let mut out = Vec::new();
        compress_into(b"first ", &mut out).unwrap();
        compress_into(b"second", &mut out).unwrap();
        assert_eq!(decompress(&out, usize::MAX).unwrap(), b"first second");
    }

    #[test]
    fn truncation_inside_a_block_is_an_error() {
        let input = sample(80_000);
        let mut out = Vec::new();
        compress_into(&input, &mut out).unwrap();
        // Cutting between blocks leaves a shorter valid stream.
        let mut boundaries = vec![HEADER.len()];
        let mut position = HEADER.len();
        while position < out.len() {
            position +=
                4 + u32::from_be_bytes(out[position..position + 4].try_into().unwrap()) as usize;
            boundaries.push(position);
        }
        for cut in HEADER.len() + 1..out.len() {
            let result = decompress(&out[..cut], usize::MAX);
            if let Some(blocks) = boundaries.iter().position(|&end| end == cut) {
                assert_eq!(result.unwrap(), input[..blocks * BLOCK_BYTES]);
            } else {
                assert!(result.is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn declared_block_length_past_limit_is_refused_before_allocating() {
        let mut out = Vec::new();
        compress_into(&vec![0u8; BLOCK_BYTES], &mut out).unwrap();
        assert_eq!(
            decompress(&out, 1000),
            Err(too_large(Compression::Snappy, 1000))
        );
        // A raw block whose preamble claims 4 GiB.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert_eq!(
            decompress(&bomb, 1 << 20),
            Err(too_large(Compression::Snappy, 1 << 20))
        );
    }

    #[test]
    fn bad_version_and_huge_block_length_are_errors() {
        let mut out = Vec::new();
        compress_into(b"hello", &mut out).unwrap();
        let mut bad_version = out.clone();
        bad_version[8..12].copy_from_slice(&0i32.to_be_bytes());
        assert!(decompress(&bad_version, usize::MAX).is_err());
        let mut huge = out.clone();
        huge[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decompress(&huge, usize::MAX).is_err());
    }
}
