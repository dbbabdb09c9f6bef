//! `route`: sends each record to a named output chosen by one field of its
//! JSON value.
//!
//! Config: `{"field": "type", "routes": {"order": "orders", "refund":
//! "refunds"}, "default": "other" | null}`.
//!
//! `field` is a dotted path into nested objects (arrays are not entered).
//! The field's value is turned into a route key: a string by its content
//! (escapes resolved), a number or `true`/`false` by its JSON text as the
//! record writes it (so `1` and `"1"` both match the key `"1"`, but `1.0`
//! does not). When the key is one of `routes`, the record goes to the output
//! that `routes` names (declared in the pipeline file).
//!
//! Every other record (field missing, `null`, an array or object, a key not
//! in `routes`, or a value that is not a JSON object, tombstones included)
//! is unmatched and goes:
//!
//! - with `"default"` absent: to the stage's default output;
//! - with `"default": "name"`: to the output `name`;
//! - with `"default": null`: nowhere (dropped).
//!
//! Records are never changed: value bytes, key, headers, timestamp and
//! origin pass as they came. The field is found without parsing the value
//! into a `serde_json::Value` ([`field`]).
//!
//! [`Route::target`] is a plain function, tested natively; the `Transform`
//! impl only maps it over the batch.

mod field;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use sluice_guest::{Error, Output, Record, Transform};

/// The config shape, for error messages.
const SHAPE: &str = r#"{"field": "a.b", "routes": {"<value>": "<output>", ...}, "default": "<output>" | null (optional)}"#;

/// The stage's config table, as the pipeline file writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    routes: BTreeMap<String, String>,
    /// `None`: key absent; `Some(None)`: `null`.
    #[serde(default, deserialize_with = "present")]
    default: Option<Option<String>>,
}

/// Tells a present `null` (`Some(None)`) from an absent key (`None`, by
/// `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Where a record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The stage's default output.
    Default,
    /// The stage's output with this name.
    Named(&'a str),
    /// Nowhere.
    Drop,
}

/// A validated config.
#[derive(Debug)]
pub struct Route {
    /// The field's path: at least one segment, none empty.
    path: Vec<String>,
    /// Route key → output name (non-empty).
    routes: BTreeMap<String, String>,
    /// Where unmatched records go.
    unmatched: Unmatched,
}

#[derive(Debug)]
enum Unmatched {
    Default,
    Named(String),
    Drop,
}

impl Route {
    /// Parses and validates the stage's config (JSON text).
    ///
    /// # Errors
    ///
    /// `invalid-config` when the JSON does not match the config shape (the
    /// message shows it), `field` has an empty path segment, `routes` is
    /// empty, or an output name is empty.
    pub fn from_config(config: &str) -> Result<Self, Error> {
        let config: Config = serde_json::from_str(config).map_err(|error| {
            Error::invalid_config(format!("route: config {config:?} is not {SHAPE}: {error}"))
        })?;
        let path: Vec<String> = config.field.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(Error::invalid_config(format!(
                "route: config.field is {:?}, which has an empty path segment; \
                 write a dotted path like \"meta.type\"",
                config.field
            )));
        }
        if config.routes.is_empty() {
            return Err(Error::invalid_config(
                "route: config.routes is empty; map at least one field value to an output, \
                 e.g. {\"order\": \"orders\"}",
            ));
        }
        if let Some((key, _)) = config.routes.iter().find(|(_, output)| output.is_empty()) {
            return Err(Error::invalid_config(format!(
                "route: config.routes[{key:?}] is an empty output name; name an output of the stage"
            )));
        }
        let unmatched = match config.default {
            None => Unmatched::Default,
            Some(None) => Unmatched::Drop,
            Some(Some(output)) if output.is_empty() => {
                return Err(Error::invalid_config(
                    "route: config.default is an empty output name; name an output, \
                     use null to drop unmatched records, or leave it out to keep them on the default output",
                ))
            }
            Some(Some(output)) => Unmatched::Named(output),
        };
        Ok(Route {
            path,
            routes: config.routes,
            unmatched,
        })
    }

    /// Where a record with this value goes (`None` is a tombstone).
    pub fn target(&self, value: Option<&[u8]>) -> Target<'_> {
        let output = value
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| field::find(text, &self.path))
            .and_then(route_key)
            .and_then(|key| self.routes.get(key.as_ref()));
        match (output, &self.unmatched) {
            (Some(output), _) => Target::Named(output),
            (None, Unmatched::Default) => Target::Default,
            (None, Unmatched::Named(output)) => Target::Named(output),
            (None, Unmatched::Drop) => Target::Drop,
        }
    }
}

/// The route key of a field's raw JSON text: a string's content, or the
/// text of a number or boolean; `None` for anything else.
fn route_key(raw: &str) -> Option<Cow<'_, str>> {
    match raw.as_bytes().first()? {
        b'"' => {
            let inner = &raw[1..raw.len() - 1];
            if inner.contains('\\') {
                serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
            } else {
                Some(Cow::Borrowed(inner))
            }
        }
        b't' | b'f' | b'-' | b'0'..=b'9' => Some(Cow::Borrowed(raw)),
        _ => None,
    }
}

impl Transform for Route {
    fn init(config: &str) -> Result<Self, Error> {
        Route::from_config(config)
    }

    fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error> {
        let mut outputs = Vec::with_capacity(batch.len());
        for record in batch {
            match self.target(record.value.as_deref()) {
                Target::Default => outputs.push(Output::to_default(record)),
                Target::Named(output) => outputs.push(Output::to(output, record)),
                Target::Drop => {}
            }
        }
        Ok(outputs)
    }
}

