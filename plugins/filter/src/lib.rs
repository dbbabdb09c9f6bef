//! `filter`: keeps the records whose JSON value matches a predicate and
//! drops the rest.
//!
//! Config: a predicate, plus an optional `"on_non_json": "drop" | "keep"`
//! (default `"drop"`) at the top level. A predicate is one of
//!
//! - `{"field": "a.b", "op": OP, "value": <json>}`: compares one field. A
//!   dotted path reaches into nested objects (arrays are not entered).
//! - `{"all": [<predicate>, ...]}`, `{"any": [<predicate>, ...]}`: every /
//!   some predicate holds (lists are non-empty, nesting is allowed).
//! - `{"not": <predicate>}`.
//!
//! The ops, for a present field:
//!
//! - `eq` / `ne`: the field equals / does not equal `value`. Numbers compare
//!   by exact decimal value (`1` equals `1.0` and `1e0`; no rounding through
//!   `f64`), strings exactly (after resolving escapes, no Unicode
//!   normalisation), arrays element by element, objects by their members in
//!   any order. Values of different kinds are unequal (`1` is not `"1"`).
//! - `lt` / `gt`: both numbers, by value, or both strings, by code point;
//!   any other pair is false.
//! - `contains`: a string field contains the string `value`, or an array
//!   field has an element `eq` to `value`; otherwise false.
//! - `in`: `value` is an array and the field is `eq` to one of its elements.
//! - `exists`: the field is present, `null` included; takes no `value`.
//!
//! A missing field (or a path through a non-object) makes every op false
//! except `ne`, which is true: "not equal to x" holds for a record without
//! the field. `not` negates whatever its predicate gives.
//!
//! A value that is not a JSON object (a tombstone, bytes that are not UTF-8
//! JSON, an array or other scalar) matches nothing: it is dropped, or kept
//! with `"on_non_json": "keep"`. A duplicate member reads as its last
//! occurrence. Kept records go to the default output exactly as they came:
//! the value is never re-encoded.
//!
//! This stage sits on the hot path, so a value is not parsed into a
//! `serde_json::Value`: [`lookup`] finds the named fields in one pass as
//! borrowed slices, and [`compare`] compares those slices directly.
//! [`Filter::keeps`] is a plain function, tested natively; the `Transform`
//! impl only maps it over the batch.

mod compare;
mod lookup;
mod number;
mod predicate;

use serde_json::Value;
use sluice_guest::{Error, Output, Record, Transform};

use crate::lookup::Lookup;
use crate::predicate::Predicate;

/// What happens to a record whose value is not a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNonJson {
    Drop,
    Keep,
}

/// A validated config, with the lookup for the fields it reads.
#[derive(Debug)]
pub struct Filter {
    predicate: Predicate,
    lookup: Lookup,
    on_non_json: OnNonJson,
}

impl Filter {
    /// Parses and validates the stage's config (JSON text).
    ///
    /// # Errors
    ///
    /// `invalid-config` when the config is not JSON, not an object, or a
    /// predicate in it is malformed (unknown key or op, missing `field`,
    /// `op` or `value`, empty path segment, empty `all`/`any`); the message
    /// says where and gives the expected shape.
    pub fn from_config(config: &str) -> Result<Self, Error> {
        let mut object = match serde_json::from_str::<Value>(config) {
            Ok(Value::Object(object)) => object,
            Ok(_) | Err(_) => {
                return Err(Error::invalid_config(format!(
                    "filter: config {config:?} is not a JSON object; expected a predicate such as \
                     {{\"field\": \"type\", \"op\": \"eq\", \"value\": \"order\"}}, optionally with \
                     \"on_non_json\": \"drop\" | \"keep\""
                )))
            }
        };
        let on_non_json = match object.shift_remove("on_non_json") {
            None => OnNonJson::Drop,
            Some(Value::String(text)) if text == "drop" => OnNonJson::Drop,
            Some(Value::String(text)) if text == "keep" => OnNonJson::Keep,
            Some(other) => {
                return Err(Error::invalid_config(format!(
                    "filter: config.on_non_json is {other}; expected \"drop\" or \"keep\""
                )))
            }
        };
        let mut lookup = Lookup::new();
        let predicate = Predicate::parse(&Value::Object(object), "config", &mut lookup)?;
        Ok(Filter {
            predicate,
            lookup,
            on_non_json,
        })
    }

