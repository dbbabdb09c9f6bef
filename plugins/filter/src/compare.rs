//! Compares a field, as the raw JSON text the record holds, with a value
//! from the config.
//!
//! Scalars are compared on the raw text without building a `Value`: a
//! string without escapes is compared in place, a number by its exact
//! decimal value ([`crate::number`]). Only arrays and objects, and strings
//! with escapes, are decoded.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::number;

/// A value from the config, kept in the form it is compared in.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Null,
    Bool(bool),
    /// The number's JSON text (`arbitrary_precision` keeps it as written).
    Number(String),
    String(String),
    /// An array or an object: compared member by member.
    Composite(Value),
}

impl From<Value> for Operand {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Operand::Null,
            Value::Bool(b) => Operand::Bool(b),
            Value::Number(n) => Operand::Number(n.as_str().to_owned()),
            Value::String(s) => Operand::String(s),
            composite => Operand::Composite(composite),
        }
    }
}

/// What kind of JSON value a field's raw text holds, told by its first
/// byte (the text is valid JSON: the lookup checked it).
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

fn kind_of(raw: &str) -> Kind {
    match raw.as_bytes().first() {
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'"') => Kind::String,
        Some(b'[') => Kind::Array,
        Some(b'{') => Kind::Object,
        _ => Kind::Number,
    }
}

/// The content of a JSON string's raw text, escapes resolved; `None` when
/// it cannot be decoded (a lone surrogate escape).
fn decode_string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.get(1..raw.len().saturating_sub(1))?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// `eq`: the field equals the operand. Numbers compare by value (`1` equals
/// `1.0`), strings exactly, arrays element by element, objects by their
/// member sets (order ignored); values of different kinds are unequal.
pub fn equals(raw: &str, operand: &Operand) -> bool {
    match (kind_of(raw), operand) {
        (Kind::Null, Operand::Null) => true,
        (Kind::Bool, Operand::Bool(b)) => raw == if *b { "true" } else { "false" },
        (Kind::Number, Operand::Number(n)) => number::compare(raw, n) == Some(Ordering::Equal),
        (Kind::String, Operand::String(s)) => {
            decode_string(raw).is_some_and(|text| text == s.as_str())
        }
        (Kind::Array | Kind::Object, Operand::Composite(expected)) => {
            serde_json::from_str::<Value>(raw).is_ok_and(|found| values_equal(&found, expected))
        }
        _ => false,
    }
}

/// `lt`/`gt`: how the field orders against the operand when both are
/// numbers (by value) or both strings (by Unicode code point, which is
/// UTF-8 byte order); `None` otherwise.
pub fn order(raw: &str, operand: &Operand) -> Option<Ordering> {
    match (kind_of(raw), operand) {
        (Kind::Number, Operand::Number(n)) => number::compare(raw, n),
        (Kind::String, Operand::String(s)) => {
            decode_string(raw).map(|text| text.as_ref().cmp(s.as_str()))
        }
        _ => None,
    }
}

/// `contains`: a string field contains the operand string, or an array
/// field has an element that [`equals`] the operand.
pub fn contains(raw: &str, operand: &Operand) -> bool {
    match (kind_of(raw), operand) {
        (Kind::String, Operand::String(s)) => {
            decode_string(raw).is_some_and(|text| text.contains(s.as_str()))
        }
        (Kind::Array, _) => {
            let mut deserializer = serde_json::Deserializer::from_str(raw);
            deserializer
                .deserialize_seq(HasElement(operand))
                .unwrap_or(false)
        }
        _ => false,
    }
}

/// Visits an array, telling whether some element [`equals`] the operand;
/// every element is still read, as the deserializer requires.
struct HasElement<'a>(&'a Operand);

impl<'de> Visitor<'de> for HasElement<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(element) = seq.next_element::<&'de RawValue>()? {
            found = found || equals(element.get(), self.0);
        }
        Ok(found)
    }
}

/// Deep equality with numbers compared by value; `Value`'s own `==` would
/// compare number text (with `arbitrary_precision`), making `1 != 1.0`.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            number::compare(x.as_str(), y.as_str()) == Some(Ordering::Equal)
        }
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| values_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => objects_equal(xs, ys),
        _ => a == b,
    }
}

