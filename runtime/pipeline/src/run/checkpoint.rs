//! Source checkpoints on disk: one file per source, replaced atomically
//! (write a temp file, fsync, rename, fsync the directory) only after the
//! records it covers are acknowledged by the log. A crash between the two
//! re-reads a batch (at-least-once), never skips one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where one source's checkpoint lives.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    /// `DIR/<pipeline>/<source>.checkpoint`.
    pub fn new(dir: &Path, pipeline: &str, source: &str) -> CheckpointFile {
        CheckpointFile {
            path: dir.join(pipeline).join(format!("{source}.checkpoint")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved checkpoint; `None` before the first save.
    ///
    /// # Errors
    /// The file exists but cannot be read.
    pub fn load(&self) -> io::Result<Option<Vec<u8>>> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the checkpoint durably.
    ///
    /// # Errors
    /// Any write, fsync or rename failure; the old checkpoint is intact.
    pub fn save(&self, checkpoint: &[u8]) -> io::Result<()> {
        let dir = self.path.parent().expect("checkpoint path has a parent");
        fs::create_dir_all(dir)?;
        let temp = self.path.with_extension("checkpoint.tmp");
        let mut file = fs::File::create(&temp)?;
        file.write_all(checkpoint)?;
        file.sync_all()?;
        fs::rename(&temp, &self.path)?;
        fs::File::open(dir)?.sync_all()
    }
}

/// Where a source's checkpoint lives, and whether this worker may run it.
pub enum Checkpoints {
    /// One worker (the embedded broker): a file on its disk.
    Local(CheckpointFile),
    /// Workers sharing an external cluster: a lease and the checkpoint in
    /// the cluster (see [`super::kafka::KafkaLease`]).
    Leased(super::kafka::KafkaLease),
}

impl Checkpoints {
    /// True while this worker may run the source.
    pub async fn held(&mut self) -> bool {
        match self {
            Checkpoints::Local(_) => true,
            Checkpoints::Leased(lease) => lease.held().await,
        }
    }

    /// # Errors
    /// The checkpoint cannot be read.
    pub fn load(&self) -> Result<Option<Vec<u8>>, String> {
        match self {
            Checkpoints::Local(file) => file
                .load()
                .map_err(|e| format!("reading {}: {e}", file.path().display())),
            Checkpoints::Leased(lease) => lease.checkpoint(),
        }
    }

    /// # Errors
    /// The checkpoint could not be saved (or the lease was lost).
    pub fn save(&self, checkpoint: &[u8]) -> Result<(), String> {
        match self {
            Checkpoints::Local(file) => file
                .save(checkpoint)
                .map_err(|e| format!("saving the checkpoint {}: {e}", file.path().display())),
            Checkpoints::Leased(lease) => lease.save(checkpoint),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path(), "orders", "pg");
        assert_eq!(file.load().unwrap(), None);
        file.save(b"42").unwrap();
        file.save(b"43").unwrap();
        assert_eq!(file.load().unwrap(), Some(b"43".to_vec()));
    }
}
