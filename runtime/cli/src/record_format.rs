//! How `sluice consume` prints a record: the value alone, one JSON object
//! per line, or an indented (and, on a terminal, coloured) JSON view.
//!
//! JSON is written by hand rather than through a map so the fields keep
//! a fixed order (topic, partition, offset, timestamp, key, value,
//! headers), and the pretty view re-indents text instead of parsing into
//! a map, so a JSON value's own keys keep their order too. Bytes that are
//! not UTF-8 are written as `{"base64": "..."}`.

use std::io::{self, Write};

use clap::ValueEnum;
use sluice_client::ConsumerRecord;

/// Output format of `sluice consume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The value only, one per line, bytes as they are.
    Value,
    /// One JSON object per line: topic, partition, offset, timestamp,
    /// key, value, headers.
    Json,
    /// The JSON object indented, with the value shown as JSON when it is
    /// JSON and a readable UTC time; coloured on a terminal.
    Pretty,
}

/// Writes records in one format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: Format,
    pub colour: bool,
}

impl Printer {
    pub fn write(&self, out: &mut impl Write, record: &ConsumerRecord) -> io::Result<()> {
        match self.format {
            Format::Value => {
                out.write_all(record.value.as_deref().unwrap_or_default())?;
                out.write_all(b"\n")
            }
            Format::Json => writeln!(out, "{}", record_json(record, false)),
            Format::Pretty => writeln!(out, "{}", indent(&record_json(record, true), self.colour)),
        }
    }
}

/// The record as one compact JSON object. In the pretty view the value
/// is embedded as JSON when it parses as JSON, and a `time` field shows
/// the timestamp in UTC.
fn record_json(record: &ConsumerRecord, pretty: bool) -> String {
    let mut json = String::with_capacity(128 + record.value.as_ref().map_or(0, |v| v.len()));
    json.push_str("{\"topic\":");
    push_str(&mut json, &record.topic);
    json.push_str(&format!(
        ",\"partition\":{},\"offset\":{},\"timestamp\":{}",
        record.partition, record.offset, record.timestamp.0
    ));
    if pretty {
        json.push_str(",\"time\":");
        push_str(&mut json, &utc(record.timestamp.0));
    }
    json.push_str(",\"key\":");
    push_bytes(&mut json, record.key.as_deref());
    json.push_str(",\"value\":");
    match record.value.as_deref() {
        Some(value) if pretty && is_json(value) => {
            // Valid JSON, so valid UTF-8.
            json.push_str(std::str::from_utf8(value).unwrap_or("null"));
        }
        value => push_bytes(&mut json, value),
    }
    json.push_str(",\"headers\":[");
    for (i, header) in record.headers.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str("{\"key\":");
        push_bytes(&mut json, Some(&header.key));
        json.push_str(",\"value\":");
        push_bytes(&mut json, header.value.as_deref());
        json.push('}');
    }
    json.push_str("]}");
    json
}

fn is_json(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    matches!(trimmed.first(), Some(b'{' | b'['))
        && serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}

fn push_str(json: &mut String, text: &str) {
    json.push_str(&serde_json::to_string(text).expect("a string always serialises"));
}

fn push_bytes(json: &mut String, bytes: Option<&[u8]>) {
    match bytes {
        None => json.push_str("null"),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => push_str(json, text),
            Err(_) => {
                json.push_str("{\"base64\":\"");
                json.push_str(&base64(bytes));
                json.push_str("\"}");
            }
        },
    }
}

/// Standard base64 with padding (RFC 4648).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn utc(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let of_day = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

const KEY: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[36m";
const LITERAL: &str = "\x1b[35m";
const RESET: &str = "\x1b[0m";

/// Re-indents valid JSON text with two spaces, keeping its order, and
/// colours keys, strings, numbers and literals when `colour`.
fn indent(json: &str, colour: bool) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    // Per open container: is it an object?
    let mut objects: Vec<bool> = Vec::new();
    let mut expect_key = false;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * 2));
    };
    let paint = |out: &mut String, code: &str, text: &str| {
        if colour {
            out.push_str(code);
            out.push_str(text);
            out.push_str(RESET);
        } else {
            out.push_str(text);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\n' | '\r' | '\t' => {}
            '"' => {
                let mut token = String::from('"');
                while let Some(c) = chars.next() {
                    token.push(c);
                    match c {
                        '\\' => token.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
                paint(&mut out, if expect_key { KEY } else { STRING }, &token);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
                if chars.next_if_eq(&close).is_some() {
                    out.push(c);
                    out.push(close);
                    continue;
                }
                out.push(c);
                objects.push(c == '{');
                expect_key = c == '{';
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                objects.pop();
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
                expect_key = false;
            }
            ',' => {
                out.push(',');
                expect_key = objects.last() == Some(&true);
                newline(&mut out, depth);
            }
            ':' => {
                out.push_str(": ");
                expect_key = false;
            }
            _ => {
                let mut token = String::from(c);
                while let Some(c) = chars.next_if(|c| {
                    !matches!(c, ',' | ':' | '{' | '}' | '[' | ']' | '"')
                        && !c.is_ascii_whitespace()
                }) {
                    token.push(c);
                }
                let code = if matches!(token.as_str(), "true" | "false" | "null") {
                    LITERAL
                } else {
                    NUMBER
                };
                paint(&mut out, code, &token);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use sluice_types::{RecordHeader, Timestamp};

    use super::*;

    fn record(value: &'static [u8]) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("orders"),
            partition: 2,
            offset: 7,
            timestamp: Timestamp(1_700_000_000_123),
            key: Some(Bytes::from_static(b"ada")),
            value: Some(Bytes::from_static(value)),
            headers: vec![RecordHeader {
                key: Bytes::from_static(b"h"),
                value: None,
            }],
        }
    }

    #[test]
    fn json_lines_keep_field_order_and_escape() {
        assert_eq!(
            record_json(&record(b"say \"hi\"\n"), false),
            r#"{"topic":"orders","partition":2,"offset":7,"timestamp":1700000000123,"key":"ada","value":"say \"hi\"\n","headers":[{"key":"h","value":null}]}"#
        );
    }

    #[test]
    fn binary_values_are_base64() {
        let json = record_json(&record(&[0xff, 0x00, 0x10]), false);
        assert!(json.contains(r#""value":{"base64":"/wAQ"}"#), "{json}");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }

    #[test]
    fn pretty_embeds_json_values_in_their_own_order() {
        let text = indent(
            &record_json(&record(br#"{"z":1,"a":[true,null],"e":{}}"#), true),
            false,
        );
        let expected = r#"{
  "topic": "orders",
  "partition": 2,
  "offset": 7,
  "timestamp": 1700000000123,
  "time": "2023-11-14T22:13:20.123Z",
  "key": "ada",
  "value": {
    "z": 1,
    "a": [
      true,
      null
    ],
    "e": {}
  },
  "headers": [
    {
      "key": "h",
      "value": null
    }
  ]
}"#;
        assert_eq!(text, expected);
        // Valid JSON again, with the same content.
        let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reparsed["value"]["a"][0], true);
    }

    #[test]
    fn colours_mark_keys_and_values() {
        let text = indent(r#"{"k":"v","n":1}"#, true);
        assert_eq!(
            text,
            "{\n  \x1b[1;34m\"k\"\x1b[0m: \x1b[32m\"v\"\x1b[0m,\n  \x1b[1;34m\"n\"\x1b[0m: \x1b[36m1\x1b[0m\n}"
        );
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
    }
}
