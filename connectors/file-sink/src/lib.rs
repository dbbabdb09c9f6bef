//! `file-sink`: the bundled `file` sink connector. It appends each record
//! as one JSON line to a file, so a pipeline's output can be read with
//! ordinary tools (`jq`, `tail -f`) or handed to another program.
//!
//! Config: `{"path": "out/orders.jsonl"}`, relative to the directory of
//! the stage's `files` grant (the host refuses absolute paths and `..`).
//! The line format is in [`encode`].
//!
//! `write` only encodes into memory; `flush` appends what was written with
//! one `files.append`, which syncs the data before it returns, so what the
//! host commits after a flush is on disk. A flush that fails keeps the
//! lines for the next one; a crash replays the batches since the last
//! flush, so a line may appear twice (at-least-once), never be missing.
//! No record is ever refused: every record has a JSON line.

mod encode;

use serde::Deserialize;
use sluice_guest::host::files;
use sluice_guest::{log, Error, Level, Record, Rejected, Sink};

/// The most encoded bytes held between flushes. Past it, `write` appends
/// them at once: memory stays bounded whatever the host's flush interval,
/// and appending early only makes lines durable sooner.
const PENDING_BYTES_MAX: usize = 8 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    path: String,
}

fn parse_config(text: &str) -> Result<Config, Error> {
    let config: Config = serde_json::from_str(text)
        .map_err(|e| Error::invalid_config(format!("file-sink: config: {e}")))?;
    if config.path.is_empty() {
        return Err(Error::invalid_config(
            "file-sink: config: `path` is empty; name a file relative to the directory of the \
             stage's `files` grant",
        ));
    }
    if config.path.starts_with('/') {
        return Err(Error::invalid_config(format!(
            "file-sink: config: `path` {:?} is absolute; it is relative to the directory of the \
             stage's `files` grant (`grants = {{ files = \"DIR\" }}`), e.g. \"out.jsonl\"",
            config.path
        )));
    }
    Ok(config)
}

struct FileSink {
    path: String,
    /// Encoded lines not yet appended, each ending in `\n`.
    pending: Vec<u8>,
}

impl FileSink {
    /// Appends the pending lines; they are dropped only once the append
    /// succeeded.
    fn append_pending(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        files::append(&self.path, &self.pending).map_err(|e| Error {
            kind: e.kind,
            message: format!("file-sink: {}", e.message),
        })?;
        self.pending.clear();
        Ok(())
    }
}

/// How much of the file's end is read at a time to find its last newline.
const TAIL_CHUNK_BYTES: u32 = 64 << 10;

/// A crash in the middle of an append can leave a last line without its
/// newline, which the next line appended would join. Cuts the file back to
/// its last whole line (those records were not flushed, so they are
/// delivered again). A file that ends in a newline, the usual case, costs
/// one read of its last chunk.
fn cut_torn_tail(path: &str) -> Result<(), Error> {
    let size = match files::size(path) {
        Ok(size) => size,
        Err(error) if error.message.starts_with("not found:") => return Ok(()),
        Err(error) => return Err(error),
    };
    let mut end = size;
    let whole = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(u64::from(TAIL_CHUNK_BYTES));
        let chunk = files::read_range(path, start, (end - start) as u32)?;
        if let Some(newline) = chunk.iter().rposition(|b| *b == b'\n') {
            break start + newline as u64 + 1;
        }
        end = start;
    };
    if whole < size {
        log(
            Level::Warn,
            &format!(
                "file-sink: {path:?} ended in {} bytes of a line cut short (a crash during an \
                 append); cut back to its last whole line",
                size - whole
            ),
        );
        files::truncate(path, whole)?;
    }
    Ok(())
}

impl Sink for FileSink {
    fn open(config: &str) -> Result<Self, Error> {
        let config = parse_config(config)?;
        cut_torn_tail(&config.path).map_err(|e| Error {
            kind: e.kind,
            message: format!("file-sink: {}", e.message),
        })?;
        Ok(FileSink {
            path: config.path,
            pending: Vec::new(),
        })
    }

    fn write(&mut self, batch: Vec<Record>) -> Result<Vec<Rejected>, Error> {
        for record in &batch {
            encode::write_line(&mut self.pending, record);
        }
        if self.pending.len() > PENDING_BYTES_MAX {
            self.append_pending()?;
        }
        Ok(Vec::new())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.append_pending()
    }
}

sluice_guest::export_sink!(FileSink);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest::ErrorKind;

    #[test]
    fn config_takes_a_relative_path_only() {
        assert_eq!(
            parse_config(r#"{"path": "out/a.jsonl"}"#).unwrap().path,
            "out/a.jsonl"
        );
        let error = parse_config(r#"{"path": "/tmp/a"}"#).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidConfig);
        assert!(error.message.contains("is absolute"), "{error:?}");
        let error = parse_config(r#"{"path": "a", "format": "jsonl"}"#).unwrap_err();
        assert!(
            error.message.contains("unknown field `format`"),
            "{error:?}"
        );
        assert!(parse_config("{}").is_err());
    }

    #[test]
    fn write_buffers_every_record_without_touching_the_file() {
        // Natively the `files` import panics if called: write must not.
        // (`open` looks at the file's end, so the sink is built directly.)
        let mut sink = FileSink {
            path: "a".into(),
            pending: Vec::new(),
        };
        let rejected = sink
            .write(vec![
                Record::from_value(&b"a"[..]),
                Record::from_value(&b"\xff"[..]),
            ])
            .unwrap();
        assert!(rejected.is_empty());
        let text = String::from_utf8(sink.pending.clone()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
