//! A `jsonl` line as a record: whether it is JSON, and its key.
//!
//! The line's bytes become the value untouched (whitespace, member order
//! and numbers as written); only the key is derived, from one top-level
//! field, with the same rules `sluice transform run` uses to read a key:
//! a JSON string becomes its UTF-8 text, `null` or an absent field no key,
//! anything else its compact JSON text. A line that is not JSON is not
//! dropped: the caller passes it on unchanged and warns.

use serde::de::IgnoredAny;
use serde_json::Value;

/// The line is not valid JSON.
#[derive(Debug, PartialEq, Eq)]
pub struct NotJson;

/// Checks that `line` is JSON and, when `field` is given, returns the
/// key it names (`None` when the line is not an object or lacks it).
pub fn key(line: &[u8], field: Option<&str>) -> Result<Option<Vec<u8>>, NotJson> {
    let Some(field) = field else {
        return serde_json::from_slice::<IgnoredAny>(line)
            .map(|_| None)
            .map_err(|_| NotJson);
    };
    let value: Value = serde_json::from_slice(line).map_err(|_| NotJson)?;
    Ok(match value.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone().into_bytes()),
        Some(other) => Some(other.to_string().into_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(key: Option<Vec<u8>>) -> Option<String> {
        key.map(|k| String::from_utf8(k).unwrap())
    }

    #[test]
    fn the_key_is_a_strings_text_or_compact_json() {
        let line = br#"{"id": "caf\u00e9", "n": 1.50, "o": {"b": 1, "a": [1, 2]}, "z": null}"#;
        assert_eq!(
            text(key(line, Some("id")).unwrap()).as_deref(),
            Some("café")
        );
        assert_eq!(text(key(line, Some("n")).unwrap()).as_deref(), Some("1.50"));
        assert_eq!(
            text(key(line, Some("o")).unwrap()).as_deref(),
            Some(r#"{"b":1,"a":[1,2]}"#)
        );
        assert_eq!(key(line, Some("z")), Ok(None), "null: no key");
        assert_eq!(key(line, Some("missing")), Ok(None));
        assert_eq!(key(b"[1, 2]", Some("id")), Ok(None), "not an object");
    }

    #[test]
    fn a_line_that_is_not_json_is_told_with_or_without_a_key() {
        assert_eq!(key(b"42", None), Ok(None));
        assert_eq!(key(br#"{"a": 1}"#, None), Ok(None));
        for bad in [
            &b"{\"a\": 1"[..],
            b"plain text",
            b"{\"a\":1} trailing",
            b"\xff",
        ] {
            assert_eq!(key(bad, None), Err(NotJson), "{bad:?}");
            assert_eq!(key(bad, Some("a")), Err(NotJson), "{bad:?}");
        }
    }
}
