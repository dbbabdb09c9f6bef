//! `mask`: replaces named fields of JSON record values, by redaction or by
//! hash.
//!
//! Config: `{"fields": ["email", "card.number"], "mode": "redact" | "hash"}`.
//! A dotted path reaches into nested objects. Each named field that is
//! present becomes `"***"` (`redact`) or the lowercase hex SHA-256 of its
//! value (`hash`: of a string's UTF-8 bytes, or of the compact JSON text of
//! any other value), so equal inputs still join after masking.
//!
//! A record whose value is not a JSON object (a tombstone, other bytes, a
//! JSON array) passes unchanged, as does one where no named field is
//! present: its value bytes are not re-encoded. Key, headers, timestamp and
//! origin are always kept. Field order is kept (`serde_json` with
//! `preserve_order`).
//!
//! The masking itself is [`Mask::apply`], a plain function, so it is tested
//! natively; the `Transform` impl only maps it over the batch.

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sluice_guest::{Error, Output, Record, Transform};

/// The stage's config table, as the pipeline file writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    fields: Vec<String>,
    mode: Mode,
}

/// What a masked field becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The string `"***"`.
    Redact,
    /// The lowercase hex SHA-256 of the value.
    Hash,
}

/// The string a redacted field becomes.
const REDACTED: &str = "***";

/// A validated config: the field paths, split at dots, and the mode.
#[derive(Debug)]
pub struct Mask {
    /// Each path has at least one segment, and no segment is empty.
    paths: Vec<Vec<String>>,
    mode: Mode,
}

impl Mask {
    /// Parses and validates the stage's config (JSON text).
    ///
    /// # Errors
    ///
    /// `invalid-config` when the JSON does not match the config shape, when
    /// `fields` is empty, or when a path has an empty segment (`"a..b"`).
    pub fn from_config(config: &str) -> Result<Self, Error> {
        let config: Config = serde_json::from_str(config).map_err(|error| {
            Error::invalid_config(format!(
                "mask: config {config:?} is not {{\"fields\": [\"a.b\", ...], \"mode\": \"redact\" | \"hash\"}}: {error}"
            ))
        })?;
        if config.fields.is_empty() {
            return Err(Error::invalid_config(
                "mask: config.fields is empty; name at least one field to mask, e.g. [\"email\"]",
            ));
        }
        let mut paths = Vec::with_capacity(config.fields.len());
        for field in &config.fields {
            let path: Vec<String> = field.split('.').map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                return Err(Error::invalid_config(format!(
                    "mask: config.fields has {field:?}, which has an empty path segment; \
                     write dotted paths like \"card.number\""
                )));
            }
            paths.push(path);
        }
        Ok(Mask {
            paths,
            mode: config.mode,
        })
    }

    /// Masks one record value. Returns `None` when the value stays as it
    /// is: not a JSON object, or none of the fields present.
    pub fn apply(&self, value: &[u8]) -> Option<Vec<u8>> {
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(value) else {
            return None;
        };
        let mut changed = false;
        for path in &self.paths {
            if let Some(field) = find_mut(&mut object, path) {
                *field = self.masked(field);
                changed = true;
            }
        }
        changed.then(|| serde_json::to_vec(&Value::Object(object)).expect("a JSON value encodes"))
    }

    fn masked(&self, field: &Value) -> Value {
        match self.mode {
            Mode::Redact => Value::String(REDACTED.to_owned()),
            Mode::Hash => {
                let digest = match field {
                    Value::String(text) => Sha256::digest(text.as_bytes()),
                    other => Sha256::digest(other.to_string().as_bytes()),
                };
                Value::String(hex_lower(&digest))
            }
        }
    }
}

/// The field at `path` inside `object`, if every step is present and every
/// step but the last is an object.
fn find_mut<'a>(object: &'a mut Map<String, Value>, path: &[String]) -> Option<&'a mut Value> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for segment in parents {
        current = current.get_mut(segment)?.as_object_mut()?;
    }
    current.get_mut(last)
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

impl Transform for Mask {
    fn init(config: &str) -> Result<Self, Error> {
        Mask::from_config(config)
    }

    fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error> {
        Ok(batch
            .into_iter()
            .map(|mut record| {
                if let Some(masked) = record.value.as_deref().and_then(|value| self.apply(value)) {
                    record.value = Some(masked);
                }
                Output::to_default(record)
            })
            .collect())
    }
}

