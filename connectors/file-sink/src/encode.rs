//! One record as one JSON line:
//! `{"key":…,"value":…,"headers":{…},"timestamp":…,"topic":…,"partition":…,"offset":…}`.
//!
//! Key, value and header bytes follow the rules of `sluice transform run`'s
//! JSON lines (`runtime/cli/src/transform/json_lines.rs`), so both tools
//! write a record the same way:
//!
//! - a valid JSON object or array is written as itself: verbatim, or
//!   compacted when its text holds a line break, which would split the line;
//! - any other UTF-8 text is a JSON string;
//! - other bytes are `{"base64": "…"}` (standard alphabet, padded);
//! - none is `null`.
//!
//! `headers` is written by hand, not through a map, so it keeps the
//! headers' order and repeated names. `topic`, `partition` and `offset`
//! come from the record's origin and are `null` without one. Every record
//! can be written: nothing here fails.

use serde::de::IgnoredAny;
use sluice_guest::Record;

/// Appends `record` to `out` as one line, `\n` included.
pub fn write_line(out: &mut Vec<u8>, record: &Record) {
    out.extend_from_slice(b"{\"key\":");
    write_bytes(out, record.key.as_deref());
    out.extend_from_slice(b",\"value\":");
    write_bytes(out, record.value.as_deref());
    out.extend_from_slice(b",\"headers\":{");
    for (i, header) in record.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &header.key);
        out.push(b':');
        write_bytes(out, header.value.as_deref());
    }
    out.extend_from_slice(format!("}},\"timestamp\":{}", record.timestamp).as_bytes());
    match &record.origin {
        Some(origin) => {
            out.extend_from_slice(b",\"topic\":");
            write_str(out, &origin.topic);
            out.extend_from_slice(
                format!(
                    ",\"partition\":{},\"offset\":{}",
                    origin.partition, origin.offset
                )
                .as_bytes(),
            );
        }
        None => out.extend_from_slice(b",\"topic\":null,\"partition\":null,\"offset\":null"),
    }
    out.extend_from_slice(b"}\n");
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("a string always serializes into a Vec");
}

/// Writes key, value or header bytes by the rules in the module doc.
fn write_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    let Some(bytes) = bytes else {
        out.extend_from_slice(b"null");
        return;
    };
    if is_json_container(bytes) {
        if bytes.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            compact(out, bytes);
        } else {
            out.extend_from_slice(bytes);
        }
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => write_str(out, text),
        Err(_) => {
            out.extend_from_slice(b"{\"base64\":\"");
            base64(out, bytes);
            out.extend_from_slice(b"\"}");
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
fn compact(out: &mut Vec<u8>, json: &[u8]) {
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
}

/// Standard base64 (RFC 4648 alphabet, `=` padding): three bytes become
/// four characters.
fn base64(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest::{Header, Origin};

    fn line(record: &Record) -> String {
        let mut out = Vec::new();
        write_line(&mut out, record);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_json_object_value_is_written_as_itself_with_its_origin() {
        let mut record = Record::from_value(&br#"{"b": 1e3, "a": "x"}"#[..]);
        record.key = Some(b"k1".to_vec());
        record.timestamp = 7;
        record.origin = Some(Origin {
            topic: "orders".into(),
            partition: 2,
            offset: 40,
        });
        assert_eq!(
            line(&record),
            "{\"key\":\"k1\",\"value\":{\"b\": 1e3, \"a\": \"x\"},\"headers\":{},\"timestamp\":7,\
             \"topic\":\"orders\",\"partition\":2,\"offset\":40}\n"
        );
    }

    #[test]
    fn text_multiline_json_bytes_and_none_follow_the_rules() {
        let mut record = Record::from_value(&[0xff, 0x00, 0x10][..]);
        record.key = Some(b"[\n  1,\n  \"a b\"\n]".to_vec());
        record.headers = vec![
            Header {
                key: "h".into(),
                value: Some(b"{not json".to_vec()),
            },
            Header {
                key: "n".into(),
                value: None,
            },
            Header {
                key: "h".into(),
                value: Some("caf\u{e9} \"q\"".as_bytes().to_vec()),
            },
        ];
        assert_eq!(
            line(&record),
            "{\"key\":[1,\"a b\"],\"value\":{\"base64\":\"/wAQ\"},\
             \"headers\":{\"h\":\"{not json\",\"n\":null,\"h\":\"café \\\"q\\\"\"},\"timestamp\":0,\
             \"topic\":null,\"partition\":null,\"offset\":null}\n"
        );
        let tombstone = Record {
            value: None,
            ..Record::from_value(Vec::new())
        };
        assert!(line(&tombstone).starts_with("{\"key\":null,\"value\":null,"));
        assert!(line(&Record::from_value(&b"42"[..])).contains("\"value\":\"42\""));
    }

    #[test]
    fn base64_pads_to_groups_of_four() {
        let encode = |bytes: &[u8]| {
            let mut out = Vec::new();
            base64(&mut out, bytes);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn every_line_is_one_json_object() {
        let mut record = Record::from_value(&b"{\"a\":\n\"x\\ny\"}"[..]);
        record.key = Some(b"line\nbreak".to_vec());
        let text = line(&record);
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["key"], "line\nbreak");
        assert_eq!(parsed["value"]["a"], "x\ny");
    }
}
