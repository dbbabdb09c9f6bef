//! Reads a pipeline file into a [`PipelineSpec`], or says where it is wrong.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Locator};
use crate::spec::PipelineSpec;

/// A parsed pipeline file and what is needed to point into it.
#[derive(Debug)]
pub struct PipelineFile {
    pub path: PathBuf,
    pub text: String,
    pub spec: PipelineSpec,
}

impl PipelineFile {
    /// The pipeline's name: `name`, else the file's stem.
    pub fn name(&self) -> String {
        match &self.spec.name {
            Some(name) => name.get_ref().clone(),
            None => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    pub fn locator(&self) -> Locator<'_> {
        Locator::new(&self.path, &self.text)
    }
}

/// Reads and parses `path`. A syntax error, an unknown key, a missing
/// field or a wrong type is one diagnostic at its position.
pub fn load(path: &Path) -> Result<PipelineFile, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| Diagnostic {
        file: path.to_owned(),
        line: 1,
        column: 1,
        message: format!("cannot read the pipeline file: {e}"),
        hint: None,
    })?;
    parse(path, text)
}

/// Parses `text` as the pipeline file `path`.
pub fn parse(path: &Path, text: String) -> Result<PipelineFile, Diagnostic> {
    match toml::from_str::<PipelineSpec>(&text) {
        Ok(spec) => Ok(PipelineFile {
            path: path.to_owned(),
            text,
            spec,
        }),
        Err(error) => {
            let locator = Locator::new(path, &text);
            let message = error.message().trim().to_owned();
            let hint = hint_for(&message);
            let diagnostic = locator.at(error.span(), message);
            Err(match hint {
                Some(hint) => diagnostic.with_hint(hint),
                None => diagnostic,
            })
        }
    }
}

/// A hint for serde's and toml's messages where one helps.
fn hint_for(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`')?;
        let expected = expected.trim_start_matches(", expected ").trim();
        let names: Vec<&str> = expected
            .split(['`', ',', ' '])
            .filter(|s| !s.is_empty() && *s != "one" && *s != "of" && *s != "or")
            .collect();
        if let Some(close) = crate::closest(field, names.iter().copied()) {
            return Some(format!("did you mean `{close}`?"));
        }
        return Some(format!("the keys allowed here are {expected}"));
    }
    if message.starts_with("missing field `") {
        return Some("see the pipeline file reference in the README".into());
    }
    None
}