sluice_guest::export_transform!(Mask);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest::{ErrorKind, Header};

    fn mask(config: &str) -> Mask {
        Mask::from_config(config).expect("valid config")
    }

    fn apply_text(mask: &Mask, value: &str) -> Option<String> {
        mask.apply(value.as_bytes())
            .map(|bytes| String::from_utf8(bytes).expect("JSON is UTF-8"))
    }

    #[test]
    fn redact_replaces_top_level_and_nested_fields_and_keeps_order() {
        let mask = mask(r#"{"fields": ["email", "card.number"], "mode": "redact"}"#);
        let out = apply_text(
            &mask,
            r#"{"id": 7, "email": "a@b.c", "card": {"number": "4111", "exp": "12/30"}, "z": true}"#,
        );
        assert_eq!(
            out.as_deref(),
            Some(r#"{"id":7,"email":"***","card":{"number":"***","exp":"12/30"},"z":true}"#)
        );
    }

    #[test]
    fn hash_of_a_string_is_sha256_of_its_utf8_bytes() {
        let mask = mask(r#"{"fields": ["email"], "mode": "hash"}"#);
        // sha256("abc"), the FIPS 180-2 test vector.
        let out = apply_text(&mask, r#"{"email": "abc"}"#);
        assert_eq!(
            out.as_deref(),
            Some(r#"{"email":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#)
        );
    }

    #[test]
    fn hash_of_a_non_string_is_sha256_of_its_compact_json() {
        let mask = mask(r#"{"fields": ["card"], "mode": "hash"}"#);
        // sha256 of `{"number":4111}`, the compact text, not the spaced input.
        let spaced = apply_text(&mask, r#"{"card": { "number" : 4111 }}"#);
        assert_eq!(
            spaced.as_deref(),
            Some(r#"{"card":"630e058e61891df09111b0f4623b17d218d24aac6ccd16006e310cfd8f2d0a92"}"#)
        );
        // sha256 of `12`.
        let number = apply_text(&mask, r#"{"card": 12}"#);
        assert_eq!(
            number.as_deref(),
            Some(r#"{"card":"6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918"}"#)
        );
    }

    #[test]
    fn values_that_are_not_json_objects_pass_unchanged() {
        let mask = mask(r#"{"fields": ["email"], "mode": "redact"}"#);
        for value in [
            &b"not json"[..],
            b"[1, 2]",
            b"\"email\"",
            b"42",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(mask.apply(value), None, "value {value:?}");
        }
    }

    #[test]
    fn absent_fields_and_paths_through_non_objects_leave_the_value_alone() {
        let mask = mask(r#"{"fields": ["email", "card.number"], "mode": "redact"}"#);
        assert_eq!(apply_text(&mask, r#"{"id": 1}"#), None);
        assert_eq!(apply_text(&mask, r#"{"card": "4111"}"#), None);
        assert_eq!(apply_text(&mask, r#"{"card": [{"number": 1}]}"#), None);
    }

    #[test]
    fn a_present_null_field_is_masked() {
        let mask = mask(r#"{"fields": ["email"], "mode": "redact"}"#);
        assert_eq!(
            apply_text(&mask, r#"{"email": null}"#).as_deref(),
            Some(r#"{"email":"***"}"#)
        );
    }

    #[test]
    fn process_keeps_key_headers_timestamp_and_tombstones() {
        let mut mask = mask(r#"{"fields": ["email"], "mode": "redact"}"#);
        let record = Record {
            key: Some(b"k1".to_vec()),
            value: Some(br#"{"email": "a@b.c"}"#.to_vec()),
            headers: vec![Header {
                key: "trace".into(),
                value: Some(b"t1".to_vec()),
            }],
            timestamp: 1_700_000_000_000,
            origin: None,
        };
        let tombstone = Record {
            value: None,
            ..record.clone()
        };
        let outputs = mask
            .process(vec![record.clone(), tombstone.clone()])
            .expect("mask never fails a batch");
        assert_eq!(outputs.len(), 2);
        let expected = Record {
            value: Some(br#"{"email":"***"}"#.to_vec()),
            ..record
        };
        assert_eq!(outputs[0], Output::to_default(expected));
        assert_eq!(outputs[1], Output::to_default(tombstone));
    }

    #[test]
    fn bad_configs_are_invalid_config_errors() {
        for config in [
            r#"{"fields": [], "mode": "redact"}"#,
            r#"{"fields": ["a..b"], "mode": "redact"}"#,
            r#"{"fields": ["a"], "mode": "scramble"}"#,
            r#"{"fields": ["a"], "mode": "hash", "salt": "x"}"#,
            r#"{"fields": ["a"]}"#,
            "not json",
        ] {
            let error = Mask::from_config(config).expect_err(config);
            assert_eq!(error.kind, ErrorKind::InvalidConfig, "config {config}");
        }
    }
}
