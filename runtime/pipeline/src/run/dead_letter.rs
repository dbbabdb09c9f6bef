//! Dead letters: records a stage could not process, appended to
//! `<pipeline>.dlq` with their original key, value and headers, plus
//! headers saying what failed where.
//!
//! | header | value |
//! |---|---|
//! | `sluice.error` | the error message |
//! | `sluice.stage` | `transform:clean`, `sink:search`, `sink:search/transforms[0]` |
//! | `sluice.component` | the component's file name, without `.wasm` |
//! | `sluice.component.version` | the first 12 hex digits of its SHA-256 |
//! | `sluice.topic`, `sluice.partition`, `sluice.offset` | where the record was read, when it was |

use bytes::Bytes;
use sluice_types::{Record, RecordHeader};

/// Why and where records failed.
pub struct Failure<'a> {
    pub error: &'a str,
    pub stage: &'a str,
    pub component: &'a str,
    pub version: &'a str,
}

impl<'a> Failure<'a> {
    /// `version` is the stage's `NAME@DIGEST12` (see `stage::version`).
    pub fn new(error: &'a str, stage: &'a str, version: &'a str) -> Failure<'a> {
        let (component, version) = version.split_once('@').unwrap_or((version, ""));
        Failure {
            error,
            stage,
            component,
            version,
        }
    }
}

/// Where a record was read from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// `record` with the dead-letter headers appended.
pub fn dead_letter(record: &Record, failure: &Failure<'_>, origin: Option<Origin<'_>>) -> Record {
    let mut headers = record.headers.clone();
    let mut add = |key: &'static str, value: String| {
        headers.push(RecordHeader {
            key: Bytes::from_static(key.as_bytes()),
            value: Some(Bytes::from(value)),
        });
    };
    add("sluice.error", failure.error.to_string());
    add("sluice.stage", failure.stage.to_string());
    add("sluice.component", failure.component.to_string());
    add("sluice.component.version", failure.version.to_string());
    if let Some(origin) = origin {
        add("sluice.topic", origin.topic.to_string());
        add("sluice.partition", origin.partition.to_string());
        add("sluice.offset", origin.offset.to_string());
    }
    Record {
        offset: sluice_types::Offset(0),
        timestamp: record.timestamp,
        key: record.key.clone(),
        value: record.value.clone(),
        headers,
    }
}
