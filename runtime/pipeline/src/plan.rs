//! A checked pipeline file turned into what the engine runs: component
//! files found, `${env:NAME}` resolved, config tables as JSON text, grants
//! and limits in the host's types, topics with their Kafka configs.
//!
//! Planning does no I/O beyond looking for component files; it runs after
//! [`crate::check`] passed, so its errors are the few things only the
//! running process can see (an environment variable that is not set).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_wasm_host::{HttpOrigin, Secret, StageLimits, World};
use toml::Spanned;

use crate::check::parse_duration_ms;
use crate::load::PipelineFile;
use crate::spec::{Cleanup, GrantsSpec, LimitsSpec, OnError};

/// One pipeline, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub file: PathBuf,
    pub topics: Vec<TopicPlan>,
    pub sources: Vec<SourcePlan>,
    pub transforms: Vec<TransformPlan>,
    pub sinks: Vec<SinkPlan>,
    /// Every value an `${env:NAME}` reference was replaced with: the
    /// engine blanks them out of errors before they reach status or logs.
    pub secrets: Vec<String>,
}

impl Plan {
    /// The topic dead letters of this pipeline go to.
    pub fn dead_letter_topic(&self) -> String {
        format!("{}.dlq", self.name)
    }
}

/// A topic to create if missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    pub name: String,
    pub partitions: i32,
    /// Kafka config names and values: `retention.ms` → `604800000`.
    pub configs: Vec<(String, String)>,
}

/// What every stage has: a component, its config, grants and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    /// `source:pg`, `transform:clean`, `sink:search`,
    /// `sink:search/transforms[0]`.
    pub id: String,
    /// The name in the pipeline file.
    pub name: String,
    pub component: PathBuf,
    /// The `config` table as JSON text, `${env:...}` resolved.
    pub config_json: String,
    pub grants: GrantsPlan,
    pub limits: StageLimits,
    pub on_error: OnError,
}

