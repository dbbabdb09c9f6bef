//! Finds the fields a filter reads in one pass over a record value, without
//! building the value.
//!
//! The configured paths form a trie ([`Lookup`]). Reading a value walks its
//! top-level object with `serde_json`: members the trie does not name are
//! skipped (validated, not stored); a named member is kept as the slice of
//! the value's text that holds it (`RawValue`, borrowed). Members of a named
//! nested object are then found by walking that slice the same way. Nothing
//! is allocated per record: the spans live in a buffer reused across
//! records.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A node of the path trie; index 0 is the root (the value itself).
pub type NodeId = usize;

const ROOT: NodeId = 0;

/// The paths a filter reads, and the buffer one read fills.
#[derive(Debug)]
pub struct Lookup {
    /// `children[node]`: the member names under `node`, each with its node.
    children: Vec<Vec<(String, NodeId)>>,
    /// `spans[node]`: where the last read found `node`'s value, as a byte
    /// range of the value's text; `None` when it is absent.
    spans: Vec<Option<Range<usize>>>,
}

impl Lookup {
    pub fn new() -> Self {
        Lookup {
            children: vec![Vec::new()],
            spans: vec![None],
        }
    }

    /// Adds a path (at least one segment) and returns its node. Adding the
    /// same path twice returns the same node.
    pub fn insert(&mut self, path: &[String]) -> NodeId {
        assert!(!path.is_empty(), "a path names at least one member");
        let mut node = ROOT;
        for segment in path {
            node = match self.children[node].iter().find(|(name, _)| name == segment) {
                Some(&(_, child)) => child,
                None => {
                    let child = self.children.len();
                    self.children.push(Vec::new());
                    self.spans.push(None);
                    self.children[node].push((segment.clone(), child));
                    child
                }
            };
        }
        node
    }

    /// Reads `value`, which must be a JSON object, and returns its fields.
    /// `None` when it is not: not JSON, trailing bytes, or another kind of
    /// JSON value.
    ///
    /// Members the trie does not name are checked for form only: a lone
    /// surrogate escape (`"\ud800"`) in their strings is not noticed, and
    /// their nesting depth is not limited (`serde_json` skips iteratively,
    /// so depth costs no stack).
    pub fn read<'a, 'v>(&'a mut self, value: &'v str) -> Option<Fields<'a, 'v>> {
        self.spans.fill(None);
        self.walk(ROOT, value, value).ok()?;
        Some(Fields {
            spans: &self.spans,
            value,
        })
    }

    /// Walks the object `text` (a slice of `whole`) for the members under
    /// `node`, then into each found member that has members to find.
    fn walk(&mut self, node: NodeId, whole: &str, text: &str) -> Result<(), serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        deserializer.deserialize_map(Members {
            children: &self.children[node],
            spans: &mut self.spans,
            whole,
        })?;
        deserializer.end()?;
        for index in 0..self.children[node].len() {
            let child = self.children[node][index].1;
            if self.children[child].is_empty() {
                continue;
            }
            if let Some(span) = self.spans[child].clone() {
                let member = &whole[span];
                if member.starts_with('{') {
                    self.walk(child, whole, member)?;
                }
            }
        }
        Ok(())
    }
}

/// The fields one [`Lookup::read`] found, borrowed from the value.
#[derive(Debug)]
pub struct Fields<'a, 'v> {
    spans: &'a [Option<Range<usize>>],
    value: &'v str,
}

impl<'v> Fields<'_, 'v> {
    /// The JSON text of the field at `node`, if present (`null` counts).
    pub fn get(&self, node: NodeId) -> Option<&'v str> {
        self.spans[node].clone().map(|span| &self.value[span])
    }
}

