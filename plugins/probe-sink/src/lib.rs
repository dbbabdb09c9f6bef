//! `probe-sink`: a sink for tests of the host's `sink` world.
//!
//! Config: `{"path": "out.jsonl", "flush_delay_ms": N}` (path relative to
//! the `files` grant; the delay optional). `write` buffers one JSON line
//! per record (`{"value", "topic", "partition", "offset"}`) and rejects
//! records whose value is `reject` with the reason `rejected by request`;
//! `flush` first sleeps `flush_delay_ms` (a slow downstream store), then
//! appends the buffered lines to the file through the `files` import, so
//! nothing reaches the file before a flush.

use serde::Deserialize;
use serde_json::json;
use sluice_guest::host::files;
use sluice_guest::{Error, Record, Rejected, Sink};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    path: String,
    #[serde(default)]
    flush_delay_ms: u64,
}

struct Lines {
    path: String,
    flush_delay: std::time::Duration,
    pending: Vec<String>,
}

impl Sink for Lines {
    fn open(config: &str) -> Result<Self, Error> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| Error::invalid_config(format!("probe-sink: {e}")))?;
        Ok(Lines {
            path: config.path,
            flush_delay: std::time::Duration::from_millis(config.flush_delay_ms),
            pending: Vec::new(),
        })
    }

    fn write(&mut self, batch: Vec<Record>) -> Result<Vec<Rejected>, Error> {
        let mut rejected = Vec::new();
        for (index, record) in batch.into_iter().enumerate() {
            let value =
                String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned();
            if value == "reject" {
                rejected.push(Rejected {
                    index: index as u32,
                    reason: "rejected by request".into(),
                });
                continue;
            }
            let origin = record.origin.as_ref();
            self.pending.push(
                json!({
                    "value": value,
                    "topic": origin.map(|o| o.topic.clone()),
                    "partition": origin.map(|o| o.partition),
                    "offset": origin.map(|o| o.offset),
                })
                .to_string(),
            );
        }
        Ok(rejected)
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        std::thread::sleep(self.flush_delay);
        let mut contents = Vec::new();
        for line in &self.pending {
            contents.extend_from_slice(line.as_bytes());
            contents.push(b'\n');
        }
        files::append(&self.path, &contents)?;
        self.pending.clear();
        Ok(())
    }
}

sluice_guest::export_sink!(Lines);
