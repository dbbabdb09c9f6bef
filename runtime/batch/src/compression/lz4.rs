//! LZ4 as Kafka clients write it: the LZ4 *frame* format.
//!
//! Java's `KafkaLZ4BlockOutputStream` writes one frame of independent
//! 64 KiB blocks with no checksums; librdkafka and other clients may add
//! content size, content or block checksums. We write what Java writes and
//! read all of these.
//!
//! `lz4_flex`'s frame decoder treats the input ending where a block size
//! should be as a clean end, so a frame cut before its end mark (and its
//! content checksum) would be accepted. Java fails on such a frame, and so
//! do we: the frame structure is walked first, without decompressing, and
//! every frame must be complete. `lz4_flex` also stops after the first
//! frame, so each frame found by the walk is decoded on its own.

use std::io::Write;

use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use super::{read_bounded, too_large, Compression};
use crate::error::BatchError;

const FRAME_MAGIC: u32 = 0x184D_2204;

const FLG_VERSION_MASK: u8 = 0b1100_0000;
const FLG_VERSION_01: u8 = 0b0100_0000;
const FLG_BLOCK_CHECKSUM: u8 = 1 << 4;
const FLG_CONTENT_SIZE: u8 = 1 << 3;
const FLG_CONTENT_CHECKSUM: u8 = 1 << 2;
const FLG_DICT_ID: u8 = 1;
/// Bit set in a block size when the block is stored uncompressed.
const BLOCK_UNCOMPRESSED: u32 = 1 << 31;

fn fail(reason: impl Into<String>) -> BatchError {
    BatchError::Compression {
        codec: Compression::Lz4.name(),
        reason: reason.into(),
    }
}

/// Appends `input` to `out` as one frame of independent 64 KiB blocks.
///
/// # Errors
/// [`BatchError::Compression`] if the encoder fails.
pub fn compress_into(input: &[u8], out: &mut Vec<u8>) -> Result<(), BatchError> {
    let frame = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent);
    let mut encoder = FrameEncoder::with_frame_info(frame, out);
    encoder
        .write_all(input)
        .map_err(|error| fail(error.to_string()))?;
    encoder.finish().map_err(|error| fail(error.to_string()))?;
    Ok(())
}

/// Decompresses one or more complete frames, producing at most `limit_bytes`.
///
/// # Errors
/// [`BatchError::Compression`] for an incomplete or invalid frame or a
/// checksum mismatch, [`BatchError::DecompressedTooLarge`] past the limit.
pub fn decompress(input: &[u8], limit_bytes: usize) -> Result<Vec<u8>, BatchError> {
    if input.is_empty() {
        return Err(fail("empty input holds no frame"));
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        // `FrameDecoder` stops after one frame, so each is decoded alone.
        let frame = &input[at..at + frame_len(input, at)?];
        read_bounded(FrameDecoder::new(frame), frame.len(), &mut out, limit_bytes)
            .map_err(|error| fail(error.to_string()))?;
        if out.len() > limit_bytes {
            return Err(too_large(Compression::Lz4, limit_bytes));
        }
        at += frame.len();
    }
    Ok(out)
}

/// Length of the complete frame starting at `start`, found by reading only
/// its header and block sizes.
///
/// # Errors
/// [`BatchError::Compression`] naming the first structural problem.
fn frame_len(input: &[u8], start: usize) -> Result<usize, BatchError> {
    let mut position = start;
    let at = &mut position;
    let magic = le_u32(take(input, at, 4, "magic number")?);
    // Skippable and legacy frames are refused: no Kafka client writes
    // them and Java's reader rejects them too.
    if magic != FRAME_MAGIC {
        return Err(fail(format!(
            "no LZ4 frame magic at byte {start}: {magic:#010x}"
        )));
    }
    let flags = take(input, at, 2, "frame descriptor")?[0];
    if flags & FLG_VERSION_MASK != FLG_VERSION_01 {
        return Err(fail(format!(
            "unsupported frame version in flags {flags:#04x}"
        )));
    }
    let optional =
        usize::from(flags & FLG_CONTENT_SIZE != 0) * 8 + usize::from(flags & FLG_DICT_ID != 0) * 4;
    // Optional fields, then the header checksum byte.
    take(input, at, optional + 1, "frame descriptor")?;
    let block_checksum = usize::from(flags & FLG_BLOCK_CHECKSUM != 0) * 4;
    loop {
        let size = le_u32(take(input, at, 4, "block size")?);
        if size == 0 {
            break;
        }
        let len = (size & !BLOCK_UNCOMPRESSED) as usize;
        take(input, at, len + block_checksum, "block")?;
    }
    if flags & FLG_CONTENT_CHECKSUM != 0 {
        take(input, at, 4, "content checksum")?;
    }
    Ok(*at - start)
}

