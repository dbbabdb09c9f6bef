//! The record format of `__consumer_offsets`, the log behind committed
//! offsets and group metadata.
//!
//! Two kinds of record, each keyed so that a later record of the same key
//! replaces an earlier one and a tombstone (null value) deletes it. That is
//! what lets the topic be compacted and what the coordinator replays when
//! it opens:
//!
//! | kind | key | value (version 1) |
//! |---|---|---|
//! | committed offset | `1` group topic partition:i32 | `1` offset:i64 leader_epoch:i32 commit_timestamp_ms:i64 metadata |
//! | group metadata | `2` group | `1` protocol_type generation:i32 protocol |
//!
//! Integers are big-endian; a string is a u32 byte length and UTF-8 bytes
//! (u32 rather than Kafka's i16, because flexible request versions carry
//! strings longer than 32767 bytes); an empty protocol means none.
//!
//! Reading is strict: an unknown key kind, an unknown value version, a
//! short field or trailing bytes is an error, and the coordinator refuses
//! to start on it. Skipping a record it does not understand would silently
//! rewind a consumer group; a format change must bump the version and
//! teach this module to read both.

use sluice_types::Timestamp;
use thiserror::Error;

use super::offsets::CommittedOffset;

const KEY_OFFSET: u8 = 1;
const KEY_GROUP: u8 = 2;
const VALUE_VERSION: u8 = 1;

/// What a record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordKey {
    /// The committed offset of one partition for one group.
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    /// A group's protocol type, generation and protocol at its last
    /// completed rebalance.
    Group { group: String },
}

/// The value of a [`RecordKey::Group`] record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupValue {
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
}

/// Why a record of `__consumer_offsets` could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum FormatError {
    #[error("the {field} field is cut short")]
    Truncated { field: &'static str },
    #[error("the {field} field is not UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("unknown key kind {kind} (written by a newer Sluice?)")]
    UnknownKeyKind { kind: u8 },
    #[error("unknown value version {version} (written by a newer Sluice?)")]
    UnknownValueVersion { version: u8 },
    #[error("{bytes} unexpected bytes after the {what}")]
    TrailingBytes { what: &'static str, bytes: usize },
    #[error("the key is empty")]
    EmptyKey,
}

impl RecordKey {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        match self {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => {
                out.push(KEY_OFFSET);
                put_str(&mut out, group);
                put_str(&mut out, topic);
                out.extend_from_slice(&partition.to_be_bytes());
            }
            RecordKey::Group { group } => {
                out.push(KEY_GROUP);
                put_str(&mut out, group);
            }
        }
        out
    }

    /// # Errors
    /// [`FormatError`] saying which field is wrong.
    pub fn decode(bytes: &[u8]) -> Result<RecordKey, FormatError> {
        let (&kind, rest) = bytes.split_first().ok_or(FormatError::EmptyKey)?;
        let mut reader = Reader(rest);
        let key = match kind {
            KEY_OFFSET => RecordKey::Offset {
                group: reader.string("group")?,
                topic: reader.string("topic")?,
                partition: reader.i32("partition")?,
            },
            KEY_GROUP => RecordKey::Group {
                group: reader.string("group")?,
            },
            kind => return Err(FormatError::UnknownKeyKind { kind }),
        };
        reader.finish("key")?;
        Ok(key)
    }
}

pub(crate) fn encode_offset_value(value: &CommittedOffset) -> Vec<u8> {
    let mut out = Vec::with_capacity(29 + value.metadata.len());
    out.push(VALUE_VERSION);
    out.extend_from_slice(&value.offset.to_be_bytes());
    out.extend_from_slice(&value.leader_epoch.to_be_bytes());
    out.extend_from_slice(&value.commit_timestamp.0.to_be_bytes());
    put_str(&mut out, &value.metadata);
    out
}

/// # Errors
/// [`FormatError`] saying which field is wrong.
pub(crate) fn decode_offset_value(bytes: &[u8]) -> Result<CommittedOffset, FormatError> {
    let mut reader = Reader(bytes);
    reader.version()?;
    let value = CommittedOffset {
        offset: reader.i64("offset")?,
        leader_epoch: reader.i32("leader_epoch")?,
        commit_timestamp: Timestamp(reader.i64("commit_timestamp")?),
        metadata: reader.string("metadata")?,
    };
    reader.finish("offset value")?;
    Ok(value)
}

pub(crate) fn encode_group_value(value: &GroupValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.push(VALUE_VERSION);
    put_str(&mut out, &value.protocol_type);
    out.extend_from_slice(&value.generation_id.to_be_bytes());
    put_str(&mut out, value.protocol_name.as_deref().unwrap_or(""));
    out
}

