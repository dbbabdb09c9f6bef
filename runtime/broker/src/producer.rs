//! Idempotent producers: the producer ids InitProducerId hands out, and the
//! [`AppendQueue`] of every partition, which holds the partition's
//! producer sequence state.
//!
//! Producer ids are never reused, even across restarts, or a new producer
//! could be taken for an old one and its batches for duplicates. The
//! allocator persists a high-water mark in `DATA/producer_ids.json` and
//! hands out ids in blocks of [`ID_BLOCK_SIZE`]: the file is rewritten
//! (temp file, fsync, rename, fsync of the directory) before the first id
//! of a block is given out, so a crash can waste the rest of a block but
//! never repeat an id. Every id starts at epoch 0; without transactions
//! nothing bumps it on the broker (the Java client bumps it itself).
//!
//! Sequence state is not persisted: after a restart each partition's queue
//! rebuilds it from its log's tail on first use (see `append_queue`).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sluice_storage::{Partition, StorageError};
use tracing::info;

use crate::append_queue::AppendQueue;

/// Producer ids reserved per write of the id file.
pub const ID_BLOCK_SIZE: i64 = 1000;

const ID_FILE: &str = "producer_ids.json";

/// What `producer_ids.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdFile {
    /// No id at or above this has been handed out.
    next_block_start: i64,
}

/// The ids of the current block.
struct IdBlock {
    next: i64,
    /// Persisted: ids below it may be handed out.
    end: i64,
}

/// Producer ids and per-partition append queues; one per broker.
pub struct ProducerRegistry {
    path: PathBuf,
    /// The first id this process may hand out; lower ids were handed out
    /// by an earlier run, whose sequence state this run may not have.
    first_id_of_run: i64,
    ids: Mutex<IdBlock>,
    /// One queue per partition that has been produced to, by topic name
    /// and partition index. Bounded by the number of partitions.
    queues: Mutex<HashMap<(String, i32), Arc<AppendQueue>>>,
}

impl ProducerRegistry {
    /// Opens the producer id allocator under `data_dir` and reserves the
    /// first block of this run.
    ///
    /// # Errors
    /// I/O errors on the id file, or an id file that does not parse.
    pub fn open(data_dir: &Path) -> Result<ProducerRegistry, StorageError> {
        fs::create_dir_all(data_dir).map_err(StorageError::io("create", data_dir))?;
        let path = data_dir.join(ID_FILE);
        let first_id_of_run = match fs::read_to_string(&path) {
            Ok(text) => {
                let file: IdFile = serde_json::from_str(&text).map_err(|error| StorageError::InvalidConfig {
                    path: path.clone(),
                    reason: format!(
                        "not a producer id file ({error}); restore it, or replace it with {{\"next_block_start\": N}} where N is above every producer id ever handed out"
                    ),
                })?;
                file.next_block_start
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => {
                return Err(StorageError::Io {
                    op: "read",
                    path,
                    source: error,
                })
            }
        };
        let end = first_id_of_run.saturating_add(ID_BLOCK_SIZE);
        write_id_file(&path, end)?;
        info!(first_id = first_id_of_run, "producer ids reserved");
        Ok(ProducerRegistry {
            path,
            first_id_of_run,
            ids: Mutex::new(IdBlock {
                next: first_id_of_run,
                end,
            }),
            queues: Mutex::new(HashMap::new()),
        })
    }

    /// A producer id never handed out before. Blocking: it may write the
    /// id file (once per [`ID_BLOCK_SIZE`] ids); call from a blocking thread.
    ///
    /// # Errors
    /// I/O errors writing the id file; no id is handed out then.
    pub fn allocate(&self) -> Result<i64, StorageError> {
        let mut ids = self.ids.lock().expect("producer ids lock poisoned");
        if ids.next == ids.end {
            let end =
                ids.end
                    .checked_add(ID_BLOCK_SIZE)
                    .ok_or_else(|| StorageError::InvalidConfig {
                        path: self.path.clone(),
                        reason: "producer ids are exhausted".into(),
                    })?;
            write_id_file(&self.path, end)?;
            ids.end = end;
        }
        let id = ids.next;
        ids.next += 1;
        Ok(id)
    }

    /// True when `producer_id` was handed out before this process started,
    /// so this run may have lost the producer's sequence state.
    pub fn allocated_before_start(&self, producer_id: i64) -> bool {
        producer_id < self.first_id_of_run
    }

    /// The append queue of `topic`/`index`, whose log is `partition`.
    pub fn append_queue(
        &self,
        topic: &str,
        index: i32,
        partition: &Arc<Partition>,
    ) -> Arc<AppendQueue> {
        let mut queues = self.queues.lock().expect("append queues lock poisoned");
        if let Some(queue) = queues.get(&(topic.to_string(), index)) {
            if queue.is_for(partition) {
                return queue.clone();
            }
        }
        // New, or the topic was deleted and created again: drop the queues
        // of partitions that no longer exist.
        queues.retain(|_, queue| queue.is_live());
        let queue = Arc::new(AppendQueue::new(partition));
        queues.insert((topic.to_string(), index), queue.clone());
        queue
    }
}

/// Persists `next_block_start` so that no id below it is handed out again.
fn write_id_file(path: &Path, next_block_start: i64) -> Result<(), StorageError> {
    let temp = path.with_extension("json.tmp");
    let text = serde_json::to_string(&IdFile { next_block_start }).expect("id file serializes");
    fs::write(&temp, text).map_err(StorageError::io("write", &temp))?;
    fs::File::open(&temp)
        .and_then(|file| file.sync_all())
        .map_err(StorageError::io("fsync", &temp))?;
    fs::rename(&temp, path).map_err(StorageError::io("rename", &temp))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(StorageError::io("fsync", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_repeated_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProducerRegistry::open(dir.path()).unwrap();
        let a = first.allocate().unwrap();
        let b = first.allocate().unwrap();
        assert_eq!((a, b), (0, 1));
        assert!(!first.allocated_before_start(b));
        drop(first);
        let second = ProducerRegistry::open(dir.path()).unwrap();
        let c = second.allocate().unwrap();
        assert_eq!(c, ID_BLOCK_SIZE, "the rest of the first block is skipped");
        assert!(second.allocated_before_start(b));
        assert!(!second.allocated_before_start(c));
    }

    #[test]
    fn a_new_block_is_persisted_before_its_first_id() {
        let dir = tempfile::tempdir().unwrap();
        let registry = ProducerRegistry::open(dir.path()).unwrap();
        for expected in 0..=ID_BLOCK_SIZE {
            assert_eq!(registry.allocate().unwrap(), expected);
        }
        let text = fs::read_to_string(dir.path().join(ID_FILE)).unwrap();
        assert_eq!(
            text,
            format!("{{\"next_block_start\":{}}}", 2 * ID_BLOCK_SIZE)
        );
        let reopened = ProducerRegistry::open(dir.path()).unwrap();
        assert_eq!(reopened.allocate().unwrap(), 2 * ID_BLOCK_SIZE);
    }

    #[test]
    fn a_damaged_id_file_stops_the_open() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ID_FILE), "{\"next\": 3}").unwrap();
        let error = ProducerRegistry::open(dir.path()).err().unwrap();
        assert!(error.to_string().contains("producer_ids.json"), "{error}");
    }
}
