//! The JSON-lines form of a record that `sluice transform run` reads on
//! standard input and writes on standard output and to its dead-letter
//! file: one object per line,
//! `{"key": …, "value": …, "headers": {…}, "timestamp": …}`.
//!
//! Reading a line (every field optional, any other field refused, so a
//! misspelt `"vaule"` is an error instead of a silent tombstone):
//!
//! - `key` / `value`: a JSON object or array becomes its exact source text,
//!   as written on the line (numbers and member order untouched); a JSON
//!   string becomes its UTF-8 bytes (escapes resolved); a number, `true` or
//!   `false` becomes its text; `null` or absent means no key / a tombstone.
//! - `headers`: an object of header names to a string or `null`; order and
//!   repeated names are kept.
//! - `timestamp`: milliseconds since the epoch; absent means now.
//!
//! Writing a record: key, value, headers, timestamp in that order, then
//! `"target"` when the guest routed the record to a named output (and
//! `"error"` in the dead-letter file). Key, value and header bytes are
//! written as
//!
//! - the JSON itself, when they are a valid JSON object or array: verbatim,
//!   or compacted (insignificant whitespace dropped) when the text holds a
//!   line break, which would otherwise split the line;
//! - a JSON string, when they are any other UTF-8 text;
//! - `{"base64": "…"}` otherwise, as `sluice consume --format json` does.
//!
//! So every record whose bytes are UTF-8 reads back as the same bytes
//! (JSON objects and arrays up to insignificant whitespace around or
//! inside them). Bytes that are not UTF-8 do not: `{"base64": …}` reads
//! back as that JSON object's text, because reading never guesses.

use std::io::{self, Write};

use bytes::Bytes;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use sluice_types::{Record, RecordHeader, Timestamp};

/// One input line as written; key and value borrow their JSON text from it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(default, borrow)]
    key: Option<&'a RawValue>,
    #[serde(default, borrow)]
    value: Option<&'a RawValue>,
    #[serde(default)]
    headers: Option<Headers>,
    #[serde(default)]
    timestamp: Option<i64>,
}

/// A `headers` object, in the order written, repeated names included
/// (a map type would drop both).
struct Headers(Vec<RecordHeader>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = Headers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of header names to a string or null")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut headers = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Option<String>>()? {
                    headers.push(RecordHeader {
                        key: Bytes::from(key),
                        value: value.map(Bytes::from),
                    });
                }
                Ok(Headers(headers))
            }
        }
        deserializer.deserialize_map(HeadersVisitor)
    }
}

/// Parses one input line into a record; `now` is the timestamp of a
/// record without one.
///
/// # Errors
/// What is wrong with the line, without its number (the caller knows it).
pub fn parse_record(line: &str, now: Timestamp) -> Result<Record, String> {
    // serde would also read a struct from an array (`[key, value, …]`):
    // only an object is a record here.
    if !line.trim_start().starts_with('{') {
        return Err("expected a JSON object such as {\"key\": …, \"value\": …}".into());
    }
    let line: Line = serde_json::from_str(line).map_err(|error| describe(&error))?;
    let mut record = Record::new(
        line.timestamp.map_or(now, Timestamp),
        bytes_of(line.key, "key")?,
        bytes_of(line.value, "value")?,
    );
    record.headers = line.headers.map(|h| h.0).unwrap_or_default();
    Ok(record)
}

/// A serde_json error without its "at line 1 column N" suffix: the input
/// is one line, so only the column means anything.
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(message, _)| message);
    format!("{message} (column {})", error.column())
}

/// The bytes a key or value field stands for; `None` for `null` or absent.
fn bytes_of(raw: Option<&RawValue>, field: &str) -> Result<Option<Bytes>, String> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let text = raw.get();
    if text.starts_with('"') {
        let string: String = serde_json::from_str(text)
            .map_err(|error| format!("`{field}`: {}", describe(&error)))?;
        Ok(Some(Bytes::from(string)))
    } else {
        // An object, array, number or literal: its text exactly as written.
        Ok(Some(Bytes::copy_from_slice(text.as_bytes())))
    }
}

/// Writes `record` as one line, with `target` and `error` when given.
pub fn write_record(
    out: &mut impl Write,
    record: &Record,
    target: Option<&str>,
    error: Option<&str>,
) -> io::Result<()> {
    out.write_all(b"{\"key\":")?;
    write_bytes(out, record.key.as_deref())?;
    out.write_all(b",\"value\":")?;
    write_bytes(out, record.value.as_deref())?;
    out.write_all(b",\"headers\":{")?;
    for (i, header) in record.headers.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        // A JSON object's names are strings: a header name that is not
        // UTF-8 (never one a guest returned) is shown lossily.
        write_str(out, &String::from_utf8_lossy(&header.key))?;
        out.write_all(b":")?;
        write_bytes(out, header.value.as_deref())?;
    }
    write!(out, "}},\"timestamp\":{}", record.timestamp.0)?;
    if let Some(target) = target {
        out.write_all(b",\"target\":")?;
        write_str(out, target)?;
    }
    if let Some(error) = error {
        out.write_all(b",\"error\":")?;
        write_str(out, error)?;
    }
    out.write_all(b"}\n")
}

fn write_str(out: &mut impl Write, text: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, text).map_err(io::Error::from)
}