/// Grants with their values resolved. Secrets stay wrapped so they never
/// print.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrantsPlan {
    pub http: Vec<HttpOrigin>,
    pub sql: Option<Secret>,
    pub files: Option<PathBuf>,
    pub secrets: BTreeMap<String, Secret>,
    pub state: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourcePlan {
    pub stage: StagePlan,
    pub topic: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransformPlan {
    pub stage: StagePlan,
    pub from: String,
    pub to: String,
    /// Named outputs: output name → topic.
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SinkPlan {
    pub stage: StagePlan,
    pub from: String,
    pub start: Start,
    /// Inline transforms run before the sink, in order.
    pub transforms: Vec<StagePlan>,
}

/// Where a sink without committed offsets starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    /// Milliseconds since the epoch.
    Timestamp(i64),
}

impl Start {
    /// `earliest`, `latest`, `@MILLIS` or `@RFC3339`.
    pub fn parse(text: &str) -> Option<Start> {
        match text {
            "earliest" => Some(Start::Earliest),
            "latest" => Some(Start::Latest),
            other => parse_timestamp(other.strip_prefix('@')?).map(Start::Timestamp),
        }
    }
}

/// Milliseconds since the epoch from `1700000000000` or an RFC 3339 time
/// (`2026-11-23T10:00:00Z`).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let datetime: toml::value::Datetime = text.parse().ok()?;
    let date = datetime.date?;
    let time = datetime.time.unwrap_or(toml::value::Time {
        hour: 0,
        minute: 0,
        second: Some(0),
        nanosecond: Some(0),
    });
    let offset_minutes = match datetime.offset {
        Some(toml::value::Offset::Custom { minutes }) => i64::from(minutes),
        _ => 0,
    };
    let days = days_from_civil(
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let seconds = days * 86_400
        + i64::from(time.hour) * 3600
        + i64::from(time.minute) * 60
        + i64::from(time.second.unwrap_or(0))
        - offset_minutes * 60;
    Some(seconds * 1000 + i64::from(time.nanosecond.unwrap_or(0) / 1_000_000))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Turns a checked file into a plan; `Err` names the stage and what is
/// wrong (never a secret's value).
pub fn plan(
    file: &PipelineFile,
    components_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, String> {
    let spec = &file.spec;
    let name = file.name();
    let planner = Planner {
        file,
        components_dir,
        lookup,
        used: std::cell::RefCell::new(Vec::new()),
    };
    let mut topics = Vec::new();
    for (topic, spec) in &spec.topics {
        let mut configs = Vec::new();
        if let Some(retention) = &spec.retention {
            let ms = parse_duration_ms(retention.get_ref())
                .ok_or_else(|| format!("topic `{}`: bad retention", topic.get_ref()))?;
            configs.push(("retention.ms".into(), ms.to_string()));
        }
        if let Some(bytes) = spec.retention_bytes {
            configs.push(("retention.bytes".into(), bytes.to_string()));
        }
        if let Some(cleanup) = spec.cleanup {
            let policy = match cleanup {
                Cleanup::Delete => "delete",
                Cleanup::Compact => "compact",
            };
            configs.push(("cleanup.policy".into(), policy.into()));
        }
        if let Some(fsync) = &spec.fsync {
            configs.push(("fsync".into(), fsync.get_ref().clone()));
        }
        topics.push(TopicPlan {
            name: topic.get_ref().clone(),
            partitions: spec.partitions.as_ref().map_or(1, |p| *p.get_ref() as i32),
            configs,
        });
    }
    let mut sources = Vec::new();
    for (stage, source) in &spec.sources {
        let stage_name = stage.get_ref();
        sources.push(SourcePlan {
            stage: planner.stage(
                format!("source:{stage_name}"),
                stage_name,
                &source.connector,
                World::Source,
                source.config.as_ref(),
                source.grants.as_ref(),
                source.limits,
                source.on_error,
            )?,
            topic: source.topic.get_ref().clone(),
        });
    }
    let mut transforms = Vec::new();
    for (stage, transform) in &spec.transforms {
        let stage_name = stage.get_ref();
        transforms.push(TransformPlan {
            stage: planner.stage(
                format!("transform:{stage_name}"),
                stage_name,
                &transform.plugin,
                World::Transform,
                transform.config.as_ref(),
                transform.grants.as_ref(),
                transform.limits,
                transform.on_error,
            )?,
            from: transform.from.get_ref().clone(),
            to: transform.to.get_ref().clone(),
            outputs: transform
                .outputs
                .iter()
                .map(|(output, topic)| (output.clone(), topic.get_ref().clone()))
                .collect(),
        });
    }
    let mut sinks = Vec::new();
    for (stage, sink) in &spec.sinks {
        let stage_name = stage.get_ref();
        let start = match &sink.start {
            None => Start::Earliest,
            Some(text) => Start::parse(text.get_ref())
                .ok_or_else(|| format!("sink `{stage_name}`: bad start {:?}", text.get_ref()))?,
        };
        let mut inline = Vec::new();
        for (index, transform) in sink.transforms.iter().enumerate() {
            inline.push(planner.stage(
                format!("sink:{stage_name}/transforms[{index}]"),
                stage_name,
                &transform.plugin,
                World::Transform,
                transform.config.as_ref(),
                transform.grants.as_ref(),
                transform.limits,
                sink.on_error,
            )?);
        }
        sinks.push(SinkPlan {
            stage: planner.stage(
                format!("sink:{stage_name}"),
                stage_name,
                &sink.connector,
                World::Sink,
                sink.config.as_ref(),
                sink.grants.as_ref(),
                sink.limits,
                sink.on_error,
            )?,
            from: sink.from.get_ref().clone(),
            start,
            transforms: inline,
        });
    }
    Ok(Plan {
        name,
        file: file.path.clone(),
        topics,
        sources,
        transforms,
        sinks,
        secrets: planner.used.into_inner(),
    })
}

struct Planner<'a> {
    file: &'a PipelineFile,
    components_dir: &'a Path,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The values `${env:NAME}` references resolved to.
    used: std::cell::RefCell<Vec<String>>,
}

impl Planner<'_> {
    #[allow(clippy::too_many_arguments)]
    fn stage(
        &self,
        id: String,
        name: &str,
        component: &Spanned<String>,
        world: World,
        config: Option<&Spanned<toml::Table>>,
        grants: Option<&Spanned<GrantsSpec>>,
        limits: Option<LimitsSpec>,
        on_error: Option<OnError>,
    ) -> Result<StagePlan, String> {
        let component = crate::components::resolve(
            &self.file.path,
            self.components_dir,
            component.get_ref(),
            world,
        )
        .map_err(|e| format!("{id}: {e}"))?;
        let config_json = match config {
            Some(table) => {
                let mut value = toml_to_json(&toml::Value::Table(table.get_ref().clone()));
                self.resolve_json(&mut value)
                    .map_err(|e| format!("{id}: config: {e}"))?;
                value.to_string()
            }
            None => "{}".to_string(),
        };
        let grants = match grants {
            Some(grants) => self
                .grants(grants.get_ref())
                .map_err(|e| format!("{id}: grants: {e}"))?,
            None => GrantsPlan::default(),
        };
        let defaults = StageLimits::default();
        let limits = limits.unwrap_or_default();
        Ok(StagePlan {
            id,
            name: name.to_string(),
            component,
            config_json,
            grants,
            limits: StageLimits {
                memory_max_bytes: limits
                    .memory_mib
                    .map_or(defaults.memory_max_bytes, |mib| (mib as usize) << 20),
                deadline: limits
                    .timeout_ms
                    .map_or(defaults.deadline, Duration::from_millis),
                ..defaults
            },
            on_error: on_error.unwrap_or_default(),
        })
    }

    fn resolve(&self, text: &str) -> Result<String, String> {
        crate::env::resolve(text, |name| {
            let value = (self.lookup)(name)?;
            self.used.borrow_mut().push(value.clone());
            Some(value)
        })
    }

    fn resolve_json(&self, value: &mut serde_json::Value) -> Result<(), String> {
        match value {
            serde_json::Value::String(text) => *text = self.resolve(text)?,
            serde_json::Value::Array(items) => {
                for item in items {
                    self.resolve_json(item)?;
                }
            }
            serde_json::Value::Object(map) => {
                for item in map.values_mut() {
                    self.resolve_json(item)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn grants(&self, spec: &GrantsSpec) -> Result<GrantsPlan, String> {
        let base = self.file.path.parent().unwrap_or(Path::new("."));
        let mut http = Vec::new();
        for origin in &spec.http {
            http.push(HttpOrigin::parse(&self.resolve(origin.get_ref())?)?);
        }
        let sql = match spec.sql.first() {
            Some(dsn) => Some(Secret::new(self.resolve(dsn.get_ref())?)),
            None => None,
        };
        let files = match &spec.files {
            Some(dir) => Some(base.join(self.resolve(dir.get_ref())?)),
            None => None,
        };
        let mut secrets = BTreeMap::new();
        for (name, value) in &spec.secrets {
            secrets.insert(name.clone(), Secret::new(self.resolve(value.get_ref())?));
        }
        Ok(GrantsPlan {
            http,
            sql,
            files,
            secrets,
            state: spec.state,
        })
    }
}

/// A TOML value as JSON (datetimes become their RFC 3339 text).
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => items.iter().map(toml_to_json).collect(),
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_parse() {
        assert_eq!(Start::parse("earliest"), Some(Start::Earliest));
        assert_eq!(Start::parse("latest"), Some(Start::Latest));
        assert_eq!(
            Start::parse("@1700000000000"),
            Some(Start::Timestamp(1_700_000_000_000))
        );
        assert_eq!(
            Start::parse("@2023-11-14T22:13:20Z"),
            Some(Start::Timestamp(1_700_000_000_000))
        );
        assert_eq!(
            Start::parse("@2023-11-14T23:13:20+01:00"),
            Some(Start::Timestamp(1_700_000_000_000))
        );
        assert_eq!(Start::parse("yesterday"), None);
    }
}
