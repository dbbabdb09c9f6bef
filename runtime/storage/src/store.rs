//! Topics on disk: `DATA/topics/NAME/topic.json` plus one directory per
//! partition, `DATA/topics/NAME/0/`, `.../1/`, each a directory of segments.
//!
//! `topic.json` holds the partition count and the [`LogConfig`]; it is
//! written to a temporary file and renamed, so a crash leaves the old or
//! the new version, never half of one. A topic is deleted by renaming its
//! directory out of the way first, so it disappears atomically.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::partition::Partition;
use crate::writer::sync_dir;

const TOPIC_FILE: &str = "topic.json";

/// What `topic.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicMeta {
    partitions: u32,
    config: LogConfig,
}

/// A topic: its settings and its open partitions.
pub struct Topic {
    pub name: String,
    pub config: LogConfig,
    pub partitions: Vec<Arc<Partition>>,
}

impl Topic {
    /// Partition `id`, if the topic has it.
    pub fn partition(&self, id: i32) -> Option<&Arc<Partition>> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// All topics under one data directory.
pub struct Store {
    root: PathBuf,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
}

/// Checks a topic name the way Kafka does: 1 to 249 characters of
/// `[a-zA-Z0-9._-]`, not `.` or `..`.
///
/// # Errors
/// [`StorageError::InvalidTopicName`] saying what is wrong.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |reason| StorageError::InvalidTopicName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name.len() > 249 {
        return Err(invalid("longer than 249 characters"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not allowed"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "only ASCII letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

impl Store {
    /// Opens every topic under `root/topics`, recovering each partition.
    /// Directories that are not topics are skipped with a warning.
    ///
    /// # Errors
    /// I/O errors, unreadable `topic.json` files, corrupt sealed segments.
    pub fn open(root: &Path) -> Result<Store> {
        let topics_dir = root.join("topics");
        fs::create_dir_all(&topics_dir).map_err(StorageError::io("create", &topics_dir))?;
        let mut topics = BTreeMap::new();
        let entries = fs::read_dir(&topics_dir).map_err(StorageError::io("list", &topics_dir))?;
        for entry in entries {
            let entry = entry.map_err(StorageError::io("list", &topics_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.contains(".deleting-") {
                fs::remove_dir_all(&path).map_err(StorageError::io("remove", &path))?;
                continue;
            }
            if validate_topic_name(&name).is_err() || !path.join(TOPIC_FILE).is_file() {
                warn!(path = %path.display(), "not a topic directory; ignored");
                continue;
            }
            let meta = read_meta(&path)?;
            let topic = open_topic(&path, &name, meta)?;
            topics.insert(name, Arc::new(topic));
        }
        info!(root = %root.display(), topics = topics.len(), "store opened");
        Ok(Store {
            root: root.to_path_buf(),
            topics: RwLock::new(topics),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a topic with `partitions` empty partitions.
    ///
    /// # Errors
    /// [`StorageError::TopicExists`], [`StorageError::InvalidTopicName`],
    /// [`StorageError::InvalidConfig`] for zero partitions, I/O errors.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        config: LogConfig,
    ) -> Result<Arc<Topic>> {
        validate_topic_name(name)?;
        let dir = self.root.join("topics").join(name);
        if partitions == 0 {
            return Err(StorageError::InvalidConfig {
                path: dir,
                reason: "a topic needs at least one partition".into(),
            });
        }
        let mut topics = self.topics.write().expect("topics lock poisoned");
        if topics.contains_key(name) {
            return Err(StorageError::TopicExists { name: name.into() });
        }
        fs::create_dir_all(&dir).map_err(StorageError::io("create", &dir))?;
        let meta = TopicMeta { partitions, config };
        write_meta(&dir, &meta)?;
        let topic = Arc::new(open_topic(&dir, name, meta)?);
        topics.insert(name.to_string(), topic.clone());
        info!(topic = name, partitions, "topic created");
        Ok(topic)
    }

    /// Closes and removes a topic and all its data.
    ///
    /// # Errors
    /// [`StorageError::UnknownTopic`], I/O errors.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let topic = self
            .topics
            .write()
            .expect("topics lock poisoned")
            .remove(name)
            .ok_or_else(|| StorageError::UnknownTopic { name: name.into() })?;
        for partition in &topic.partitions {
            partition.close()?;
        }
        let dir = self.root.join("topics").join(name);
        let doomed = self
            .root
            .join("topics")
            .join(format!("{name}.deleting-{}", std::process::id()));
        fs::rename(&dir, &doomed).map_err(StorageError::io("rename", &dir))?;
        fs::remove_dir_all(&doomed).map_err(StorageError::io("remove", &doomed))?;
        info!(topic = name, "topic deleted");
        Ok(())
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .expect("topics lock poisoned")
            .get(name)
            .cloned()
    }

    /// All topics, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics
            .read()
            .expect("topics lock poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// Closes every partition (fsyncing what was written).
    ///
    /// # Errors
    /// The first close error; the others are still closed.
    pub fn close(&self) -> Result<()> {
        let mut first_error = None;
        for topic in self.topics() {
            for partition in &topic.partitions {
                if let Err(error) = partition.close() {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn read_meta(dir: &Path) -> Result<TopicMeta> {
    let path = dir.join(TOPIC_FILE);
    let text = fs::read_to_string(&path).map_err(StorageError::io("read", &path))?;
    serde_json::from_str(&text).map_err(|e| StorageError::InvalidConfig {
        path,
        reason: e.to_string(),
    })
}

fn write_meta(dir: &Path, meta: &TopicMeta) -> Result<()> {
    let path = dir.join(TOPIC_FILE);
    let temp = dir.join(format!("{TOPIC_FILE}.tmp"));
    let text = serde_json::to_string_pretty(meta).expect("topic metadata serializes");
    fs::write(&temp, text).map_err(StorageError::io("write", &temp))?;
    fs::File::open(&temp)
        .and_then(|f| f.sync_all())
        .map_err(StorageError::io("fsync", &temp))?;
    fs::rename(&temp, &path).map_err(StorageError::io("rename", &temp))?;
    sync_dir(dir)
}

fn open_topic(dir: &Path, name: &str, meta: TopicMeta) -> Result<Topic> {
    let partitions = (0..meta.partitions)
        .map(|p| {
            Partition::open(
                &dir.join(p.to_string()),
                &format!("{name}-{p}"),
                meta.config.clone(),
            )
            .map(Arc::new)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Topic {
        name: name.to_string(),
        config: meta.config,
        partitions,
    })
}
