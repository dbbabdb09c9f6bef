//! The edits `reshape` makes to one JSON object, by dotted path: rename,
//! drop, add and flatten. Each returns whether it changed the object.
//!
//! Member order matters (the output keeps it), so members are removed with
//! `shift_remove`, never `remove` (which, with `preserve_order`, swaps the
//! last member into the hole).

use serde_json::{Map, Value};

use crate::config::Path;

type Object = Map<String, Value>;

/// The object at `parents` inside `object`, if every step is a present
/// object.
fn object_at<'a>(object: &'a mut Object, parents: &[String]) -> Option<&'a mut Object> {
    let mut current = object;
    for segment in parents {
        current = current.get_mut(segment)?.as_object_mut()?;
    }
    Some(current)
}

fn value_at<'a>(object: &'a Object, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for segment in parents {
        current = current.get(segment)?.as_object()?;
    }
    current.get(last)
}

/// `drop`: removes the member at `path`, if present.
pub fn remove(object: &mut Object, path: &[String]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    object_at(object, parents)?.shift_remove(last)
}

/// `add`: sets the member at `path` to `value`. An existing member keeps
/// its position; a new one goes last in its object; missing objects on the
/// way are created. When a member on the way is present but not an object,
/// nothing changes (its data is not overwritten) and this returns false.
pub fn insert(object: &mut Object, path: &[String], value: Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = object;
    for segment in parents {
        let next = current
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = next else {
            return false;
        };
        current = next;
    }
    current.insert(last.clone(), value);
    true
}

/// `rename`: moves the member at `from` to `to`.
///
/// Within one object (only the last segment differs) the member keeps its
/// position under the new name, and a member already named `to` is
/// replaced. Into another object it is removed from `from` and added at
/// `to` as [`insert`] does. Nothing changes when `from` is absent, or when
/// `to` runs through a present non-object (other than `from` itself).
pub fn rename(object: &mut Object, from: &Path, to: &Path) -> bool {
    if from == to || value_at(object, from).is_none() {
        return false;
    }
    let (from_last, from_parents) = from.split_last().expect("paths are non-empty");
    let (to_last, to_parents) = to.split_last().expect("paths are non-empty");
    if from_parents == to_parents {
        let parent = object_at(object, from_parents).expect("`from` is present");
        rename_in_place(parent, from_last, to_last);
        return true;
    }
    if !can_insert(object, from, to) {
        return false;
    }
    let value = remove(object, from).expect("`from` is present");
    let inserted = insert(object, to, value);
    assert!(inserted, "can_insert checked the way to `to`");
    true
}

/// Renames the member `from` of `object` to `to` where it stands.
fn rename_in_place(object: &mut Object, from: &str, to: &str) {
    let members = std::mem::take(object);
    for (key, value) in members {
        if key == from {
            object.insert(to.to_owned(), value);
        } else if key != to {
            object.insert(key, value);
        }
    }
}

/// Whether `to` can be reached once `from` is removed: every proper prefix
/// of `to` is absent, an object, or `from` itself (which is about to be
/// removed, so the way below it is created afresh).
fn can_insert(object: &Object, from: &Path, to: &Path) -> bool {
    (1..to.len()).all(|end| {
        let prefix = &to[..end];
        prefix == from.as_slice() || value_at(object, prefix).is_none_or(Value::is_object)
    })
}

/// `flatten`: replaces each non-empty nested object by its members, named
/// by joining the keys on the way with `separator`, depth first, in order.
/// Arrays and empty objects stay values. When two members end up with one
/// name, the later value wins at the earlier position.
pub fn flatten(object: &mut Object, separator: &str) -> bool {
    let nested = |value: &Value| value.as_object().is_some_and(|inner| !inner.is_empty());
    if !object.values().any(nested) {
        return false;
    }
    let members = std::mem::take(object);
    for (key, value) in members {
        push_flat(object, key, value, separator);
    }
    true
}

