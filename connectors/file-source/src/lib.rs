//! `file-source`: the bundled `file` source connector. It turns each line
//! of a file into a record and follows the file as it grows, so a log or
//! an export written by another program can be fed into a pipeline
//! without a Kafka producer.
//!
//! Config: `{"path": "in/orders.jsonl", "format": "jsonl" | "lines",
//! "key": "id"}`. `path` is relative to the directory of the stage's
//! `files` grant (the host refuses absolute paths and `..`). `format`
//! defaults to `jsonl`; `key` (jsonl only) names a top-level field whose
//! value becomes the record key.
//!
//! The checkpoint is the byte offset after the last line handed out, as
//! decimal text: a restart reads on from there. Reading is in
//! [`follow`]; turning a line into a record, in [`jsonl`]. This crate only
//! reads: it never changes or removes the file.

mod follow;
mod jsonl;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use sluice_guest::host::files;
use sluice_guest::{log, Batch, Error, ErrorKind, Level, Record, Source};

use follow::{Follower, Line, CHUNK_BYTES};

/// How many offsets of non-JSON lines one warning lists.
const WARNED_OFFSETS_MAX: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    path: String,
    #[serde(default)]
    format: Format,
    #[serde(default)]
    key: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    /// One JSON value per line; the line's bytes are the record's value.
    #[default]
    Jsonl,
    /// Any text; the line's bytes are the record's value.
    Lines,
}

/// Parses and checks the stage's config.
fn parse_config(text: &str) -> Result<Config, Error> {
    let config: Config = serde_json::from_str(text)
        .map_err(|e| Error::invalid_config(format!("file-source: config: {e}")))?;
    if config.path.is_empty() {
        return Err(Error::invalid_config(
            "file-source: config: `path` is empty; name a file relative to the directory of \
             the stage's `files` grant",
        ));
    }
    if config.path.starts_with('/') {
        return Err(Error::invalid_config(format!(
            "file-source: config: `path` {:?} is absolute; it is relative to the directory of \
             the stage's `files` grant (`grants = {{ files = \"DIR\" }}`), e.g. \"orders.jsonl\"",
            config.path
        )));
    }
    if config.key.is_some() && config.format != Format::Jsonl {
        return Err(Error::invalid_config(
            "file-source: config: `key` needs `\"format\": \"jsonl\"` (a key is a field of a \
             JSON line)",
        ));
    }
    Ok(config)
}

/// The offset a checkpoint holds: decimal ASCII text.
fn parse_checkpoint(bytes: &[u8]) -> Result<u64, Error> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "file-source: checkpoint {:?} is not a byte offset (decimal digits)",
                String::from_utf8_lossy(bytes)
            ))
        })
}

struct FileSource {
    config: Config,
    follower: Follower,
}

/// `files.read-range`, with a missing file as `None`.
fn read_range(path: &str, offset: u64, len: u32) -> Result<Option<Vec<u8>>, Error> {
    match files::read_range(path, offset, len) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind == ErrorKind::InvalidInput && e.message.starts_with("not found:") => {
            Ok(None)
        }
        Err(e) => Err(Error {
            kind: e.kind,
            message: format!("file-source: {}", e.message),
        }),
    }
}

/// Milliseconds since the Unix epoch, from the host's wall clock; 0 if
/// the clock reads before the epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl FileSource {
    /// Turns lines into records stamped `timestamp`, warning once per
    /// batch about jsonl lines that are not JSON (they are kept as they
    /// are) and lines cut into pieces.
    fn records(&self, lines: Vec<Line>, timestamp: i64) -> Vec<Record> {
        let mut not_json = Vec::new();
        let mut split = Vec::new();
        let mut records = Vec::with_capacity(lines.len());
        for line in lines {
            if line.split {
                split.push(line.offset);
            }
            let key = match self.config.format {
                Format::Lines => None,
                Format::Jsonl => match jsonl::key(&line.bytes, self.config.key.as_deref()) {
                    Ok(key) => key,
                    Err(jsonl::NotJson) => {
                        not_json.push(line.offset);
                        None
                    }
                },
            };
            records.push(Record {
                key,
                value: Some(line.bytes),
                headers: Vec::new(),
                timestamp,
                origin: None,
            });
        }
        if !not_json.is_empty() {
            log(
                Level::Warn,
                &format!(
                    "file-source: {} line(s) of {:?} are not JSON and were passed on unchanged \
                     (without a key), at byte offset(s) {}",
                    not_json.len(),
                    self.config.path,
                    offsets(&not_json)
                ),
            );
        }
        if !split.is_empty() {
            log(
                Level::Warn,
                &format!(
                    "file-source: a line of {:?} is longer than {} bytes and was passed on in \
                     pieces, at byte offset(s) {}",
                    self.config.path,
                    follow::LINE_BYTES_MAX,
                    offsets(&split)
                ),
            );
        }
        records
    }
}