sluice_guest::export_transform!(Route);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest::{ErrorKind, Header};

    const ROUTES: &str = r#""field": "type", "routes": {"order": "orders", "refund": "refunds", "1": "ones", "true": "yes"}"#;

    fn route(config: &str) -> Route {
        Route::from_config(config).unwrap_or_else(|error| panic!("{config}: {}", error.message))
    }

    fn target<'a>(route: &'a Route, value: &str) -> Target<'a> {
        route.target(Some(value.as_bytes()))
    }

    #[test]
    fn strings_route_by_content_numbers_and_booleans_by_text() {
        let r = route(&format!("{{{ROUTES}}}"));
        assert_eq!(
            target(&r, r#"{"type": "order", "n": 1}"#),
            Target::Named("orders")
        );
        assert_eq!(
            target(&r, r#"{"type": "refund"}"#),
            Target::Named("refunds")
        );
        assert_eq!(
            target(&r, r#"{"type": "\u006frder"}"#),
            Target::Named("orders")
        );
        assert_eq!(target(&r, r#"{"type": 1}"#), Target::Named("ones"));
        assert_eq!(target(&r, r#"{"type": "1"}"#), Target::Named("ones"));
        assert_eq!(target(&r, r#"{"type": true}"#), Target::Named("yes"));
        assert_eq!(target(&r, r#"{"type": 1.0}"#), Target::Default);
        assert_eq!(target(&r, r#"{"type": "Order"}"#), Target::Default);
    }

    #[test]
    fn a_dotted_field_reaches_into_nested_objects() {
        let r = route(r#"{"field": "meta.kind", "routes": {"a": "out-a"}}"#);
        assert_eq!(
            target(&r, r#"{"meta": {"kind": "a"}}"#),
            Target::Named("out-a")
        );
        assert_eq!(target(&r, r#"{"meta": [{"kind": "a"}]}"#), Target::Default);
        assert_eq!(target(&r, r#"{"meta.kind": "a"}"#), Target::Default);
    }

    #[test]
    fn unmatched_records_follow_default() {
        let unmatched: [Option<&[u8]>; 9] = [
            Some(br#"{"type": "other"}"#),
            Some(br#"{"kind": "order"}"#),
            Some(br#"{"type": null}"#),
            Some(br#"{"type": ["order"]}"#),
            Some(br#"{"type": {"order": 1}}"#),
            Some(br#"{"type": "order"} trailing"#),
            Some(b"[\"order\"]"),
            Some(b"\xff"),
            None,
        ];
        let absent = route(&format!("{{{ROUTES}}}"));
        let named = route(&format!(r#"{{{ROUTES}, "default": "other"}}"#));
        let dropped = route(&format!(r#"{{{ROUTES}, "default": null}}"#));
        for value in unmatched {
            assert_eq!(absent.target(value), Target::Default, "value {value:?}");
            assert_eq!(
                named.target(value),
                Target::Named("other"),
                "value {value:?}"
            );
            assert_eq!(dropped.target(value), Target::Drop, "value {value:?}");
        }
        assert_eq!(
            dropped.target(Some(br#"{"type": "order"}"#)),
            Target::Named("orders")
        );
    }

    #[test]
    fn process_routes_records_unchanged_and_drops_unmatched_with_null_default() {
        let mut r = route(r#"{"field": "type", "routes": {"order": "orders"}, "default": null}"#);
        let order = Record {
            key: Some(b"k1".to_vec()),
            value: Some(br#"{ "type" : "order", "amount": 1E2 }"#.to_vec()),
            headers: vec![Header {
                key: "trace".into(),
                value: Some(b"t1".to_vec()),
            }],
            timestamp: 1_700_000_000_000,
            origin: None,
        };
        let other = Record::from_value(br#"{"type": "refund"}"#.to_vec());
        let outputs = r
            .process(vec![order.clone(), other.clone(), order.clone()])
            .expect("route never fails a batch");
        assert_eq!(
            outputs,
            vec![
                Output::to("orders", order.clone()),
                Output::to("orders", order.clone())
            ]
        );

        let mut r = route(r#"{"field": "type", "routes": {"order": "orders"}}"#);
        let outputs = r
            .process(vec![other.clone(), order.clone()])
            .expect("route never fails a batch");
        assert_eq!(
            outputs,
            vec![Output::to_default(other), Output::to("orders", order)]
        );
    }

    #[test]
    fn bad_configs_are_invalid_config_errors() {
        for config in [
            "not json",
            "[]",
            "{}",
            r#"{"routes": {"a": "b"}}"#,
            r#"{"field": "type"}"#,
            r#"{"field": "type", "routes": {}}"#,
            r#"{"field": "type", "routes": {"a": ""}}"#,
            r#"{"field": "type", "routes": {"a": 1}}"#,
            r#"{"field": "type", "routes": ["a"]}"#,
            r#"{"field": "a..b", "routes": {"a": "b"}}"#,
            r#"{"field": "", "routes": {"a": "b"}}"#,
            r#"{"field": "type", "routes": {"a": "b"}, "default": ""}"#,
            r#"{"field": "type", "routes": {"a": "b"}, "default": 1}"#,
            r#"{"field": "type", "routes": {"a": "b"}, "drop_unmatched": true}"#,
        ] {
            let error = Route::from_config(config).expect_err(config);
            assert_eq!(error.kind, ErrorKind::InvalidConfig, "config {config}");
            assert!(
                error.message.starts_with("route: config"),
                "{}",
                error.message
            );
        }
        let error = Route::from_config(r#"{"field": "type"}"#).expect_err("no routes");
        assert!(
            error.message.contains(r#"{"field": "a.b", "routes""#),
            "{}",
            error.message
        );
    }
}