/// Writes key, value or header bytes by the rules in the module doc.
fn write_bytes(out: &mut impl Write, bytes: Option<&[u8]>) -> io::Result<()> {
    let Some(bytes) = bytes else {
        return out.write_all(b"null");
    };
    if is_json_container(bytes) {
        return if bytes.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            out.write_all(&compact(bytes))
        } else {
            out.write_all(bytes)
        };
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => write_str(out, text),
        Err(_) => {
            out.write_all(b"{\"base64\":\"")?;
            out.write_all(crate::record_format::base64(bytes).as_bytes())?;
            out.write_all(b"\"}")
        }
    }
}

/// True for the text of a valid JSON object or array.
fn is_json_container(bytes: &[u8]) -> bool {
    matches!(bytes.trim_ascii_start().first(), Some(b'{' | b'['))
        && serde_json::from_slice::<IgnoredAny>(bytes).is_ok()
}

/// Valid JSON text without its insignificant whitespace. Raw control
/// characters cannot occur inside a valid JSON string, so every whitespace
/// byte outside a string is insignificant, and no two tokens merge when it
/// goes (valid JSON separates values with `,` or `:`).
fn compact(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            out.push(byte);
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if !byte.is_ascii_whitespace() {
            in_string = byte == b'"';
            out.push(byte);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(42);

    fn line_of(record: &Record, target: Option<&str>) -> String {
        let mut out = Vec::new();
        write_record(&mut out, record, target, None).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn objects_and_arrays_keep_their_source_text() {
        let record = parse_record(
            r#"{"key": [1, 2.50], "value":  {"b": 1e3, "a": "x"} , "timestamp": 7}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(record.key.as_deref(), Some(&b"[1, 2.50]"[..]));
        assert_eq!(
            record.value.as_deref(),
            Some(&br#"{"b": 1e3, "a": "x"}"#[..])
        );
        assert_eq!(record.timestamp, Timestamp(7));
        assert_eq!(
            line_of(&record, None),
            "{\"key\":[1, 2.50],\"value\":{\"b\": 1e3, \"a\": \"x\"},\"headers\":{},\"timestamp\":7}\n"
        );
    }

    #[test]
    fn scalars_become_text_and_null_is_absent() {
        let record = parse_record(
            r#"{"key": "caf\u00e9 \"x\"", "value": 12.0, "headers": {"h": "v", "n": null, "h": "w"}}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(record.key.as_deref(), Some("café \"x\"".as_bytes()));
        assert_eq!(record.value.as_deref(), Some(&b"12.0"[..]));
        assert_eq!(record.timestamp, NOW);
        let headers: Vec<_> = record
            .headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect();
        assert_eq!(
            headers,
            vec![
                (Bytes::from("h"), Some(Bytes::from("v"))),
                (Bytes::from("n"), None),
                (Bytes::from("h"), Some(Bytes::from("w"))),
            ]
        );
        assert_eq!(
            line_of(&record, Some("audit")),
            "{\"key\":\"café \\\"x\\\"\",\"value\":\"12.0\",\"headers\":{\"h\":\"v\",\"n\":null,\"h\":\"w\"},\"timestamp\":42,\"target\":\"audit\"}\n"
        );

        let tombstone =
            parse_record(r#"{"key": null, "value": null, "headers": null}"#, NOW).unwrap();
        assert_eq!((tombstone.key, tombstone.value), (None, None));
        assert!(parse_record("{}", NOW).unwrap().value.is_none());
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let error = parse_record(r#"{"vaule": 1}"#, NOW).unwrap_err();
        assert!(error.contains("unknown field `vaule`"), "{error}");
        assert!(!error.contains("line"), "{error}");
        let error = parse_record(r#"{"value": 1"#, NOW).unwrap_err();
        assert!(error.contains("column"), "{error}");
        let error = parse_record(r#"{"headers": {"h": 1}}"#, NOW).unwrap_err();
        assert!(error.contains("invalid type"), "{error}");
        assert!(parse_record(r#"{"timestamp": 1.5}"#, NOW).is_err());
        let error = parse_record(r#"["k", "v"]"#, NOW).unwrap_err();
        assert!(error.contains("expected a JSON object"), "{error}");
    }

    #[test]
    fn written_bytes_follow_the_rules() {
        let mut record = Record::new(
            Timestamp(1),
            Some(Bytes::from_static(
                b"{\n  \"a\": \"x y\",\n  \"b\": [1, 2]\n}",
            )),
            Some(Bytes::from_static(&[0xff, 0x00, 0x10])),
        );
        record.headers.push(RecordHeader {
            key: Bytes::from_static(b"h"),
            value: Some(Bytes::from_static(b"{not json")),
        });
        assert_eq!(
            line_of(&record, None),
            "{\"key\":{\"a\":\"x y\",\"b\":[1,2]},\"value\":{\"base64\":\"/wAQ\"},\"headers\":{\"h\":\"{not json\"},\"timestamp\":1}\n"
        );
    }

    #[test]
    fn utf8_records_read_back_as_the_same_bytes() {
        let values: [&[u8]; 6] = [
            b"plain",
            b"\"quoted\"",
            b"42",
            b"null",
            br#"{"z":1,"a":[true,null]}"#,
            b"tab\there\nnewline",
        ];
        for value in values {
            let record = Record::new(Timestamp(3), None, Some(Bytes::from_static(value)));
            let line = line_of(&record, None);
            let back = parse_record(line.trim_end(), NOW).unwrap();
            assert_eq!(back, record, "{line}");
        }
    }

    #[test]
    fn compact_keeps_strings_intact() {
        assert_eq!(
            compact(b"[ \"a \\\" b\" ,\r\n {\"k\" : \"\\\\\"} ]"),
            b"[\"a \\\" b\",{\"k\":\"\\\\\"}]"
        );
    }
}