/// The first few offsets, comma-separated, and how many more there are.
fn offsets(all: &[u64]) -> String {
    let shown: Vec<String> = all
        .iter()
        .take(WARNED_OFFSETS_MAX)
        .map(u64::to_string)
        .collect();
    let more = all.len().saturating_sub(WARNED_OFFSETS_MAX);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

impl Source for FileSource {
    fn open(config: &str, checkpoint: Option<Vec<u8>>) -> Result<Self, Error> {
        let config = parse_config(config)?;
        let offset = checkpoint.as_deref().map(parse_checkpoint).transpose()?;
        Ok(FileSource {
            config,
            follower: Follower::new(offset.unwrap_or(0), CHUNK_BYTES),
        })
    }

    fn poll(&mut self, max_records: u32) -> Result<Batch, Error> {
        let before = self.follower.offset();
        let path = self.config.path.clone();
        let polled = self.follower.poll(
            &mut |offset, len| read_range(&path, offset, len),
            max_records as usize,
        )?;
        if let Some(checkpoint) = polled.restarted_from {
            log(
                Level::Warn,
                &format!(
                    "file-source: {path:?} is now shorter than the checkpoint {checkpoint} \
                     (truncated or replaced); reading it again from the start"
                ),
            );
        }
        let records = self.records(polled.lines, now_ms());
        let after = self.follower.offset();
        Ok(Batch {
            records,
            checkpoint: (after != before || polled.restarted_from.is_some())
                .then(|| after.to_string().into_bytes()),
        })
    }

    fn commit(&mut self, checkpoint: Vec<u8>) -> Result<(), Error> {
        // Nothing to acknowledge upstream: the file is only read.
        parse_checkpoint(&checkpoint).map(drop)
    }
}

sluice_guest::export_source!(FileSource);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_decimal_byte_offsets() {
        assert_eq!(parse_checkpoint(b"0").unwrap(), 0);
        assert_eq!(parse_checkpoint(b"18446744073709551615").unwrap(), u64::MAX);
        for bad in [
            &b""[..],
            b"-1",
            b"+3",
            b" 3",
            b"3\n",
            b"x",
            b"18446744073709551616",
        ] {
            let error = parse_checkpoint(bad).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidInput, "{bad:?}");
            assert!(error.message.contains("not a byte offset"), "{error:?}");
        }
    }

    #[test]
    fn config_defaults_to_jsonl_and_refuses_what_cannot_work() {
        let config = parse_config(r#"{"path": "in/a.jsonl", "key": "id"}"#).unwrap();
        assert_eq!(config.format, Format::Jsonl);
        assert_eq!(config.key.as_deref(), Some("id"));
        assert_eq!(
            parse_config(r#"{"path": "a.txt", "format": "lines"}"#)
                .unwrap()
                .format,
            Format::Lines
        );

        let error = parse_config(r#"{"path": "a", "fromat": "lines"}"#).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidConfig);
        assert!(
            error.message.contains("unknown field `fromat`"),
            "{error:?}"
        );
        let error = parse_config(r#"{"path": "/var/log/a"}"#).unwrap_err();
        assert!(
            error.message.contains("is absolute") && error.message.contains("`files` grant"),
            "{error:?}"
        );
        let error = parse_config(r#"{"path": "a", "format": "lines", "key": "id"}"#).unwrap_err();
        assert!(error.message.contains("`key` needs"), "{error:?}");
        let error = parse_config(r#"{"path": "a", "format": "csv"}"#).unwrap_err();
        assert!(error.message.contains("unknown variant `csv`"), "{error:?}");
        assert!(parse_config(r#"{"format": "lines"}"#).is_err());
    }

    #[test]
    fn records_carry_the_line_the_key_and_the_timestamp() {
        let source = FileSource {
            config: parse_config(r#"{"path": "a", "key": "id"}"#).unwrap(),
            follower: Follower::new(0, CHUNK_BYTES),
        };
        let lines = [&br#"{"id": 7, "v": 1}"#[..], b"not json", br#"{"v": 2}"#]
            .iter()
            .enumerate()
            .map(|(i, bytes)| Line {
                offset: i as u64 * 100,
                bytes: bytes.to_vec(),
                split: false,
            })
            .collect();
        let records = source.records(lines, 1234);
        let shape: Vec<_> = records
            .iter()
            .map(|r| (r.key.as_deref(), r.value.as_deref().unwrap(), r.timestamp))
            .collect();
        assert_eq!(
            shape,
            [
                (Some(&b"7"[..]), &br#"{"id": 7, "v": 1}"#[..], 1234),
                (None, b"not json", 1234),
                (None, br#"{"v": 2}"#, 1234),
            ]
        );
        assert_eq!(
            offsets(&(0..12).collect::<Vec<_>>()),
            "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more"
        );
    }
}
