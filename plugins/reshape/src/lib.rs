//! `reshape`: renames, drops, adds and flattens fields of JSON record
//! values.
//!
//! Config (every key optional, at least one must change something):
//!
//! ```json
//! {"rename": {"old.path": "new.path", ...},
//!  "drop": ["a.b", ...],
//!  "add": {"path": <json>, ...},
//!  "flatten": false | true | {"separator": "_"}}
//! ```
//!
//! A dotted path reaches into nested objects (arrays are not entered). The
//! steps run in this order, each list in config order: **rename**, then
//! **drop**, then **add**, then **flatten**; so `add` can restore a dropped
//! field, and `flatten` sees the fields the others made.
//!
//! - **rename** moves a member. Within one object (only the last segment
//!   differs) it keeps its position under the new name and replaces a member
//!   already so named; into another object it goes last there. Missing
//!   objects on the new path are created. An absent old path, or a new path
//!   that runs through a present non-object, leaves the record as it was.
//!   Renames apply one after another: `{"a": "b", "b": "a"}` is not a swap.
//! - **drop** removes members; absent ones are ignored.
//! - **add** sets a member to a JSON value: an existing member keeps its
//!   position, a new one goes last, missing objects on the way are created;
//!   a path through a present non-object is left alone.
//! - **flatten** (`true` joins with `"."`) replaces each nested, non-empty
//!   object by its members, named by the joined keys, depth first in order:
//!   `{"a": {"b": 1}, "c": [2]}` → `{"a.b": 1, "c": [2]}`. Arrays and empty
//!   objects stay values. When two members end up with one name, the later
//!   value wins at the earlier position.
//!
//! A value that changes is written as compact JSON with member order kept
//! and numbers as written (`serde_json` with `preserve_order` and
//! `arbitrary_precision`). A value that is not a JSON object (a tombstone,
//! other bytes, an array or scalar), or that no step changes, passes with
//! its bytes unchanged. Key, headers, timestamp and origin are always kept;
//! every record goes to the default output.
//!
//! [`Reshape::apply`] is a plain function, tested natively; the `Transform`
//! impl only maps it over the batch.

mod config;
mod edit;

use serde_json::Value;
use sluice_guest::{Error, Output, Record, Transform};

use crate::config::Resolved;

/// A validated config.
#[derive(Debug)]
pub struct Reshape {
    config: Resolved,
}

impl Reshape {
    /// Parses and validates the stage's config (JSON text).
    ///
    /// # Errors
    ///
    /// `invalid-config` when the JSON does not match the config shape (the
    /// message shows it), a path has an empty segment, the flatten separator
    /// is empty, or the config changes nothing.
    pub fn from_config(config: &str) -> Result<Self, Error> {
        Ok(Reshape {
            config: Resolved::parse(config)?,
        })
    }

    /// Reshapes one record value. Returns `None` when the value stays as it
    /// is: not a JSON object, or no step changed it.
    pub fn apply(&self, value: &[u8]) -> Option<Vec<u8>> {
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(value) else {
            return None;
        };
        let mut changed = false;
        for (from, to) in &self.config.renames {
            changed |= edit::rename(&mut object, from, to);
        }
        for path in &self.config.drops {
            changed |= edit::remove(&mut object, path).is_some();
        }
        for (path, value) in &self.config.adds {
            changed |= edit::insert(&mut object, path, value.clone());
        }
        if let Some(separator) = &self.config.flatten {
            changed |= edit::flatten(&mut object, separator);
        }
        changed.then(|| serde_json::to_vec(&Value::Object(object)).expect("a JSON value encodes"))
    }
}

impl Transform for Reshape {
    fn init(config: &str) -> Result<Self, Error> {
        Reshape::from_config(config)
    }

    fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error> {
        Ok(batch
            .into_iter()
            .map(|mut record| {
                if let Some(reshaped) = record.value.as_deref().and_then(|value| self.apply(value))
                {
                    record.value = Some(reshaped);
                }
                Output::to_default(record)
            })
            .collect())
    }
}

