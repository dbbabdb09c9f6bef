//! A problem in a pipeline file, at a position: `FILE:LINE:COL: message`,
//! then a hint where one helps.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Turns byte offsets of one file's text into line and column.
#[derive(Debug, Clone)]
pub struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        Self { file, text }
    }

    /// A diagnostic at the start of `span` (the file's start when `None`).
    pub fn at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let offset = span.map_or(0, |s| s.start).min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit_once('\n')
            .map_or(before, |(_, tail)| tail)
            .chars()
            .count()
            + 1;
        Diagnostic {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
            hint: None,
        }
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl Diagnostic {
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_columns() {
        let text = "a = 1\nbé = 2\n";
        let locator = Locator::new(Path::new("p.toml"), text);
        let d = locator.at(Some(0..1), "x");
        assert_eq!((d.line, d.column), (1, 1));
        let d = locator.at(Some(text.find("= 2").unwrap()..0), "x");
        assert_eq!((d.line, d.column), (2, 4));
        assert_eq!(d.with_hint("h").to_string(), "p.toml:2:4: x\n  hint: h");
    }
}
