//! Per-topic log settings: segment rolling, retention, cleanup policy and
//! durability.
//!
//! The field names follow Kafka's topic configs (`segment.bytes` is
//! `segment_bytes`), so `--config segment.bytes=1048576` maps one to one;
//! see [`LogConfig::set`]. Defaults live in the one `Default` impl.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What an append promises about durability when it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum FsyncPolicy {
    /// An append is acknowledged only after its bytes are fsync'd. Appends
    /// that arrive while an fsync runs share the next one (group commit).
    /// Survives a power loss. Consumers never see an unsynced record.
    Batch,
    /// Acknowledged once written to the OS; fsync'd at least every
    /// `interval_ms`. A crash of the process loses nothing; a power loss
    /// may lose the last interval.
    Interval { interval_ms: u64 },
    /// Acknowledged once written to the OS; fsync'd only when a segment is
    /// sealed or the partition closes. A process crash loses nothing; a
    /// power loss may lose everything since the last seal.
    Never,
}

impl FsyncPolicy {
    /// Parses `batch`, `never`, `interval` (1 s) or `interval:250` (ms).
    pub fn parse(text: &str) -> Option<FsyncPolicy> {
        match text {
            "batch" => Some(FsyncPolicy::Batch),
            "never" => Some(FsyncPolicy::Never),
            "interval" => Some(FsyncPolicy::Interval { interval_ms: 1000 }),
            other => {
                let ms = other.strip_prefix("interval:")?.parse().ok()?;
                (ms > 0).then_some(FsyncPolicy::Interval { interval_ms: ms })
            }
        }
    }

    /// The text form accepted by [`FsyncPolicy::parse`].
    pub fn to_config_value(self) -> String {
        match self {
            FsyncPolicy::Batch => "batch".into(),
            FsyncPolicy::Never => "never".into(),
            FsyncPolicy::Interval { interval_ms } => format!("interval:{interval_ms}"),
        }
    }
}

/// What happens to old data: deleted by age and size, or compacted by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CleanupPolicy {
    Delete,
    Compact,
}

/// Settings of one topic's partition logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Roll the active segment once it would grow past this many bytes.
    pub segment_bytes: u64,
    /// Roll the active segment once its first batch is this old (ms).
    pub segment_ms: u64,
    /// Delete old sealed segments while the partition is larger than this.
    pub retention_bytes: Option<u64>,
    /// Delete sealed segments whose newest record is older than this (ms).
    pub retention_ms: Option<u64>,
    pub cleanup_policy: CleanupPolicy,
    /// How long compaction keeps a tombstone after its timestamp (ms).
    pub delete_retention_ms: u64,
    /// Bytes of log between two entries of the sparse offset index.
    pub index_interval_bytes: u32,
    pub fsync: FsyncPolicy,
    /// Codec that Sluice's own producers use for this topic (`none`,
    /// `gzip`, `snappy`, `lz4`, `zstd`, or `producer` to keep what the
    /// client chose). Stored batches are never recompressed.
    pub compression: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: None,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            fsync: FsyncPolicy::Batch,
            compression: "producer".into(),
        }
    }
}

/// The Kafka-style config names [`LogConfig::set`] understands.
pub const CONFIG_KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "retention.bytes",
    "retention.ms",
    "cleanup.policy",
    "delete.retention.ms",
    "index.interval.bytes",
    "fsync",
    "compression.type",
];

impl LogConfig {
    /// Sets one setting by its Kafka name (`retention.ms=3600000`).
    /// `-1` for `retention.bytes`/`retention.ms` means unlimited, as in Kafka.
    ///
    /// # Errors
    /// A message naming the key and the accepted values.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn number(key: &str, value: &str) -> Result<u64, String> {
            value
                .parse::<u64>()
                .map_err(|_| format!("{key}: expected a non-negative integer, got {value:?}"))
        }
        fn limit(key: &str, value: &str) -> Result<Option<u64>, String> {
            if value == "-1" {
                Ok(None)
            } else {
                number(key, value).map(Some)
            }
        }
        match key {
            "segment.bytes" => {
                let bytes = number(key, value)?;
                if bytes < 1024 {
                    return Err(format!("{key}: must be at least 1024, got {bytes}"));
                }
                self.segment_bytes = bytes;
            }
            "segment.ms" => self.segment_ms = number(key, value)?.max(1),
            "retention.bytes" => self.retention_bytes = limit(key, value)?,
            "retention.ms" => self.retention_ms = limit(key, value)?,
            "cleanup.policy" => {
                self.cleanup_policy = match value {
                    "delete" => CleanupPolicy::Delete,
                    "compact" => CleanupPolicy::Compact,
                    _ => {
                        return Err(format!(
                            "{key}: expected \"delete\" or \"compact\", got {value:?}"
                        ))
                    }
                }
            }
            "delete.retention.ms" => self.delete_retention_ms = number(key, value)?,
            "index.interval.bytes" => {
                self.index_interval_bytes = u32::try_from(number(key, value)?)
                    .map_err(|_| format!("{key}: too large"))?
                    .max(1)
            }
            "fsync" => {
                self.fsync = FsyncPolicy::parse(value).ok_or_else(|| {
                    format!("{key}: expected \"batch\", \"never\", \"interval\" or \"interval:<ms>\", got {value:?}")
                })?
            }
            "compression.type" => match value {
                "none" | "gzip" | "snappy" | "lz4" | "zstd" | "producer" => {
                    self.compression = value.to_string()
                }
                _ => {
                    return Err(format!(
                        "{key}: expected none, gzip, snappy, lz4, zstd or producer, got {value:?}"
                    ))
                }
            },
            _ => {
                return Err(format!(
                    "unknown config {key:?}; known: {}",
                    CONFIG_KEYS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// Every setting as Kafka-style `(name, value)` pairs, for describe.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let limit = |v: Option<u64>| v.map_or_else(|| "-1".to_string(), |v| v.to_string());
        vec![
            ("segment.bytes", self.segment_bytes.to_string()),
            ("segment.ms", self.segment_ms.to_string()),
            ("retention.bytes", limit(self.retention_bytes)),
            ("retention.ms", limit(self.retention_ms)),
            (
                "cleanup.policy",
                match self.cleanup_policy {
                    CleanupPolicy::Delete => "delete".into(),
                    CleanupPolicy::Compact => "compact".into(),
                },
            ),
            ("delete.retention.ms", self.delete_retention_ms.to_string()),
            (
                "index.interval.bytes",
                self.index_interval_bytes.to_string(),
            ),
            ("fsync", self.fsync.to_config_value()),
            ("compression.type", self.compression.clone()),
        ]
    }

    pub fn segment_age_max(&self) -> Duration {
        Duration::from_millis(self.segment_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_round_trips_through_entries() {
        let mut config = LogConfig::default();
        config.set("retention.ms", "-1").unwrap();
        config.set("cleanup.policy", "compact").unwrap();
        config.set("fsync", "interval:250").unwrap();
        config.set("segment.bytes", "1048576").unwrap();
        let mut again = LogConfig::default();
        for (key, value) in config.entries() {
            again.set(key, &value).unwrap();
        }
        assert_eq!(config, again);
        assert_eq!(again.retention_ms, None);
        assert_eq!(again.fsync, FsyncPolicy::Interval { interval_ms: 250 });
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut config = LogConfig::default();
        let error = config.set("fsync", "sometimes").unwrap_err();
        assert!(error.starts_with("fsync:"), "{error}");
        let error = config.set("retention.bites", "1").unwrap_err();
        assert!(error.contains("unknown config"), "{error}");
        assert!(config.set("segment.bytes", "10").is_err());
    }
}
