//! The stage's config: parsed with serde, then resolved once into paths
//! split at dots and validated.

use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_guest::Error;

/// The config shape, for error messages.
const SHAPE: &str = r#"{"rename": {"old.path": "new.path", ...}, "drop": ["a.b", ...], "add": {"path": <json>, ...}, "flatten": false | true | {"separator": "_"}}, every key optional"#;

/// What `"flatten": true` joins keys with.
const DEFAULT_SEPARATOR: &str = ".";

/// A dotted path split at its dots: at least one segment, none empty.
pub type Path = Vec<String>;

/// The config table, as the pipeline file writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    rename: Map<String, Value>,
    #[serde(default)]
    drop: Vec<String>,
    #[serde(default)]
    add: Map<String, Value>,
    #[serde(default)]
    flatten: Option<RawFlatten>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawFlatten {
    Switch(bool),
    With(FlattenOptions),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlattenOptions {
    separator: String,
}

/// The validated config: each list in config order.
#[derive(Debug)]
pub struct Resolved {
    pub renames: Vec<(Path, Path)>,
    pub drops: Vec<Path>,
    pub adds: Vec<(Path, Value)>,
    /// The separator, when flattening; never empty.
    pub flatten: Option<String>,
}

impl Resolved {
    /// # Errors
    ///
    /// `invalid-config` when the JSON does not match the shape, a rename
    /// target is not a string, a path has an empty segment, the separator
    /// is empty, or the config changes nothing.
    pub fn parse(config: &str) -> Result<Self, Error> {
        let raw: Raw = serde_json::from_str(config).map_err(|error| {
            Error::invalid_config(format!(
                "reshape: config {config:?} is not {SHAPE}: {error}"
            ))
        })?;
        let mut renames = Vec::with_capacity(raw.rename.len());
        for (from, to) in &raw.rename {
            let Value::String(to) = to else {
                return Err(Error::invalid_config(format!(
                    "reshape: config.rename[{from:?}] is {to}; a rename maps a path to a new path string, \
                     e.g. {{\"user.mail\": \"email\"}}"
                )));
            };
            renames.push((path(from, "rename")?, path(to, "rename")?));
        }
        let drops = raw
            .drop
            .iter()
            .map(|field| path(field, "drop"))
            .collect::<Result<_, _>>()?;
        let adds = raw
            .add
            .into_iter()
            .map(|(field, value)| Ok((path(&field, "add")?, value)))
            .collect::<Result<Vec<_>, Error>>()?;
        let flatten = match raw.flatten {
            None | Some(RawFlatten::Switch(false)) => None,
            Some(RawFlatten::Switch(true)) => Some(DEFAULT_SEPARATOR.to_owned()),
            Some(RawFlatten::With(FlattenOptions { separator })) if separator.is_empty() => {
                return Err(Error::invalid_config(
                    "reshape: config.flatten.separator is empty; use a non-empty string such as \"_\"",
                ))
            }
            Some(RawFlatten::With(FlattenOptions { separator })) => Some(separator),
        };
        let resolved = Resolved {
            renames,
            drops,
            adds,
            flatten,
        };
        if resolved.renames.is_empty()
            && resolved.drops.is_empty()
            && resolved.adds.is_empty()
            && resolved.flatten.is_none()
        {
            return Err(Error::invalid_config(format!(
                "reshape: config {config:?} changes nothing; give at least one of: {SHAPE}"
            )));
        }
        Ok(resolved)
    }
}

/// Splits a dotted path; `key` names the config key it came from.
fn path(text: &str, key: &str) -> Result<Path, Error> {
    let path: Path = text.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(Error::invalid_config(format!(
            "reshape: config.{key} has the path {text:?}, which has an empty segment; \
             write dotted paths like \"card.number\""
        )));
    }
    Ok(path)
}