    /// Whether a record with this value is kept (`None` is a tombstone).
    pub fn keeps(&mut self, value: Option<&[u8]>) -> bool {
        let fields = value
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| self.lookup.read(text));
        match fields {
            Some(fields) => self.predicate.eval(&fields),
            None => self.on_non_json == OnNonJson::Keep,
        }
    }
}

impl Transform for Filter {
    fn init(config: &str) -> Result<Self, Error> {
        Filter::from_config(config)
    }

    fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error> {
        Ok(batch
            .into_iter()
            .filter(|record| self.keeps(record.value.as_deref()))
            .map(Output::to_default)
            .collect())
    }
}

sluice_guest::export_transform!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest::{ErrorKind, Header};

    fn filter(config: &str) -> Filter {
        Filter::from_config(config).unwrap_or_else(|error| panic!("{config}: {}", error.message))
    }

    /// Asserts which of `values` the config keeps.
    fn assert_keeps(config: &str, cases: &[(&str, bool)]) {
        let mut filter = filter(config);
        for (value, kept) in cases {
            assert_eq!(
                filter.keeps(Some(value.as_bytes())),
                *kept,
                "config {config}, value {value}"
            );
        }
    }

    #[test]
    fn eq_compares_numbers_by_value_and_strings_exactly() {
        assert_keeps(
            r#"{"field": "n", "op": "eq", "value": 1}"#,
            &[
                (r#"{"n": 1}"#, true),
                (r#"{"n": 1.0}"#, true),
                (r#"{"n": 10e-1}"#, true),
                (r#"{"n": 2}"#, false),
                (r#"{"n": "1"}"#, false),
                (r#"{"n": true}"#, false),
                (r#"{"m": 1}"#, false),
            ],
        );
        assert_keeps(
            r#"{"field": "type", "op": "eq", "value": "order"}"#,
            &[
                (r#"{"type": "order"}"#, true),
                (r#"{"type": "\u006frder"}"#, true),
                (r#"{"type": "Order"}"#, false),
                (r#"{"type": "order "}"#, false),
                (r#"{"type": ["order"]}"#, false),
            ],
        );
        assert_keeps(
            r#"{"field": "x", "op": "eq", "value": null}"#,
            &[
                (r#"{"x": null}"#, true),
                (r#"{"x": 0}"#, false),
                ("{}", false),
            ],
        );
        assert_keeps(
            r#"{"field": "x", "op": "eq", "value": {"a": [1, 2]}}"#,
            &[
                (r#"{"x": {"a": [1.0, 2]}}"#, true),
                (r#"{"x": {"a": [2, 1]}}"#, false),
            ],
        );
    }

    #[test]
    fn ne_is_the_negation_of_eq_and_true_for_a_missing_field() {
        assert_keeps(
            r#"{"field": "status", "op": "ne", "value": "done"}"#,
            &[
                (r#"{"status": "done"}"#, false),
                (r#"{"status": "open"}"#, true),
                (r#"{"status": null}"#, true),
                (r#"{"other": 1}"#, true),
                (r#"{"status": {"done": 1}}"#, true),
            ],
        );
    }

    #[test]
    fn lt_and_gt_order_numbers_or_strings_and_nothing_else() {
        assert_keeps(
            r#"{"field": "amount", "op": "gt", "value": 100}"#,
            &[
                (r#"{"amount": 100.5}"#, true),
                (r#"{"amount": 1e3}"#, true),
                (r#"{"amount": 100}"#, false),
                (r#"{"amount": 99}"#, false),
                (r#"{"amount": "500"}"#, false),
                (r#"{"amount": null}"#, false),
                ("{}", false),
            ],
        );
        assert_keeps(
            r#"{"field": "day", "op": "lt", "value": "2024-06-01"}"#,
            &[
                (r#"{"day": "2024-05-31"}"#, true),
                (r#"{"day": "2024-06-01"}"#, false),
                (r#"{"day": "2024-06-02"}"#, false),
                (r#"{"day": 20240101}"#, false),
            ],
        );
    }

    #[test]
    fn contains_matches_substrings_and_array_elements() {
        assert_keeps(
            r#"{"field": "tags", "op": "contains", "value": "vip"}"#,
            &[
                (r#"{"tags": ["new", "vip"]}"#, true),
                (r#"{"tags": "a vip customer"}"#, true),
                (r#"{"tags": ["VIP"]}"#, false),
                (r#"{"tags": []}"#, false),
                (r#"{"tags": {"vip": true}}"#, false),
                ("{}", false),
            ],
        );
        assert_keeps(
            r#"{"field": "ids", "op": "contains", "value": 3}"#,
            &[(r#"{"ids": [1, 3.0]}"#, true), (r#"{"ids": ["3"]}"#, false)],
        );
    }

    #[test]
    fn in_matches_any_element_of_the_array() {
        assert_keeps(
            r#"{"field": "country", "op": "in", "value": ["DE", "FR", 49]}"#,
            &[
                (r#"{"country": "FR"}"#, true),
                (r#"{"country": 49.0}"#, true),
                (r#"{"country": "US"}"#, false),
                (r#"{"country": ["DE"]}"#, false),
                ("{}", false),
            ],
        );
        assert_keeps(
            r#"{"field": "a", "op": "in", "value": []}"#,
            &[(r#"{"a": 1}"#, false)],
        );
    }

    #[test]
    fn exists_counts_null_as_present() {
        assert_keeps(
            r#"{"field": "user.email", "op": "exists"}"#,
            &[
                (r#"{"user": {"email": "a@b.c"}}"#, true),
                (r#"{"user": {"email": null}}"#, true),
                (r#"{"user": {}}"#, false),
                (r#"{"user": null}"#, false),
                (r#"{"user": "email"}"#, false),
                (r#"{"user": [{"email": 1}]}"#, false),
            ],
        );
    }

    #[test]
    fn dotted_paths_reach_into_nested_objects() {
        assert_keeps(
            r#"{"field": "a.b.c", "op": "eq", "value": true}"#,
            &[
                (r#"{"a": {"x": 1, "b": {"c": true}}}"#, true),
                (r#"{"a": {"b": {"c": false}}}"#, false),
                (r#"{"a": {"b": true}}"#, false),
                (r#"{"a.b.c": true}"#, false),
            ],
        );
    }

    #[test]
    fn all_any_and_not_combine_and_nest() {
        let config = r#"{"all": [
            {"field": "type", "op": "eq", "value": "order"},
            {"any": [
                {"field": "amount", "op": "gt", "value": 1000},
                {"field": "customer.tier", "op": "in", "value": ["gold", "platinum"]}
            ]},
            {"not": {"field": "test", "op": "exists"}}
        ]}"#;
        assert_keeps(
            config,
            &[
                (r#"{"type": "order", "amount": 5000}"#, true),
                (
                    r#"{"type": "order", "amount": 5, "customer": {"tier": "gold"}}"#,
                    true,
                ),
                (
                    r#"{"type": "order", "amount": 5, "customer": {"tier": "tin"}}"#,
                    false,
                ),
                (r#"{"type": "order", "amount": 5000, "test": null}"#, false),
                (r#"{"type": "refund", "amount": 5000}"#, false),
            ],
        );
        assert_keeps(
            r#"{"not": {"field": "a", "op": "eq", "value": 1}}"#,
            &[(r#"{"a": 1}"#, false), (r#"{"a": 2}"#, true), ("{}", true)],
        );
        assert_keeps(
            r#"{"not": {"not": {"field": "a", "op": "gt", "value": 1}}}"#,
            &[(r#"{"a": 2}"#, true), ("{}", false)],
        );
    }

    #[test]
    fn one_field_read_by_several_predicates() {
        assert_keeps(
            r#"{"all": [{"field": "a", "op": "gt", "value": 1}, {"field": "a", "op": "lt", "value": 5},
                        {"field": "a.b", "op": "exists"}]}"#,
            &[(r#"{"a": 3}"#, false), (r#"{"a": {"b": 1}}"#, false)],
        );
        assert_keeps(
            r#"{"any": [{"field": "a", "op": "eq", "value": 3}, {"field": "a.b", "op": "exists"}]}"#,
            &[
                (r#"{"a": 3}"#, true),
                (r#"{"a": {"b": 1}}"#, true),
                (r#"{"a": {}}"#, false),
            ],
        );
    }

    #[test]
    fn values_that_are_not_json_objects_follow_on_non_json() {
        let non_objects: [Option<&[u8]>; 7] = [
            None,
            Some(b""),
            Some(b"not json"),
            Some(b"[1, 2]"),
            Some(b"42"),
            Some(b"{\"a\": \"\xff\"}"),
            Some(b"{\"a\": 1} trailing"),
        ];
        let mut drop = filter(r#"{"field": "a", "op": "ne", "value": 0}"#);
        let mut keep = filter(r#"{"field": "a", "op": "ne", "value": 0, "on_non_json": "keep"}"#);
        let mut explicit_drop =
            filter(r#"{"on_non_json": "drop", "field": "a", "op": "ne", "value": 0}"#);
        for value in non_objects {
            assert!(!drop.keeps(value), "value {value:?}");
            assert!(!explicit_drop.keeps(value), "value {value:?}");
            assert!(keep.keeps(value), "value {value:?}");
        }
        // A JSON object is judged by the predicate either way.
        assert!(!keep.keeps(Some(br#"{"a": 0}"#)));
        assert!(keep.keeps(Some(br#"{"a": 1}"#)));
    }

    #[test]
    fn process_keeps_matching_records_byte_for_byte() {
        let mut filter = filter(r#"{"field": "type", "op": "eq", "value": "order"}"#);
        let order = Record {
            key: Some(b"k1".to_vec()),
            // Spacing and number text are kept: the value is not re-encoded.
            value: Some(br#"{ "type" : "order", "amount": 1.50E2 }"#.to_vec()),
            headers: vec![Header {
                key: "trace".into(),
                value: Some(b"t1".to_vec()),
            }],
            timestamp: 1_700_000_000_000,
            origin: None,
        };
        let refund = Record::from_value(br#"{"type": "refund"}"#.to_vec());
        let tombstone = Record {
            value: None,
            ..order.clone()
        };
        let outputs = filter
            .process(vec![order.clone(), refund, tombstone, order.clone()])
            .expect("filter never fails a batch");
        assert_eq!(
            outputs,
            vec![Output::to_default(order.clone()), Output::to_default(order)]
        );
    }

    #[test]
    fn bad_configs_are_invalid_config_errors_that_show_the_shape() {
        for config in [
            "not json",
            "[]",
            "{}",
            r#"{"field": "a", "op": "eq"}"#,
            r#"{"field": "a", "op": "exists", "value": 1}"#,
            r#"{"field": "a", "op": "in", "value": 1}"#,
            r#"{"field": "a", "op": "in"}"#,
            r#"{"field": "a", "op": "like", "value": 1}"#,
            r#"{"field": "a", "value": 1}"#,
            r#"{"op": "eq", "value": 1}"#,
            r#"{"field": 1, "op": "eq", "value": 1}"#,
            r#"{"field": "a..b", "op": "eq", "value": 1}"#,
            r#"{"field": "", "op": "eq", "value": 1}"#,
            r#"{"field": "a", "op": "eq", "value": 1, "case": "ignore"}"#,
            r#"{"all": []}"#,
            r#"{"any": {"field": "a", "op": "exists"}}"#,
            r#"{"all": [{"field": "a", "op": "exists"}], "any": [{"field": "a", "op": "exists"}]}"#,
            r#"{"not": [{"field": "a", "op": "exists"}]}"#,
            r#"{"all": [{"field": "a", "op": "exists", "on_non_json": "keep"}]}"#,
            r#"{"none": [{"field": "a", "op": "exists"}]}"#,
            r#"{"field": "a", "op": "exists", "on_non_json": "pass"}"#,
            r#"{"on_non_json": "keep"}"#,
        ] {
            let error = Filter::from_config(config).expect_err(config);
            assert_eq!(error.kind, ErrorKind::InvalidConfig, "config {config}");
            assert!(
                error.message.starts_with("filter: config"),
                "{}",
                error.message
            );
        }
        let error = Filter::from_config(
            r#"{"all": [{"field": "a", "op": "exists"}, {"field": "b", "op": "like"}]}"#,
        )
        .expect_err("unknown op");
        assert!(error.message.contains("config.all[1]"), "{}", error.message);
        assert!(error.message.contains("\"like\""), "{}", error.message);
        assert!(
            error.message.contains(r#"{"field": "a.b", "op": "eq""#),
            "{}",
            error.message
        );
    }
}
