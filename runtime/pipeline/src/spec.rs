//! The pipeline file's schema, as the README documents it.
//!
//! Every table denies unknown keys, and the values errors may point at are
//! `Spanned`, so a mistake is reported at its line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Default: the file's stem.
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub topics: BTreeMap<Spanned<String>, TopicSpec>,
    #[serde(default)]
    pub sources: BTreeMap<Spanned<String>, SourceSpec>,
    #[serde(default)]
    pub transforms: BTreeMap<Spanned<String>, TransformSpec>,
    #[serde(default)]
    pub sinks: BTreeMap<Spanned<String>, SinkSpec>,
}

/// `[topics.NAME]`: a topic the pipeline needs; created if missing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub partitions: Option<Spanned<u32>>,
    /// A duration: `"7d"`, `"12h"`, `"30m"`, `"1000ms"`.
    pub retention: Option<Spanned<String>>,
    pub retention_bytes: Option<u64>,
    pub cleanup: Option<Cleanup>,
    /// `"batch"`, `"never"` or `"interval:<ms>"`.
    pub fsync: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cleanup {
    Delete,
    Compact,
}

/// `[sources.NAME]`: a source connector writing into a topic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub connector: Spanned<String>,
    pub topic: Spanned<String>,
    #[serde(default)]
    pub config: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub grants: Option<Spanned<GrantsSpec>>,
    #[serde(default)]
    pub limits: Option<LimitsSpec>,
    #[serde(default)]
    pub on_error: Option<OnError>,
}

/// `[transforms.NAME]`: topic → topic through a plugin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformSpec {
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    pub plugin: Spanned<String>,
    /// Named outputs a plugin may route to: output name → topic.
    #[serde(default)]
    pub outputs: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub config: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub grants: Option<Spanned<GrantsSpec>>,
    #[serde(default)]
    pub limits: Option<LimitsSpec>,
    #[serde(default)]
    pub on_error: Option<OnError>,
}

/// `[sinks.NAME]`: a sink connector reading a topic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    pub connector: Spanned<String>,
    pub from: Spanned<String>,
    /// `earliest` (default) | `latest` | `@TIMESTAMP`.
    #[serde(default)]
    pub start: Option<Spanned<String>>,
    /// Inline transforms applied before the sink, in order.
    #[serde(default)]
    pub transforms: Vec<InlineTransformSpec>,
    #[serde(default)]
    pub config: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub grants: Option<Spanned<GrantsSpec>>,
    #[serde(default)]
    pub limits: Option<LimitsSpec>,
    #[serde(default)]
    pub on_error: Option<OnError>,
}

/// `{ plugin = "...", config = { ... } }` in a sink's `transforms`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineTransformSpec {
    pub plugin: Spanned<String>,
    #[serde(default)]
    pub config: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub grants: Option<Spanned<GrantsSpec>>,
    #[serde(default)]
    pub limits: Option<LimitsSpec>,
}

/// `grants = { ... }`: what a stage's component may reach.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsSpec {
    /// `"host:port"` origins.
    #[serde(default)]
    pub http: Vec<Spanned<String>>,
    /// PostgreSQL DSNs (the first is used), usually `"${env:PG_DSN}"`.
    #[serde(default)]
    pub sql: Vec<Spanned<String>>,
    /// A directory.
    pub files: Option<Spanned<String>>,
    /// Secret name → value, usually `"${env:NAME}"`.
    #[serde(default)]
    pub secrets: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub state: bool,
}

/// `limits = { memory_mib = 64, timeout_ms = 2000 }`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub memory_mib: Option<u32>,
    pub timeout_ms: Option<u64>,
}

/// What a stage does with a batch that keeps failing (after retries with
/// backoff for `unavailable` errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Its records go to `<pipeline>.dlq` with the error; the stage goes on.
    #[default]
    DeadLetter,
    /// The stage stops and reports the error.
    Stop,
    /// The records are dropped, counted and logged.
    Skip,
}