fn objects_equal(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(key, x)| b.get(key).is_some_and(|y| values_equal(x, y)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operand(json: &str) -> Operand {
        Operand::from(serde_json::from_str::<Value>(json).expect("operand JSON"))
    }

    #[test]
    fn equals_compares_each_kind() {
        for (raw, json) in [
            ("null", "null"),
            ("true", "true"),
            ("false", "false"),
            ("1", "1.0"),
            ("-0", "0"),
            ("1e2", "100"),
            (r#""abc""#, r#""abc""#),
            (r#""a\"b\u00e9""#, r#""a\"bé""#),
            (r#""""#, r#""""#),
            ("[1, 2.0, {\"a\": null}]", r#"[1.0, 2, {"a": null}]"#),
            (r#"{"a": 1, "b": [true]}"#, r#"{"b": [true], "a": 1.00}"#),
            ("[]", "[]"),
            ("{}", "{}"),
        ] {
            assert!(equals(raw, &operand(json)), "{raw} eq {json}");
        }
    }

    #[test]
    fn equals_is_false_across_kinds_and_for_different_values() {
        for (raw, json) in [
            ("null", "false"),
            ("true", "false"),
            ("1", "\"1\""),
            (r#""1""#, "1"),
            ("1", "2"),
            (r#""abc""#, r#""ABC""#),
            (r#""abc""#, r#""abc ""#),
            ("[1, 2]", "[2, 1]"),
            ("[1]", "[1, 1]"),
            (r#"{"a": 1}"#, r#"{"a": 1, "b": 2}"#),
            (r#"{"a": 1}"#, r#"{"b": 1}"#),
            ("[1]", "1"),
            ("{}", "[]"),
            (r#""\ud800""#, r#""x""#),
        ] {
            assert!(!equals(raw, &operand(json)), "{raw} ne {json}");
        }
    }

    #[test]
    fn order_compares_numbers_by_value_and_strings_by_code_point() {
        assert_eq!(order("2", &operand("10")), Some(Ordering::Less));
        assert_eq!(order("10.5", &operand("10")), Some(Ordering::Greater));
        assert_eq!(order("1.0", &operand("1")), Some(Ordering::Equal));
        assert_eq!(order(r#""10""#, &operand(r#""2""#)), Some(Ordering::Less));
        assert_eq!(order(r#""b""#, &operand(r#""a""#)), Some(Ordering::Greater));
        assert_eq!(order(r#""Z""#, &operand(r#""a""#)), Some(Ordering::Less));
        assert_eq!(order(r#""é""#, &operand(r#""z""#)), Some(Ordering::Greater));
        assert_eq!(
            order(r#""\u0062""#, &operand(r#""a""#)),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn order_is_none_for_mixed_or_unordered_kinds() {
        for (raw, json) in [
            ("1", "\"1\""),
            ("\"1\"", "1"),
            ("true", "false"),
            ("null", "null"),
            ("[1]", "[0]"),
            ("{}", "{}"),
        ] {
            assert_eq!(order(raw, &operand(json)), None, "{raw} vs {json}");
        }
    }

    #[test]
    fn contains_finds_substrings_and_array_elements() {
        assert!(contains(r#""hello world""#, &operand(r#""lo w""#)));
        assert!(contains(r#""hello""#, &operand(r#""""#)));
        assert!(contains(r#""a\nb""#, &operand(r#""\n""#)));
        assert!(!contains(r#""hello""#, &operand(r#""Hello""#)));
        assert!(contains(r#"[1, "x", 2.0]"#, &operand("2")));
        assert!(contains(r#"[1, "x", 2.0]"#, &operand(r#""x""#)));
        assert!(contains(r#"[[1, 2], {"a": 1}]"#, &operand("[1, 2.0]")));
        assert!(contains(r#"[[1, 2], {"a": 1}]"#, &operand(r#"{"a": 1}"#)));
        assert!(!contains(r#"[1, "x"]"#, &operand(r#""1""#)));
        assert!(!contains("[]", &operand("1")));
        assert!(!contains("12", &operand("1")));
        assert!(!contains(r#""12""#, &operand("1")));
        assert!(!contains(r#"{"a": 1}"#, &operand(r#""a""#)));
    }
}
