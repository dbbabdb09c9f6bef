//! The key-value store behind the `state` import: private to one stage,
//! durable across restarts.
//!
//! [`StateStore`] is what the host calls; the pipeline engine decides where
//! a stage's state lives. [`FileState`] keeps it in one redb database file
//! (ACID, crash-safe: a `set` is durable when it returns); [`MemoryState`]
//! keeps it in memory, for `sluice transform run` and tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use redb::{Database, TableDefinition};

/// Why the state store failed; shown to the guest as `unavailable`.
#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StateError(String);

/// A stage's key-value store.
pub trait StateStore: Send + Sync {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Durable when it returns.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StateError>;
    fn delete(&self, key: &[u8]) -> Result<(), StateError>;
}

/// State kept in memory: lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryState {
    entries: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl StateStore for MemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entries.lock().expect("state lock").get(key).cloned())
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.entries
            .lock()
            .expect("state lock")
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<(), StateError> {
        self.entries.lock().expect("state lock").remove(key);
        Ok(())
    }
}

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");

/// State kept in a redb database file.
pub struct FileState {
    db: Database,
}

impl std::fmt::Debug for FileState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileState").finish_non_exhaustive()
    }
}

fn failed(what: &str, path: Option<&Path>, error: impl std::fmt::Display) -> StateError {
    match path {
        Some(path) => StateError(format!("{what} {}: {error}", path.display())),
        None => StateError(format!("{what}: {error}")),
    }
}

impl FileState {
    /// Opens the database at `path`, creating it (and its directory) when
    /// missing.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| failed("creating the directory of", Some(path), e))?;
        }
        let db = Database::create(path).map_err(|e| failed("opening", Some(path), e))?;
        // Create the table up front so reads of a fresh store find it.
        let txn = db
            .begin_write()
            .map_err(|e| failed("opening", Some(path), e))?;
        txn.open_table(ENTRIES)
            .map_err(|e| failed("opening", Some(path), e))?;
        txn.commit().map_err(|e| failed("opening", Some(path), e))?;
        Ok(Self { db })
    }

    fn write(
        &self,
        apply: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), StateError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| failed("write", None, e))?;
        {
            let mut table = txn
                .open_table(ENTRIES)
                .map_err(|e| failed("write", None, e))?;
            apply(&mut table).map_err(|e| failed("write", None, e))?;
        }
        txn.commit().map_err(|e| failed("commit", None, e))
    }
}

impl StateStore for FileState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let txn = self.db.begin_read().map_err(|e| failed("read", None, e))?;
        let table = txn
            .open_table(ENTRIES)
            .map_err(|e| failed("read", None, e))?;
        let value = table.get(key).map_err(|e| failed("read", None, e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.write(|table| table.insert(key, value).map(drop))
    }

    fn delete(&self, key: &[u8]) -> Result<(), StateError> {
        self.write(|table| table.remove(key).map(drop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn StateStore) {
        assert_eq!(store.get(b"k").unwrap(), None);
        store.set(b"k", b"v1").unwrap();
        store.set(b"k", b"v2").unwrap();
        assert_eq!(store.get(b"k").unwrap(), Some(b"v2".to_vec()));
        store.delete(b"k").unwrap();
        store.delete(b"absent").unwrap();
        assert_eq!(store.get(b"k").unwrap(), None);
    }

    #[test]
    fn memory_state_gets_sets_and_deletes() {
        exercise(&MemoryState::default());
    }

    #[test]
    fn file_state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stage/state.redb");
        exercise(&FileState::open(&path).unwrap());
        FileState::open(&path)
            .unwrap()
            .set(b"offset", b"42")
            .unwrap();
        assert_eq!(
            FileState::open(&path).unwrap().get(b"offset").unwrap(),
            Some(b"42".to_vec())
        );
    }
}