/// # Errors
/// [`FormatError`] saying which field is wrong.
pub(crate) fn decode_group_value(bytes: &[u8]) -> Result<GroupValue, FormatError> {
    let mut reader = Reader(bytes);
    reader.version()?;
    let protocol_type = reader.string("protocol_type")?;
    let generation_id = reader.i32("generation")?;
    let protocol = reader.string("protocol")?;
    reader.finish("group value")?;
    Ok(GroupValue {
        protocol_type,
        generation_id,
        protocol_name: (!protocol.is_empty()).then_some(protocol),
    })
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    // Frames are at most a few hundred MiB, so every string fits in u32.
    let len = u32::try_from(text.len()).expect("strings from one request fit in u32");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// A cursor over a key or value being decoded.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FormatError> {
        let Some((head, rest)) = self.0.split_first_chunk::<N>() else {
            return Err(FormatError::Truncated { field });
        };
        self.0 = rest;
        Ok(*head)
    }

    fn version(&mut self) -> Result<(), FormatError> {
        match self.take::<1>("version")?[0] {
            VALUE_VERSION => Ok(()),
            version => Err(FormatError::UnknownValueVersion { version }),
        }
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, FormatError> {
        self.take(field).map(i32::from_be_bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, FormatError> {
        self.take(field).map(i64::from_be_bytes)
    }

    fn string(&mut self, field: &'static str) -> Result<String, FormatError> {
        let len = u32::from_be_bytes(self.take(field)?) as usize;
        if self.0.len() < len {
            return Err(FormatError::Truncated { field });
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(text.to_vec()).map_err(|_| FormatError::NotUtf8 { field })
    }

    fn finish(self, what: &'static str) -> Result<(), FormatError> {
        match self.0.len() {
            0 => Ok(()),
            bytes => Err(FormatError::TrailingBytes { what, bytes }),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn offset_value() -> CommittedOffset {
        CommittedOffset {
            offset: 4096,
            leader_epoch: 3,
            commit_timestamp: Timestamp(1_700_000_000_000),
            metadata: "after batch 7".into(),
        }
    }

    #[test]
    fn keys_round_trip_and_differ_by_kind() {
        let offset = RecordKey::Offset {
            group: "billing".into(),
            topic: "orders".into(),
            partition: 3,
        };
        let group = RecordKey::Group {
            group: "billing".into(),
        };
        assert_eq!(RecordKey::decode(&offset.encode()), Ok(offset.clone()));
        assert_eq!(RecordKey::decode(&group.encode()), Ok(group.clone()));
        assert_ne!(offset.encode(), group.encode());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let key = RecordKey::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
        }
        .encode();
        for len in 0..key.len() {
            assert!(
                RecordKey::decode(&key[..len]).is_err(),
                "key prefix of {len} bytes"
            );
        }
        let value = encode_offset_value(&offset_value());
        for len in 0..value.len() {
            assert!(
                decode_offset_value(&value[..len]).is_err(),
                "value prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn unknown_kinds_versions_and_trailing_bytes_are_refused() {
        assert_eq!(
            RecordKey::decode(&[9, 0, 0, 0, 0]),
            Err(FormatError::UnknownKeyKind { kind: 9 })
        );
        let mut value = encode_offset_value(&offset_value());
        value[0] = 2;
        assert_eq!(
            decode_offset_value(&value),
            Err(FormatError::UnknownValueVersion { version: 2 })
        );
        let mut value = encode_group_value(&GroupValue {
            protocol_type: "consumer".into(),
            generation_id: 1,
            protocol_name: None,
        });
        value.push(0);
        assert_eq!(
            decode_group_value(&value),
            Err(FormatError::TrailingBytes {
                what: "group value",
                bytes: 1
            })
        );
    }

    proptest! {
        #[test]
        fn offset_records_round_trip(
            group in ".{0,40}", topic in "[a-z._-]{1,40}", partition in any::<i32>(),
            offset in any::<i64>(), leader_epoch in any::<i32>(), ts in any::<i64>(), metadata in ".{0,60}",
        ) {
            let key = RecordKey::Offset { group, topic, partition };
            prop_assert_eq!(RecordKey::decode(&key.encode()), Ok(key));
            let value = CommittedOffset { offset, leader_epoch, commit_timestamp: Timestamp(ts), metadata };
            prop_assert_eq!(decode_offset_value(&encode_offset_value(&value)), Ok(value));
        }

        #[test]
        fn group_records_round_trip(
            group in ".{0,40}", protocol_type in ".{0,20}", generation_id in any::<i32>(),
            protocol_name in proptest::option::of(".{1,20}"),
        ) {
            let key = RecordKey::Group { group };
            prop_assert_eq!(RecordKey::decode(&key.encode()), Ok(key));
            let value = GroupValue { protocol_type, generation_id, protocol_name };
            prop_assert_eq!(decode_group_value(&encode_group_value(&value)), Ok(value));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = RecordKey::decode(&bytes);
            let _ = decode_offset_value(&bytes);
            let _ = decode_group_value(&bytes);
        }
    }
}
