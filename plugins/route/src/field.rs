//! Finds one field of a record value, by dotted path, as the raw JSON text
//! that holds it, without building the value.
//!
//! Each object on the path is walked with `serde_json`: other members are
//! skipped (validated, not stored), the named one is kept as a borrowed
//! slice (`RawValue`). The whole value is checked to be one JSON object, so
//! `{"type": "order"} garbage` has no fields.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The raw JSON text of the member at `path` (non-empty) in `value`, when
/// `value` is one JSON object and every step but the last names an object.
pub fn find<'v>(value: &'v str, path: &[String]) -> Option<&'v str> {
    let mut object = value;
    let mut found = None;
    for segment in path {
        // `deserialize_map` refuses anything but an object.
        let mut deserializer = serde_json::Deserializer::from_str(object);
        let member = deserializer.deserialize_map(Member(segment)).ok()?;
        deserializer.end().ok()?;
        let member = member?;
        object = member;
        found = Some(member);
    }
    found
}

/// Visits an object for the member named `.0`; a duplicate's last
/// occurrence wins, as in `serde_json`.
struct Member<'a>(&'a str);

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<&'de str>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(matches) = map.next_key_seed(IsName(self.0))? {
            if matches {
                found = Some(map.next_value::<&'de RawValue>()?.get());
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Reads a member name (escapes resolved) and says whether it is `.0`.
struct IsName<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for IsName<'_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for IsName<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<bool, E> {
        Ok(name == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn finds_top_level_and_nested_members() {
        let value = r#"{"type": "order", "meta": {"kind": 1.50, "x": [1]}, "n": null}"#;
        assert_eq!(find(value, &path("type")), Some(r#""order""#));
        assert_eq!(find(value, &path("meta.kind")), Some("1.50"));
        assert_eq!(
            find(value, &path("meta")),
            Some(r#"{"kind": 1.50, "x": [1]}"#)
        );
        assert_eq!(find(value, &path("n")), Some("null"));
        assert_eq!(find(value, &path("missing")), None);
        assert_eq!(find(value, &path("type.x")), None);
        assert_eq!(find(value, &path("meta.x.0")), None);
        assert_eq!(find(r#"{"t\u0079pe": "a"}"#, &path("type")), Some(r#""a""#));
        assert_eq!(find(r#"{"a": 1, "a": 2}"#, &path("a")), Some("2"));
        assert_eq!(find(" {\"a\": 1} \n", &path("a")), Some("1"));
    }

    #[test]
    fn anything_but_one_json_object_has_no_fields() {
        for value in [
            "",
            "42",
            "[{\"a\": 1}]",
            "\"a\"",
            "{\"a\": 1} x",
            "{\"a\": 1,}",
            "{\"a\": 1, \"b\": tru}",
        ] {
            assert_eq!(find(value, &path("a")), None, "value {value:?}");
        }
    }
}
