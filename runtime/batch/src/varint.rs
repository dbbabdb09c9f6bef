//! Zigzag varints and varlongs, the integer encoding of every field inside a
//! v2 record.
//!
//! Kafka (`org.apache.kafka.common.utils.ByteUtils`) writes signed integers
//! zigzag-mapped (0, -1, 1, -2, … → 0, 1, 2, 3, …) and then as base-128
//! groups, least significant first, with the high bit of each byte saying
//! "more follows". A varint takes at most 5 bytes and a varlong at most 10.
//!
//! Decoding reads untrusted bytes, so it never indexes past the end of the
//! input and rejects encodings longer than the maximum. It also rejects a
//! last byte carrying bits beyond the 32 (or 64) the value can hold: Java
//! silently drops those bits, but no encoder writes them, so they can only
//! mean corruption. Redundant zero groups within the maximum length
//! (`0x80 0x00` for 0) are accepted, as in Java.

use bytes::BufMut;
use thiserror::Error;

/// Most bytes a varint (i32) takes.
pub const VARINT_LEN_MAX: usize = 5;
/// Most bytes a varlong (i64) takes.
pub const VARLONG_LEN_MAX: usize = 10;

/// Why a varint or varlong could not be read.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended before a byte without the continuation bit.
    #[error("input ends inside a varint")]
    Truncated,
    /// More bytes than the type allows, or excess bits in the last byte.
    #[error("varint longer than {len_max} bytes or wider than {bits} bits")]
    Overlong { len_max: usize, bits: u32 },
}

/// Maps a signed value to an unsigned one so that small magnitudes stay small.
#[inline]
fn zigzag_i32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

#[inline]
fn zigzag_i64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

#[inline]
fn unzigzag_u32(raw: u32) -> i32 {
    ((raw >> 1) as i32) ^ -((raw & 1) as i32)
}

#[inline]
fn unzigzag_u64(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

/// Bytes [`put_varint`] writes for `value`.
#[inline]
pub fn varint_len(value: i32) -> usize {
    unsigned_len(u64::from(zigzag_i32(value)))
}

/// Bytes [`put_varlong`] writes for `value`.
#[inline]
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(zigzag_i64(value))
}

