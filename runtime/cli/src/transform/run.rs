//! `sluice transform run FILE.wasm`: JSON-lines records from standard
//! input, through a transform component in batches, to standard output.
//!
//! Input is streamed: a batch is sent to the guest as soon as it is full,
//! so memory holds one batch (at most [`BATCH_RECORDS_MAX`] records of at
//! most [`LINE_BYTES_MAX`] each) whatever the input size. A batch the guest
//! fails (an error it returns, a trap, its deadline or its memory cap) goes
//! to the dead-letter file, each record with the error; the run goes on,
//! and the host gives the next batch a fresh instance when the failure
//! discarded the old one.
//!
//! The run stops at the first malformed input line, after sending the
//! records read before it, because a line that cannot be read cannot be
//! dead-lettered faithfully either.
//!
//! Guest calls run on a current-thread async runtime (wasmtime's async
//! calls run guests on fibers); reading stdin and writing stdout happen
//! outside it, between batches, so no blocking I/O runs inside the runtime.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sluice_types::{Record, Timestamp};
use sluice_wasm_host::{
    Call, Grants, GuestErrorKind, Output, StageError, StageLimits, TransformInstance,
};

use super::json_lines::{parse_record, write_record};

/// Exit status of a usage or load error: bad flags or config, a component
/// that is refused, a config the guest refuses, a malformed input line.
const EXIT_USAGE: u8 = 2;
/// Exit status when the records of at least one batch were dead-lettered.
const EXIT_DEAD_LETTERED: u8 = 3;
/// Largest `--batch`: one batch is held in memory at a time.
const BATCH_RECORDS_MAX: u64 = 100_000;
/// Longest input line: a record larger than this would not fit a guest's
/// default memory cap anyway.
const LINE_BYTES_MAX: u64 = 64 << 20;

#[derive(Debug, Args)]
#[command(after_help = "Input: one JSON object per line, every field optional:
  {\"key\": ..., \"value\": ..., \"headers\": {\"name\": \"text\" | null}, \"timestamp\": MS}
A key or value that is a JSON object or array is passed on as its exact text; a string as its
UTF-8 bytes; a number or boolean as its text; null or absent means none (a tombstone value).
A missing timestamp is now.

Output: the same form, plus \"target\" for a record the guest sent to a named output. Bytes that
are a JSON object or array are written as that JSON, other UTF-8 bytes as a string, and bytes
that are not UTF-8 as {\"base64\": \"...\"}. A failed batch's records go to --dead-letter, each
with an \"error\" field; without it they are only reported on stderr.

Compiled components are cached in $SLUICE_CACHE_DIR (default $XDG_CACHE_HOME/sluice/wasm or
~/.cache/sluice/wasm).

Exit status: 0 when every record went through; 2 on a usage or load error (bad flags, bad
--config JSON, a component that is refused, a config the component refuses, a malformed input
line); 3 when any record was dead-lettered; 1 on any other error.

Examples:
  echo '{\"value\": {\"email\": \"ada@example.com\"}}' | \\
    sluice transform run target/wasm/mask.wasm --config '{\"fields\": [\"email\"], \"mode\": \"redact\"}'
  sluice transform run route.wasm --dead-letter failed.jsonl < events.jsonl > routed.jsonl")]
pub struct RunArgs {
    /// The transform component to run.
    #[arg(value_name = "FILE.wasm")]
    component: PathBuf,
    /// The component's config, as JSON text, passed to its `init`.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    config: String,
    /// Longest one call into the component (one batch) may run, in ms.
    #[arg(long, value_name = "N", default_value_t = StageLimits::DEFAULT_DEADLINE.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: u64,
    /// Largest linear memory the component may use, in MiB.
    #[arg(long, value_name = "N", default_value_t = (StageLimits::DEFAULT_MEMORY_MAX_BYTES >> 20) as u64,
        value_parser = clap::value_parser!(u64).range(1..=4096))]
    memory_mib: u64,
    /// Write the records of failed batches here, as JSON lines with an
    /// "error" field (the file is truncated first).
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Records per call into the component.
    #[arg(long, value_name = "N", default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(1..=BATCH_RECORDS_MAX))]
    batch: u64,
}

/// An error that exits with [`EXIT_USAGE`] rather than 1.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    match run_stage(args) {
        Err(error) if error.downcast_ref::<Usage>().is_some() => {
            eprintln!("error: {error:#}");
            Ok(ExitCode::from(EXIT_USAGE))
        }
        result => result,
    }
}

