//! The settings file of `sluice serve --config FILE`: what is not one
//! pipeline's business but the whole process's.
//!
//! ```toml
//! [backbone]
//! # Run pipelines against this Kafka-compatible cluster instead of the
//! # embedded broker (same as `sluice serve --backbone`).
//! brokers = "host1:9092,host2:9092"
//! ```
//!
//! Unknown keys and wrong types are errors at their line and column, as
//! in pipeline files.

use std::path::Path;

use serde::Deserialize;

use crate::diagnostic::{Diagnostic, Locator};

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub backbone: BackboneSettings,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackboneSettings {
    /// `host:port[,host:port...]`; none runs the embedded broker.
    pub brokers: Option<String>,
}

/// Reads the settings file at `path`.
///
/// # Errors
/// An unreadable file, or a diagnostic at the position of the problem.
pub fn load_settings(path: &Path) -> Result<Settings, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| Diagnostic {
        file: path.to_owned(),
        line: 1,
        column: 1,
        message: format!("cannot read the settings file: {e}"),
        hint: None,
    })?;
    toml::from_str::<Settings>(&text).map_err(|error| {
        Locator::new(path, &text).at(error.span(), error.message().trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_backbone_and_points_at_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("sluice.toml");
        std::fs::write(&good, "[backbone]\nbrokers = \"a:9092,b:9092\"\n").unwrap();
        assert_eq!(
            load_settings(&good).unwrap().backbone.brokers.as_deref(),
            Some("a:9092,b:9092")
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[backbone]\nbrokerz = \"a:9092\"\n").unwrap();
        let error = load_settings(&bad).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}:2:1: unknown field `brokerz`", bad.display())),
            "{error}"
        );
    }
}