#[inline]
fn unsigned_len(raw: u64) -> usize {
    // One byte per started group of 7 significant bits; zero still takes one byte.
    let bits = 64 - (raw | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `value` as a zigzag varint (1 to 5 bytes).
#[inline]
pub fn put_varint(buf: &mut impl BufMut, value: i32) {
    put_unsigned(buf, u64::from(zigzag_i32(value)));
}

/// Appends `value` as a zigzag varlong (1 to 10 bytes).
#[inline]
pub fn put_varlong(buf: &mut impl BufMut, value: i64) {
    put_unsigned(buf, zigzag_i64(value));
}

#[inline]
fn put_unsigned(buf: &mut impl BufMut, mut raw: u64) {
    // Byte by byte: a varint is 1-10 bytes, too short for a slice copy
    // (a `memcpy` call) to pay off; most are a single byte.
    while raw >= 0x80 {
        buf.put_u8((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    buf.put_u8(raw as u8);
}

/// Reads a zigzag varint from `buf` at `*position` and advances `*position`
/// past it. On error `*position` is left unchanged.
///
/// # Errors
/// [`VarintError::Truncated`] when `buf` ends first, [`VarintError::Overlong`]
/// past 5 bytes or when the 5th byte holds more than the top 4 bits of an i32.
#[inline]
pub fn read_varint(buf: &[u8], position: &mut usize) -> Result<i32, VarintError> {
    let start = *position;
    // Fast path: one byte covers -64..=63, the common case for deltas and short lengths.
    if let Some(&first) = buf.get(start) {
        if first < 0x80 {
            *position = start + 1;
            return Ok(unzigzag_u32(u32::from(first)));
        }
    }
    let (raw, len) = read_unsigned(buf, start, VARINT_LEN_MAX, 32)?;
    *position = start + len;
    Ok(unzigzag_u32(raw as u32))
}

/// Reads a zigzag varlong from `buf` at `*position` and advances `*position`
/// past it. On error `*position` is left unchanged.
///
/// # Errors
/// [`VarintError::Truncated`] when `buf` ends first, [`VarintError::Overlong`]
/// past 10 bytes or when the 10th byte holds more than the top bit of an i64.
#[inline]
pub fn read_varlong(buf: &[u8], position: &mut usize) -> Result<i64, VarintError> {
    let start = *position;
    if let Some(&first) = buf.get(start) {
        if first < 0x80 {
            *position = start + 1;
            return Ok(unzigzag_u64(u64::from(first)));
        }
    }
    let (raw, len) = read_unsigned(buf, start, VARLONG_LEN_MAX, 64)?;
    *position = start + len;
    Ok(unzigzag_u64(raw))
}

/// Reads up to `len_max` base-128 groups; returns the value and its length.
#[inline]
fn read_unsigned(
    buf: &[u8],
    start: usize,
    len_max: usize,
    bits: u32,
) -> Result<(u64, usize), VarintError> {
    let mut raw: u64 = 0;
    for i in 0..len_max {
        let byte = *buf.get(start + i).ok_or(VarintError::Truncated)?;
        let shift = 7 * i as u32;
        let group = u64::from(byte & 0x7f);
        if i == len_max - 1 {
            // The last group may only fill the bits the type has left.
            let bits_left = bits - shift;
            if byte & 0x80 != 0 || group >> bits_left != 0 {
                return Err(VarintError::Overlong { len_max, bits });
            }
        }
        raw |= group << shift;
        if byte & 0x80 == 0 {
            return Ok((raw, i + 1));
        }
    }
    Err(VarintError::Overlong { len_max, bits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_i32(value: i32) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, value);
        buf
    }

    fn encode_i64(value: i64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varlong(&mut buf, value);
        buf
    }

    #[test]
    fn zigzag_matches_kafka_examples() {
        // From the Kafka protocol guide and ByteUtilsTest.
        assert_eq!(encode_i32(0), [0x00]);
        assert_eq!(encode_i32(-1), [0x01]);
        assert_eq!(encode_i32(1), [0x02]);
        assert_eq!(encode_i32(-64), [0x7f]);
        assert_eq!(encode_i32(64), [0x80, 0x01]);
        assert_eq!(encode_i32(300), [0xd8, 0x04]);
        assert_eq!(encode_i32(i32::MAX), [0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(encode_i32(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            encode_i64(i64::MAX),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(
            encode_i64(i64::MIN),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn boundary_values_round_trip_with_exact_lengths() {
        for value in [0, 1, -1, 63, -64, 64, -65, i32::MAX, i32::MIN, 1 << 20] {
            let buf = encode_i32(value);
            assert_eq!(buf.len(), varint_len(value), "{value}");
            let mut position = 0;
            assert_eq!(read_varint(&buf, &mut position), Ok(value));
            assert_eq!(position, buf.len());
        }
        for value in [
            0,
            -1,
            1,
            i64::MAX,
            i64::MIN,
            i64::from(i32::MIN) - 1,
            1 << 62,
        ] {
            let buf = encode_i64(value);
            assert_eq!(buf.len(), varlong_len(value), "{value}");
            let mut position = 0;
            assert_eq!(read_varlong(&buf, &mut position), Ok(value));
            assert_eq!(position, buf.len());
        }
        assert_eq!(varint_len(i32::MIN), 5);
        assert_eq!(varlong_len(i64::MIN), 10);
    }

    #[test]
    fn reads_at_position_and_leaves_it_on_error() {
        let buf = [0xaa, 0x02, 0x80];
        let mut position = 1;
        assert_eq!(read_varint(&buf, &mut position), Ok(1));
        assert_eq!(position, 2);
        assert_eq!(
            read_varint(&buf, &mut position),
            Err(VarintError::Truncated)
        );
        assert_eq!(position, 2);
        let mut past_end = 9;
        assert_eq!(
            read_varlong(&buf, &mut past_end),
            Err(VarintError::Truncated)
        );
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        let full = encode_i64(i64::MIN);
        for cut in 0..full.len() {
            let mut position = 0;
            assert_eq!(
                read_varlong(&full[..cut], &mut position),
                Err(VarintError::Truncated),
                "cut at {cut}"
            );
        }
        let full = encode_i32(i32::MIN);
        for cut in 0..full.len() {
            let mut position = 0;
            assert_eq!(
                read_varint(&full[..cut], &mut position),
                Err(VarintError::Truncated)
            );
        }
    }

    #[test]
    fn overlong_encodings_are_rejected() {
        let mut position = 0;
        // Six bytes for an i32.
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert!(matches!(
            read_varint(&six, &mut position),
            Err(VarintError::Overlong { len_max: 5, .. })
        ));
        // Five bytes, but the last one carries bits above 32.
        let wide = [0xff, 0xff, 0xff, 0xff, 0x1f];
        assert!(read_varint(&wide, &mut position).is_err());
        // Eleven bytes for an i64, and a 10th byte wider than one bit.
        let eleven = [0x80; 11];
        assert!(read_varlong(&eleven, &mut position).is_err());
        let mut wide_long = [0xff; 10];
        wide_long[9] = 0x02;
        assert!(read_varlong(&wide_long, &mut position).is_err());
        assert_eq!(position, 0);
    }

    #[test]
    fn redundant_zero_groups_are_accepted_like_java() {
        let mut position = 0;
        assert_eq!(read_varint(&[0x80, 0x80, 0x00], &mut position), Ok(0));
        assert_eq!(position, 3);
    }

    proptest! {
        #[test]
        fn varint_round_trips(value in any::<i32>(), prefix in 0usize..4) {
            let mut buf = vec![0xee; prefix];
            put_varint(&mut buf, value);
            prop_assert_eq!(buf.len() - prefix, varint_len(value));
            let mut position = prefix;
            prop_assert_eq!(read_varint(&buf, &mut position), Ok(value));
            prop_assert_eq!(position, buf.len());
        }

        #[test]
        fn varlong_round_trips(value in any::<i64>()) {
            let mut buf = bytes::BytesMut::new();
            put_varlong(&mut buf, value);
            prop_assert_eq!(buf.len(), varlong_len(value));
            let mut position = 0;
            prop_assert_eq!(read_varlong(&buf, &mut position), Ok(value));
            prop_assert_eq!(position, buf.len());
        }

        #[test]
        fn varint_decodes_as_varlong(value in any::<i32>()) {
            // Kafka relies on this: the same zigzag bytes read as either width.
            let buf = encode_i32(value);
            let mut position = 0;
            prop_assert_eq!(read_varlong(&buf, &mut position), Ok(i64::from(value)));
        }

        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut position = 0;
            if read_varint(&buf, &mut position).is_ok() {
                prop_assert!((1..=VARINT_LEN_MAX).contains(&position));
            }
            let mut position = 0;
            if read_varlong(&buf, &mut position).is_ok() {
                prop_assert!((1..=VARLONG_LEN_MAX).contains(&position));
            }
        }
    }
}
