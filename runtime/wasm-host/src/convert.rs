//! Records between [`sluice_types::Record`] and the contract's `record`.
//!
//! Keys, values and header values are copied into the guest's memory by
//! the canonical ABI either way; these conversions copy each once more
//! (`Bytes` → `Vec<u8>` on the way in; `Vec<u8>` → `Bytes` on the way out
//! is free).

use bytes::Bytes;
use sluice_types::{Offset, Record, RecordHeader, Timestamp, TopicPartition};

use crate::bindings::transform::sluice::pipeline::types as wit;

/// Converts a record for the guest; fails on a header key that is not
/// UTF-8 (the contract's keys are strings, and changing them silently
/// would corrupt the record).
pub(crate) fn to_wit(
    origin: Option<&TopicPartition>,
    record: Record,
) -> Result<wit::Record, String> {
    let headers = record
        .headers
        .into_iter()
        .map(|header| {
            let key = String::from_utf8(header.key.to_vec())
                .map_err(|_| format!("header key {:?} is not UTF-8", header.key))?;
            Ok(wit::Header {
                key,
                value: header.value.map(|v| v.to_vec()),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(wit::Record {
        key: record.key.map(|k| k.to_vec()),
        value: record.value.map(|v| v.to_vec()),
        headers,
        timestamp: record.timestamp.0,
        origin: origin.map(|tp| wit::Origin {
            topic: tp.topic.to_string(),
            partition: tp.partition.0,
            offset: record.offset.0,
        }),
    })
}

/// Converts a guest's record back. The offset is left at zero: the log
/// assigns it when the record is appended.
/// The offset comes from the record's origin when the guest kept it (a
/// record passed through keeps where it was read; a new one has none and
/// gets offset zero).
pub(crate) fn from_wit(record: wit::Record) -> Record {
    Record {
        offset: record
            .origin
            .as_ref()
            .map_or(Offset::ZERO, |origin| Offset(origin.offset)),
        timestamp: Timestamp(record.timestamp),
        key: record.key.map(Bytes::from),
        value: record.value.map(Bytes::from),
        headers: record
            .headers
            .into_iter()
            .map(|header| RecordHeader {
                key: Bytes::from(header.key),
                value: header.value.map(Bytes::from),
            })
            .collect(),
    }
}