/// The next `len` bytes at `*at`, advancing past them.
fn take<'a>(
    input: &'a [u8],
    at: &mut usize,
    len: usize,
    what: &str,
) -> Result<&'a [u8], BatchError> {
    let bytes = at
        .checked_add(len)
        .and_then(|end| input.get(*at..end))
        .ok_or_else(|| fail(format!("frame ends inside the {what} at byte {at}")))?;
    *at += len;
    Ok(bytes)
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..150_000u32)
            .flat_map(|i| (i % 613).to_le_bytes())
            .collect()
    }

    fn frame(info: FrameInfo, input: &[u8]) -> Vec<u8> {
        let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
        encoder.write_all(input).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn writes_what_java_writes() {
        let mut out = Vec::new();
        compress_into(b"x", &mut out).unwrap();
        // Magic, FLG (version 01, independent blocks, nothing optional),
        // BD (64 KiB blocks).
        assert_eq!(out[..6], [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40]);
        // Ends with the end mark: no content checksum.
        assert_eq!(out[out.len() - 4..], [0, 0, 0, 0]);
    }

    #[test]
    fn frames_with_any_checksum_and_size_options_decode() {
        let input = sample();
        for (block_checksums, content_checksum, content_size, linked) in [
            (false, false, false, false),
            (true, false, false, false),
            (false, true, false, false),
            (true, true, true, false),
            (false, false, false, true),
        ] {
            let info = FrameInfo::new()
                .block_checksums(block_checksums)
                .content_checksum(content_checksum)
                .content_size(content_size.then_some(input.len() as u64))
                .block_size(BlockSize::Max256KB)
                .block_mode(if linked {
                    BlockMode::Linked
                } else {
                    BlockMode::Independent
                });
            let compressed = frame(info.clone(), &input);
            assert_eq!(decompress(&compressed, usize::MAX).unwrap(), input);
            if content_checksum {
                let mut corrupt = compressed.clone();
                let last = corrupt.len() - 1;
                corrupt[last] ^= 1;
                assert!(decompress(&corrupt, usize::MAX).is_err());
            }
            for cut in 0..compressed.len() {
                assert!(
                    decompress(&compressed[..cut], usize::MAX).is_err(),
                    "cut at {cut} of {info:?}"
                );
            }
        }
    }

    #[test]
    fn concatenated_frames_decode() {
        let mut input = Vec::new();
        compress_into(b"one ", &mut input).unwrap();
        compress_into(b"two", &mut input).unwrap();
        assert_eq!(decompress(&input, usize::MAX).unwrap(), b"one two");
    }

    #[test]
    fn other_frame_kinds_and_trailing_garbage_are_refused() {
        // A skippable frame holding 3 bytes, and a legacy-format frame.
        let skippable = [0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9];
        assert!(decompress(&skippable, usize::MAX).is_err());
        let legacy = [0x02, 0x21, 0x4c, 0x18, 2, 0, 0, 0, 0x10, b'x'];
        assert!(decompress(&legacy, usize::MAX).is_err());
        let mut trailing = Vec::new();
        compress_into(b"x", &mut trailing).unwrap();
        trailing.push(0);
        assert!(decompress(&trailing, usize::MAX).is_err());
    }
}
