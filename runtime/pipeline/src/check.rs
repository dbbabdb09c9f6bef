//! What `sluice pipeline check` finds beyond the schema: a `from` topic no
//! file declares, a connector or plugin that does not exist or exports the
//! wrong world, a grant missing for what a component imports, and values
//! of the wrong form (durations, fsync, `start`, origins, `${env:...}`).
//!
//! Components are found as [`crate::components`] says, bundled ones in
//! [`CheckOptions::components_dir`].
//!
//! A component that imports every grantable interface (componentize-py and
//! componentize-js components import the whole world, used or not) cannot
//! have its needs told from its imports; its missing grants are not
//! reported here and surface as `permission-denied` when it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use sluice_wasm_host::{ComponentInfo, Grant, HttpOrigin, WasmEngine, World};
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::load::{load, PipelineFile};
use crate::spec::{GrantsSpec, InlineTransformSpec};

/// Where bundled components are found.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub components_dir: PathBuf,
}

/// Checks the files as one set (a `from` topic may be declared by another
/// file of the set). Returns every problem found, in file order.
pub fn check_files(
    paths: &[PathBuf],
    options: &CheckOptions,
    engine: &WasmEngine,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        match load(path) {
            Ok(file) => files.push(file),
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    let declared: BTreeSet<String> = files
        .iter()
        .flat_map(|f| f.spec.topics.keys().map(|k| k.get_ref().clone()))
        .collect();
    let mut names: BTreeMap<String, &Path> = BTreeMap::new();
    for file in &files {
        let mut checker = Checker {
            file,
            options,
            engine,
            declared: &declared,
            out: &mut diagnostics,
        };
        checker.check();
        let name = file.name();
        if let Some(first) = names.insert(name.clone(), &file.path) {
            let span = file.spec.name.as_ref().map(Spanned::span);
            diagnostics.push(
                file.locator()
                    .at(
                        span,
                        format!(
                            "a pipeline named `{name}` is already defined by {}",
                            first.display()
                        ),
                    )
                    .with_hint(
                        "pipeline names are unique: set `name = \"...\"` or rename the file",
                    ),
            );
        }
    }
    diagnostics
}

struct Checker<'a> {
    file: &'a PipelineFile,
    options: &'a CheckOptions,
    engine: &'a WasmEngine,
    declared: &'a BTreeSet<String>,
    out: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, span: Option<Range<usize>>, message: String, hint: Option<String>) {
        let diagnostic = self.file.locator().at(span, message);
        self.out.push(match hint {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        });
    }

    fn check(&mut self) {
        let spec = &self.file.spec;
        for (name, topic) in &spec.topics {
            if let Some(partitions) = &topic.partitions {
                if *partitions.get_ref() == 0 {
                    self.error(
                        Some(partitions.span()),
                        format!("topic `{}` needs at least 1 partition", name.get_ref()),
                        None,
                    );
                }
            }
            if let Some(retention) = &topic.retention {
                if parse_duration_ms(retention.get_ref()).is_none() {
                    self.error(
                        Some(retention.span()),
                        format!("retention {:?} is not a duration", retention.get_ref()),
                        Some("write a number and a unit: \"7d\", \"12h\", \"30m\", \"90s\", \"500ms\"".into()),
                    );
                }
            }
            if let Some(fsync) = &topic.fsync {
                let text = fsync.get_ref();
                let ok = text == "batch"
                    || text == "never"
                    || text
                        .strip_prefix("interval:")
                        .is_some_and(|ms| ms.parse::<u64>().is_ok());
                if !ok {
                    self.error(
                        Some(fsync.span()),
                        format!("fsync {text:?} is not batch, never or interval:<ms>"),
                        None,
                    );
                }
            }
        }
        for (name, source) in &spec.sources {
            let stage = format!("sources.{}", name.get_ref());
            self.check_component(
                &stage,
                &source.connector,
                World::Source,
                source.grants.as_ref(),
            );
            self.check_grants(source.grants.as_ref());
            self.check_config(source.config.as_ref());
        }
        for (name, transform) in &spec.transforms {
            let stage = format!("transforms.{}", name.get_ref());
            self.check_from(&transform.from);
            self.check_component(
                &stage,
                &transform.plugin,
                World::Transform,
                transform.grants.as_ref(),
            );
            self.check_grants(transform.grants.as_ref());
            self.check_config(transform.config.as_ref());
        }
        for (name, sink) in &spec.sinks {
            let stage = format!("sinks.{}", name.get_ref());
            self.check_from(&sink.from);
            if let Some(start) = &sink.start {
                let text = start.get_ref();
                let ok = crate::plan::Start::parse(text).is_some();
                if !ok {
                    self.error(
                        Some(start.span()),
                        format!("start {text:?} is not earliest, latest or @TIMESTAMP"),
                        Some("`@1795442292910` (ms since the epoch) or `@2026-11-23T10:00:00Z` starts at the first record at or after that time".into()),
                    );
                }
            }
            for (index, inline) in sink.transforms.iter().enumerate() {
                let InlineTransformSpec {
                    plugin,
                    grants,
                    config,
                    ..
                } = inline;
                self.check_component(
                    &format!("{stage}.transforms[{index}]"),
                    plugin,
                    World::Transform,
                    grants.as_ref(),
                );
                self.check_grants(grants.as_ref());
                self.check_config(config.as_ref());
            }
            self.check_component(&stage, &sink.connector, World::Sink, sink.grants.as_ref());
            self.check_grants(sink.grants.as_ref());
            self.check_config(sink.config.as_ref());
        }
    }

    fn check_from(&mut self, from: &Spanned<String>) {
        let topic = from.get_ref();
        if self.declared.contains(topic) {
            return;
        }
        let hint = match crate::closest(topic, self.declared.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("declare it in a pipeline file: [topics.{topic}]"),
        };
        self.error(
            Some(from.span()),
            format!("topic `{topic}` is not declared by any pipeline file"),
            Some(hint),
        );
    }

    /// The component file `name` refers to (see [`crate::components`]).
    fn resolve(&self, name: &str, world: World) -> Result<PathBuf, String> {
        crate::components::resolve(&self.file.path, &self.options.components_dir, name, world)
    }

    fn bundled_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.options.components_dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".wasm"))
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn check_component(
        &mut self,
        stage: &str,
        name: &Spanned<String>,
        world: World,
        grants: Option<&Spanned<GrantsSpec>>,
    ) {
        let span = Some(name.span());
        let path = match self.resolve(name.get_ref(), world) {
            Ok(path) => path,
            Err(message) => {
                let names = self.bundled_names();
                let hint = match crate::closest(name.get_ref(), names.iter().map(String::as_str)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if names.is_empty() => "build the bundled components with `cargo xtask wasm`, or give a path to a .wasm file".into(),
                    None => format!("bundled: {}", names.join(", ")),
                };
                self.error(span, format!("{stage}: {message}"), Some(hint));
                return;
            }
        };
        let info = match self.engine.inspect(&path) {
            Ok(info) => info,
            Err(error) => {
                self.error(span, format!("{stage}: {error}"), None);
                return;
            }
        };
        if !info.contract_matches() {
            self.error(
                span,
                format!(
                    "{stage}: {} was built against {}, this Sluice runs {}",
                    path.display(),
                    info.contract.as_deref().unwrap_or("?"),
                    sluice_wasm_host::CONTRACT
                ),
                Some("rebuild it with the matching SDK".into()),
            );
            return;
        }
        if !info.worlds.contains(&world) {
            let is = info
                .worlds
                .first()
                .map_or("no world of the contract".to_owned(), |w| format!("a {w}"));
            self.error(
                span,
                format!(
                    "{stage}: {} is {is} component, this stage needs a {world} (exporting {})",
                    path.display(),
                    world.exports().join(", ")
                ),
                None,
            );
            return;
        }
        self.check_imports(stage, span, &info, grants);
    }

    fn check_imports(
        &mut self,
        stage: &str,
        span: Option<Range<usize>>,
        info: &ComponentInfo,
        grants: Option<&Spanned<GrantsSpec>>,
    ) {
        if info.grants.len() == Grant::ALL.len() {
            return; // imports everything; see the module doc
        }
        let granted = |grant: Grant| {
            let Some(grants) = grants.map(Spanned::get_ref) else {
                return false;
            };
            match grant {
                Grant::Http => !grants.http.is_empty(),
                Grant::Sql => !grants.sql.is_empty(),
                Grant::Files => grants.files.is_some(),
                Grant::Secrets => !grants.secrets.is_empty(),
                Grant::State => grants.state,
            }
        };
        for grant in &info.grants {
            if !granted(*grant) {
                self.error(
                    span.clone(),
                    format!(
                        "{stage}: the component imports `{}`, which the stage does not grant",
                        grant.key()
                    ),
                    Some(format!("add `{}` to the stage", example(*grant))),
                );
            }
        }
    }

    fn check_grants(&mut self, grants: Option<&Spanned<GrantsSpec>>) {
        let Some(grants) = grants.map(Spanned::get_ref) else {
            return;
        };
        for origin in &grants.http {
            if let Err(message) = HttpOrigin::parse(origin.get_ref()) {
                self.error(Some(origin.span()), message, None);
            }
        }
        for value in grants
            .sql
            .iter()
            .chain(grants.secrets.values())
            .chain(grants.files.iter())
        {
            self.check_env(value.get_ref(), value.span());
        }
    }

    fn check_config(&mut self, config: Option<&Spanned<toml::Table>>) {
        let Some(config) = config else { return };
        let span = config.span();
        let mut strings = Vec::new();
        collect_strings(&toml::Value::Table(config.get_ref().clone()), &mut strings);
        for text in strings {
            self.check_env(&text, span.clone());
        }
    }

    fn check_env(&mut self, text: &str, span: Range<usize>) {
        if let Err(message) = crate::env::references(text) {
            self.error(Some(span), message, None);
        }
    }
}

fn example(grant: Grant) -> &'static str {
    match grant {
        Grant::Secrets => "grants = { secrets = { name = \"${env:NAME}\" } }",
        Grant::State => "grants = { state = true }",
        Grant::Http => "grants = { http = [\"host:port\"] }",
        Grant::Sql => "grants = { sql = [\"${env:PG_DSN}\"] }",
        Grant::Files => "grants = { files = \"/path/to/dir\" }",
    }
}

fn collect_strings(value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        toml::Value::Table(table) => table.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// `"7d"`, `"12h"`, `"30m"`, `"90s"`, `"500ms"`, `"2w"` in milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    number.checked_mul(factor)
}