fn run_stage(args: RunArgs) -> anyhow::Result<ExitCode> {
    // Checked here, not only by the guest, so a typo is a usage error
    // whatever the component does with it.
    serde_json::from_str::<serde::de::IgnoredAny>(&args.config)
        .map_err(|error| usage(format!("--config is not valid JSON: {error}")))?;
    let dead_letter = match &args.dead_letter {
        Some(path) => Some(BufWriter::new(File::create(path).map_err(|error| {
            usage(format!(
                "cannot create --dead-letter {}: {error}",
                path.display()
            ))
        })?)),
        None => None,
    };

    let engine = super::engine()?;
    let component = engine
        .load_transform(&args.component)
        .map_err(|error| usage(error.to_string()))?;
    let stage = component.name().to_owned();
    let limits = StageLimits {
        memory_max_bytes: (args.memory_mib << 20) as usize,
        deadline: Duration::from_millis(args.timeout_ms),
        ..StageLimits::default()
    };
    let mut instance = TransformInstance::new(component, &stage, limits, Grants::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    if let Err(error) = runtime.block_on(instance.init(&args.config)) {
        let refused_config = matches!(
            error,
            StageError::Guest {
                call: Call::Init,
                kind: GuestErrorKind::InvalidConfig,
                ..
            }
        );
        return Err(if refused_config {
            usage(error.to_string())
        } else {
            anyhow::Error::new(error)
        });
    }

    let mut stage = Stage {
        runtime,
        instance,
        out: BufWriter::new(io::stdout().lock()),
        dead_letter,
        dead_letter_path: args.dead_letter,
        failed_records: 0,
        failed_batches: 0,
    };
    let read = stage.run(io::stdin().lock(), args.batch as usize);
    // Whatever happened, what went through is flushed before reporting.
    stage.out.flush().context("write standard output")?;
    if let Some(file) = &mut stage.dead_letter {
        file.flush().context("write the dead-letter file")?;
    }
    let read = read?;
    if let Some(bad) = read.malformed {
        return Err(usage(bad));
    }
    if stage.failed_records > 0 {
        eprintln!(
            "{} of {} records were not transformed ({} failed batch(es)){}",
            stage.failed_records,
            read.records,
            stage.failed_batches,
            match &stage.dead_letter_path {
                Some(path) => format!("; they are in {}", path.display()),
                None => String::new(),
            }
        );
        return Ok(ExitCode::from(EXIT_DEAD_LETTERED));
    }
    Ok(ExitCode::SUCCESS)
}

/// The stage while it runs: the instance, where its output goes, and
/// what failed so far.
struct Stage<W: Write> {
    runtime: tokio::runtime::Runtime,
    instance: TransformInstance,
    out: W,
    dead_letter: Option<BufWriter<File>>,
    dead_letter_path: Option<PathBuf>,
    failed_records: u64,
    failed_batches: u64,
}

/// What reading the input came to.
struct ReadSummary {
    records: u64,
    /// Why the run stopped early: a malformed line, with its number.
    malformed: Option<String>,
}

/// The records of one batch and the input lines they came from.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    first_line: u64,
    last_line: u64,
}

impl<W: Write> Stage<W> {
    /// Reads lines into batches of `batch_len` and runs each one; stops at
    /// the end of input or at a malformed line.
    fn run(&mut self, input: impl BufRead, batch_len: usize) -> anyhow::Result<ReadSummary> {
        let mut input = input.take(0);
        let mut line = Vec::new();
        let mut line_number = 0u64;
        let mut records = 0u64;
        let mut batch = Batch::default();
        let malformed = loop {
            line.clear();
            // One byte past the cap tells a line at the cap from a longer one.
            input.set_limit(LINE_BYTES_MAX + 1);
            let read = input
                .read_until(b'\n', &mut line)
                .context("read standard input")?;
            if read == 0 {
                break None;
            }
            line_number += 1;
            if line.len() as u64 > LINE_BYTES_MAX {
                break Some(format!(
                    "stdin line {line_number} is longer than {} MiB",
                    LINE_BYTES_MAX >> 20
                ));
            }
            let text = match std::str::from_utf8(&line) {
                Ok(text) => text.trim(),
                Err(error) => {
                    break Some(format!("stdin line {line_number} is not UTF-8: {error}"))
                }
            };
            // Blank lines (a trailing one, say) hold no record.
            if text.is_empty() {
                continue;
            }
            match parse_record(text, Timestamp::now()) {
                Ok(record) => {
                    if batch.records.is_empty() {
                        batch.first_line = line_number;
                    }
                    batch.last_line = line_number;
                    batch.records.push(record);
                    records += 1;
                }
                Err(error) => break Some(format!("stdin line {line_number}: {error}")),
            }
            if batch.records.len() == batch_len {
                self.process(std::mem::take(&mut batch))?;
            }
        };
        if !batch.records.is_empty() {
            self.process(batch)?;
        }
        Ok(ReadSummary { records, malformed })
    }

    /// Runs one batch; writes its output, or dead-letters its records.
    fn process(&mut self, batch: Batch) -> anyhow::Result<()> {
        // Cheap: a record's bytes are shared, not copied. Kept in case the
        // guest fails the batch.
        let input = batch.records.clone();
        match self
            .runtime
            .block_on(self.instance.process_batch(batch.records))
        {
            Ok(outputs) => {
                for Output { record, target } in &outputs {
                    write_record(&mut self.out, record, target.as_deref(), None)
                        .context("write standard output")?;
                }
            }
            Err(error) => {
                let message = error.to_string();
                self.failed_batches += 1;
                self.failed_records += input.len() as u64;
                let lines = if batch.first_line == batch.last_line {
                    format!("stdin line {}", batch.first_line)
                } else {
                    format!("stdin lines {}-{}", batch.first_line, batch.last_line)
                };
                match (&mut self.dead_letter, &self.dead_letter_path) {
                    (Some(file), Some(path)) => {
                        for record in &input {
                            write_record(file, record, None, Some(&message))
                                .with_context(|| format!("write {}", path.display()))?;
                        }
                        eprintln!(
                            "error: {message}\n  the {} record(s) of {lines} were written to {}",
                            input.len(),
                            path.display()
                        );
                    }
                    _ => eprintln!(
                        "error: {message}\n  the {} record(s) of {lines} were dropped (keep them with --dead-letter FILE)",
                        input.len()
                    ),
                }
            }
        }
        Ok(())
    }
}