fn push_flat(out: &mut Object, key: String, value: Value, separator: &str) {
    match value {
        Value::Object(inner) if !inner.is_empty() => {
            for (inner_key, inner_value) in inner {
                push_flat(
                    out,
                    format!("{key}{separator}{inner_key}"),
                    inner_value,
                    separator,
                );
            }
        }
        value => {
            out.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Object {
        serde_json::from_str(json).expect("a JSON object")
    }

    fn path(text: &str) -> Path {
        text.split('.').map(str::to_owned).collect()
    }

    fn text(object: &Object) -> String {
        serde_json::to_string(object).expect("encodes")
    }

    fn renamed(json: &str, from: &str, to: &str) -> (bool, String) {
        let mut object = object(json);
        let changed = rename(&mut object, &path(from), &path(to));
        (changed, text(&object))
    }

    #[test]
    fn rename_within_an_object_keeps_the_position_and_replaces_the_target() {
        assert_eq!(
            renamed(r#"{"a":1,"b":2,"c":3}"#, "b", "x"),
            (true, r#"{"a":1,"x":2,"c":3}"#.into())
        );
        assert_eq!(
            renamed(r#"{"a":1,"b":2,"c":3}"#, "b", "a"),
            (true, r#"{"a":2,"c":3}"#.into())
        );
        assert_eq!(
            renamed(r#"{"a":1,"b":2,"c":3}"#, "b", "c"),
            (true, r#"{"a":1,"c":2}"#.into())
        );
        assert_eq!(
            renamed(r#"{"u":{"m":1,"n":2}}"#, "u.m", "u.mail"),
            (true, r#"{"u":{"mail":1,"n":2}}"#.into())
        );
    }

    #[test]
    fn rename_into_another_object_moves_the_member_last() {
        assert_eq!(
            renamed(
                r#"{"user":{"mail":"m","id":1},"z":0}"#,
                "user.mail",
                "email"
            ),
            (true, r#"{"user":{"id":1},"z":0,"email":"m"}"#.into())
        );
        assert_eq!(
            renamed(r#"{"email":"m","z":0}"#, "email", "contact.email"),
            (true, r#"{"z":0,"contact":{"email":"m"}}"#.into())
        );
        assert_eq!(
            renamed(
                r#"{"email":"m","contact":{"phone":1},"z":0}"#,
                "email",
                "contact.email"
            ),
            (true, r#"{"contact":{"phone":1,"email":"m"},"z":0}"#.into())
        );
        // Into itself: `a` is removed, then created again around its value.
        assert_eq!(
            renamed(r#"{"a":1,"b":2}"#, "a", "a.b"),
            (true, r#"{"b":2,"a":{"b":1}}"#.into())
        );
        // Out of itself: the member replaces its parent.
        assert_eq!(
            renamed(r#"{"a":{"b":1,"c":2}}"#, "a.b", "a"),
            (true, r#"{"a":1}"#.into())
        );
    }

    #[test]
    fn rename_changes_nothing_when_absent_or_blocked() {
        for (json, from, to) in [
            (r#"{"a":1}"#, "x", "y"),
            (r#"{"a":1}"#, "a.b", "c"),
            (r#"{"a":1}"#, "a", "a"),
            (r#"{"a":1,"b":"text"}"#, "a", "b.c"),
            (r#"{"a":1,"b":[{}]}"#, "a", "b.c"),
        ] {
            assert_eq!(
                renamed(json, from, to),
                (false, text(&object(json))),
                "{from} → {to}"
            );
        }
    }

    #[test]
    fn remove_keeps_the_order_of_the_rest() {
        let mut o = object(r#"{"a":1,"b":{"c":2,"d":3},"e":4}"#);
        assert_eq!(remove(&mut o, &path("a")), Some(Value::from(1)));
        assert_eq!(remove(&mut o, &path("b.c")), Some(Value::from(2)));
        assert_eq!(remove(&mut o, &path("b.x")), None);
        assert_eq!(remove(&mut o, &path("e.x")), None);
        assert_eq!(text(&o), r#"{"b":{"d":3},"e":4}"#);
    }

    #[test]
    fn insert_replaces_in_place_appends_new_and_creates_the_way() {
        let mut o = object(r#"{"a":1,"b":2}"#);
        assert!(insert(&mut o, &path("a"), Value::from("x")));
        assert!(insert(&mut o, &path("c.d.e"), Value::Null));
        assert!(insert(&mut o, &path("c.f"), Value::Bool(true)));
        assert_eq!(text(&o), r#"{"a":"x","b":2,"c":{"d":{"e":null},"f":true}}"#);
        assert!(!insert(&mut o, &path("b.x"), Value::Null));
        assert_eq!(text(&o), r#"{"a":"x","b":2,"c":{"d":{"e":null},"f":true}}"#);
    }

    #[test]
    fn flatten_joins_nested_keys_and_keeps_arrays_and_empty_objects() {
        let mut o = object(r#"{"a":{"b":1,"c":{"d":[{"x":1}],"e":{}}},"f":2}"#);
        assert!(flatten(&mut o, "."));
        assert_eq!(text(&o), r#"{"a.b":1,"a.c.d":[{"x":1}],"a.c.e":{},"f":2}"#);
        let mut o = object(r#"{"a":{"b":1},"c":[]}"#);
        assert!(flatten(&mut o, "__"));
        assert_eq!(text(&o), r#"{"a__b":1,"c":[]}"#);
    }

    #[test]
    fn flatten_collisions_keep_the_first_position_and_the_last_value() {
        let mut o = object(r#"{"a.b":1,"x":0,"a":{"b":2}}"#);
        assert!(flatten(&mut o, "."));
        assert_eq!(text(&o), r#"{"a.b":2,"x":0}"#);
    }

    #[test]
    fn flatten_of_a_flat_object_changes_nothing() {
        let mut o = object(r#"{"a":1,"b":{},"c":[{"d":1}]}"#);
        assert!(!flatten(&mut o, "."));
        assert_eq!(text(&o), r#"{"a":1,"b":{},"c":[{"d":1}]}"#);
    }
}
