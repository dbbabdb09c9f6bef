//! What the demo prints at the end: the sink files as they are on disk,
//! counted line by line, so the numbers are what the sinks wrote rather
//! than what the engine counted.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;

use super::clicks::{Generated, CHECKOUT_PAGE};
use super::LATE_FILE;
use crate::table::count;

/// The sinks' files, in the io dir.
pub const ARCHIVE_FILE: &str = "archive.jsonl";
pub const CHECKOUTS_FILE: &str = "checkouts.jsonl";

/// What the two sink files hold.
#[derive(Debug, Default)]
pub struct Summary {
    pub archive: SinkFile,
    pub checkouts: SinkFile,
    /// What the event writer wrote.
    pub expected: Generated,
    /// Events written when `late-sink.toml` was added.
    pub late_added_after: u64,
}

#[derive(Debug, Default)]
pub struct SinkFile {
    pub lines: u64,
    /// The first two lines.
    head: Vec<String>,
}

impl Summary {
    /// Counts the sinks' lines; a file not yet created holds none.
    pub fn read(io: &Path) -> anyhow::Result<Summary> {
        Ok(Summary {
            archive: SinkFile::read(&io.join(ARCHIVE_FILE))?,
            checkouts: SinkFile::read(&io.join(CHECKOUTS_FILE))?,
            ..Summary::default()
        })
    }

    pub fn print(&self, io: &Path) -> anyhow::Result<()> {
        let generated = count(self.expected.events as i64);
        let checkouts = count(self.expected.checkouts as i64);
        println!();
        for (file, sink, note) in [
            (
                ARCHIVE_FILE,
                &self.archive,
                format!("every click ({generated} generated)"),
            ),
            (
                CHECKOUTS_FILE,
                &self.checkouts,
                format!("the {CHECKOUT_PAGE} clicks ({checkouts} generated)"),
            ),
        ] {
            println!(
                "{}: {} records, {note}",
                io.join(file).display(),
                count(sink.lines as i64)
            );
            for line in &sink.head {
                println!("    {line}");
            }
        }
        let path = io.join(CHECKOUTS_FILE);
        let replayed = clicks_before(&path, self.late_added_after)?;
        println!();
        println!(
            "`email` holds the SHA-256 of the address: the `mask` transform hashed it before \
             the record reached `clicks`, so no sink ever saw an address."
        );
        println!(
            "{LATE_FILE} was added after {} events, and {} of its records are clicks from \
             before then: its new consumer group, with start = \"earliest\", read `clicks` \
             from offset 0, then kept up.",
            count(self.late_added_after as i64),
            count(replayed as i64)
        );
        let duplicates = self.archive.lines.saturating_sub(self.expected.events)
            + self.checkouts.lines.saturating_sub(self.expected.checkouts);
        if duplicates > 0 {
            println!(
                "{duplicates} records were written twice (delivery is at-least-once: a batch \
                 retried after a failure is written again)."
            );
        }
        Ok(())
    }
}

impl SinkFile {
    fn read(path: &Path) -> anyhow::Result<SinkFile> {
        let mut sink = SinkFile::default();
        let Some(lines) = lines(path)? else {
            return Ok(sink);
        };
        for line in lines {
            let line = line.with_context(|| format!("read {}", path.display()))?;
            sink.lines += 1;
            if sink.head.len() < 2 {
                sink.head.push(line);
            }
        }
        Ok(sink)
    }
}

/// The lines of a file; `None` when it does not exist (yet).
fn lines(path: &Path) -> anyhow::Result<Option<std::io::Lines<BufReader<File>>>> {
    match File::open(path) {
        Ok(file) => Ok(Some(BufReader::new(file).lines())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("open {}", path.display())),
    }
}

/// How many lines of a sink file hold a click numbered below `first`
/// (`value.click`, as the event writer numbered them).
fn clicks_before(path: &Path, first: u64) -> anyhow::Result<u64> {
    let mut before = 0;
    for line in lines(path)?.into_iter().flatten() {
        let line = line.with_context(|| format!("read {}", path.display()))?;
        let click = serde_json::from_str::<serde_json::Value>(&line)
            .with_context(|| format!("{}: a line is not JSON: {line}", path.display()))?
            .pointer("/value/click")
            .and_then(serde_json::Value::as_u64);
        before += u64::from(click.is_some_and(|c| c < first));
    }
    Ok(before)
}