/// Visits one object: records the spans of the named members, skips the
/// rest. A duplicate member's last occurrence wins, as in `serde_json`.
struct Members<'a> {
    children: &'a [(String, NodeId)],
    spans: &'a mut [Option<Range<usize>>],
    /// The whole value's text: spans are offsets into it.
    whole: &'a str,
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(child) = map.next_key_seed(MemberName(self.children))? {
            match child {
                Some(child) => {
                    let member: &'de RawValue = map.next_value()?;
                    let text = member.get();
                    // `text` borrows from `whole` (the deserializer reads a
                    // slice of it), so the offset is in range.
                    let start = text.as_ptr() as usize - self.whole.as_ptr() as usize;
                    self.spans[child] = Some(start..start + text.len());
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads a member name and says which child it is, if any; an escaped name
/// is compared after unescaping.
struct MemberName<'a>(&'a [(String, NodeId)]);

impl<'de> DeserializeSeed<'de> for MemberName<'_> {
    type Value = Option<NodeId>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for MemberName<'_> {
    type Value = Option<NodeId>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .iter()
            .find(|(child, _)| child == name)
            .map(|&(_, node)| node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn finds_top_level_and_nested_members_as_raw_text() {
        let mut lookup = Lookup::new();
        let id = lookup.insert(&path("id"));
        let number = lookup.insert(&path("card.number"));
        let card = lookup.insert(&path("card"));
        let missing = lookup.insert(&path("card.cvv"));
        let value = r#"{"id": 7, "card": {"number": "41\u0031", "exp": [1, {"x": 2}]}, "z": null}"#;
        let fields = lookup.read(value).expect("an object");
        assert_eq!(fields.get(id), Some("7"));
        assert_eq!(fields.get(number), Some(r#""41\u0031""#));
        assert_eq!(
            fields.get(card),
            Some(r#"{"number": "41\u0031", "exp": [1, {"x": 2}]}"#)
        );
        assert_eq!(fields.get(missing), None);
    }

    #[test]
    fn same_path_twice_is_one_node() {
        let mut lookup = Lookup::new();
        assert_eq!(lookup.insert(&path("a.b")), lookup.insert(&path("a.b")));
        assert_ne!(lookup.insert(&path("a")), lookup.insert(&path("a.b")));
    }

    #[test]
    fn escaped_member_names_match_after_unescaping() {
        let mut lookup = Lookup::new();
        let node = lookup.insert(&path("type"));
        let fields = lookup.read(r#"{"t\u0079pe": "x"}"#).expect("an object");
        assert_eq!(fields.get(node), Some(r#""x""#));
    }

    #[test]
    fn a_duplicate_member_reads_as_its_last_occurrence() {
        let mut lookup = Lookup::new();
        let node = lookup.insert(&path("a.b"));
        let fields = lookup
            .read(r#"{"a": {"b": 1}, "a": {"c": 2}}"#)
            .expect("an object");
        assert_eq!(fields.get(node), None);
        let fields = lookup
            .read(r#"{"a": {"c": 2}, "a": {"b": 3}}"#)
            .expect("an object");
        assert_eq!(fields.get(node), Some("3"));
    }

    #[test]
    fn paths_do_not_enter_arrays_or_scalars() {
        let mut lookup = Lookup::new();
        let node = lookup.insert(&path("a.b"));
        for value in [
            r#"{"a": [{"b": 1}]}"#,
            r#"{"a": "b"}"#,
            r#"{"a": 12}"#,
            r#"{"a": null}"#,
        ] {
            let fields = lookup.read(value).expect("an object");
            assert_eq!(fields.get(node), None, "value {value}");
        }
    }

    #[test]
    fn spans_from_an_earlier_read_are_forgotten() {
        let mut lookup = Lookup::new();
        let node = lookup.insert(&path("a.b"));
        assert!(lookup
            .read(r#"{"a": {"b": 1}}"#)
            .expect("object")
            .get(node)
            .is_some());
        assert_eq!(lookup.read(r#"{"a": 1}"#).expect("object").get(node), None);
    }

    #[test]
    fn anything_but_one_json_object_is_refused() {
        let mut lookup = Lookup::new();
        lookup.insert(&path("a"));
        for value in [
            "",
            "42",
            "-1.5e3",
            "\"a\"",
            "[1]",
            "null",
            "{",
            r#"{"a": 1} x"#,
            r#"{"a": 1}{}"#,
            r#"{"a": 01}"#,
            r#"{"b": [1,]}"#,
            r#"{"b": "\x"}"#,
            "{\"b\": \"\u{1}\"}",
            r#"{"b": NaN}"#,
        ] {
            assert!(lookup.read(value).is_none(), "value {value:?}");
        }
        assert!(lookup.read(" \t\r\n{}\n").is_some());
    }
}