sluice_guest::export_transform!(Reshape);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest::{ErrorKind, Header};

    fn reshape(config: &str) -> Reshape {
        Reshape::from_config(config).unwrap_or_else(|error| panic!("{config}: {}", error.message))
    }

    fn apply_text(reshape: &Reshape, value: &str) -> Option<String> {
        reshape
            .apply(value.as_bytes())
            .map(|bytes| String::from_utf8(bytes).expect("JSON is UTF-8"))
    }

    #[test]
    fn rename_moves_fields_within_and_across_objects() {
        let r = reshape(r#"{"rename": {"user.mail": "email", "id": "order_id", "ts": "meta.ts"}}"#);
        assert_eq!(
            apply_text(
                &r,
                r#"{"id": 7, "user": {"mail": "a@b.c", "name": "A"}, "ts": 1}"#
            )
            .as_deref(),
            Some(r#"{"order_id":7,"user":{"name":"A"},"email":"a@b.c","meta":{"ts":1}}"#)
        );
    }

    #[test]
    fn renames_apply_one_after_another() {
        let r = reshape(r#"{"rename": {"a": "b", "b": "c"}}"#);
        assert_eq!(
            apply_text(&r, r#"{"a": 1, "x": 0}"#).as_deref(),
            Some(r#"{"c":1,"x":0}"#)
        );
    }

    #[test]
    fn drop_removes_present_fields_and_ignores_absent_ones() {
        let r = reshape(r#"{"drop": ["password", "card.cvv", "nope.x"]}"#);
        assert_eq!(
            apply_text(
                &r,
                r#"{"id": 1, "password": "p", "card": {"cvv": 123, "last4": "4242"}}"#
            )
            .as_deref(),
            Some(r#"{"id":1,"card":{"last4":"4242"}}"#)
        );
        assert_eq!(apply_text(&r, r#"{"id": 1}"#), None);
    }

    #[test]
    fn add_sets_values_and_creates_objects() {
        let r = reshape(r#"{"add": {"source": "shop", "meta.version": 2, "id": {"v": [1.50]}}}"#);
        assert_eq!(
            apply_text(&r, r#"{"id": 1, "x": true}"#).as_deref(),
            Some(r#"{"id":{"v":[1.50]},"x":true,"source":"shop","meta":{"version":2}}"#)
        );
    }

    #[test]
    fn flatten_true_joins_with_a_dot_and_a_separator_can_be_chosen() {
        let value = r#"{"a": {"b": 1, "c": {"d": null}}, "e": [{"f": 1}], "g": {}}"#;
        assert_eq!(
            apply_text(&reshape(r#"{"flatten": true}"#), value).as_deref(),
            Some(r#"{"a.b":1,"a.c.d":null,"e":[{"f":1}],"g":{}}"#)
        );
        assert_eq!(
            apply_text(&reshape(r#"{"flatten": {"separator": "_"}}"#), value).as_deref(),
            Some(r#"{"a_b":1,"a_c_d":null,"e":[{"f":1}],"g":{}}"#)
        );
        // `false` alone changes nothing, so it is refused; next to another
        // step it just turns flattening off.
        let r = reshape(r#"{"drop": ["x"], "flatten": false}"#);
        assert_eq!(
            apply_text(&r, r#"{"x": 1, "a": {"b": 1}}"#).as_deref(),
            Some(r#"{"a":{"b":1}}"#)
        );
    }

    #[test]
    fn steps_run_rename_then_drop_then_add_then_flatten() {
        let r = reshape(
            r#"{"flatten": {"separator": "_"}, "add": {"user.tier": "gold", "secret": "kept"},
                "drop": ["email", "secret"], "rename": {"user.mail": "email"}}"#,
        );
        // rename makes `email`, drop removes it (and `secret`), add puts
        // `secret` back and adds `user.tier`, flatten runs last.
        assert_eq!(
            apply_text(&r, r#"{"user": {"mail": "m", "id": 1}, "secret": "s"}"#).as_deref(),
            Some(r#"{"user_id":1,"user_tier":"gold","secret":"kept"}"#)
        );
    }

    #[test]
    fn output_is_compact_with_order_and_number_text_kept() {
        let r = reshape(r#"{"add": {"z": 1}}"#);
        assert_eq!(
            apply_text(
                &r,
                "{ \"b\" : 1.0 ,\n \"a\": [ -0, 2.50e-3, 12345678901234567890123 ] }"
            )
            .as_deref(),
            Some(r#"{"b":1.0,"a":[-0,2.50e-3,12345678901234567890123],"z":1}"#)
        );
    }

    #[test]
    fn values_that_are_not_objects_or_not_changed_pass_unchanged() {
        let r = reshape(r#"{"rename": {"a": "b"}, "drop": ["c"], "flatten": true}"#);
        for value in [
            &b"not json"[..],
            b"[1, 2]",
            b"\"a\"",
            b"42",
            b"",
            b"\xff\xfe",
            b"{\"x\": {}}",
        ] {
            assert_eq!(r.apply(value), None, "value {value:?}");
        }
    }

    #[test]
    fn process_keeps_key_headers_timestamp_and_tombstones() {
        let mut r = reshape(r#"{"rename": {"a": "b"}}"#);
        let record = Record {
            key: Some(b"k1".to_vec()),
            value: Some(br#"{"a": 1}"#.to_vec()),
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
        let untouched = Record::from_value(br#"{"x": 1}"#.to_vec());
        let outputs = r
            .process(vec![record.clone(), tombstone.clone(), untouched.clone()])
            .expect("reshape never fails a batch");
        let expected = Record {
            value: Some(br#"{"b":1}"#.to_vec()),
            ..record
        };
        assert_eq!(
            outputs,
            vec![
                Output::to_default(expected),
                Output::to_default(tombstone),
                Output::to_default(untouched)
            ]
        );
    }

    #[test]
    fn bad_configs_are_invalid_config_errors() {
        for config in [
            "not json",
            "[]",
            "{}",
            r#"{"flatten": false}"#,
            r#"{"rename": {}, "drop": [], "add": {}}"#,
            r#"{"rename": {"a": 1}}"#,
            r#"{"rename": {"a": "b..c"}}"#,
            r#"{"rename": {"": "b"}}"#,
            r#"{"rename": ["a", "b"]}"#,
            r#"{"drop": "a"}"#,
            r#"{"drop": ["a."]}"#,
            r#"{"add": {".a": 1}}"#,
            r#"{"add": [1]}"#,
            r#"{"flatten": "yes"}"#,
            r#"{"flatten": {"separator": ""}}"#,
            r#"{"flatten": {"sep": "_"}}"#,
            r#"{"drop": ["a"], "keep": ["b"]}"#,
        ] {
            let error = Reshape::from_config(config).expect_err(config);
            assert_eq!(error.kind, ErrorKind::InvalidConfig, "config {config}");
            assert!(
                error.message.starts_with("reshape: config"),
                "{}",
                error.message
            );
        }
        let error =
            Reshape::from_config(r#"{"drop": ["a"], "keep": ["b"]}"#).expect_err("unknown key");
        assert!(
            error
                .message
                .contains(r#"{"rename": {"old.path": "new.path""#),
            "{}",
            error.message
        );
    }
}
