//! `sluice produce TOPIC`: one record per line of standard input.
//!
//! Lines are read on a thread of their own (standard input blocks) and
//! handed to the producer in chunks through a bounded channel, so a slow
//! cluster slows the reader down instead of filling memory.

use std::io::BufRead;
use std::process::ExitCode;

use clap::Args;
use sluice_client::{Acks, Compression, Producer, ProducerConfig};
use tokio::sync::mpsc;

use crate::client::{block_on, explain, parse_compression, BrokerArgs};

/// Lines handed over at once, and chunks queued between the reader thread
/// and the producer.
const CHUNK_LINES: usize = 1024;
const CHUNKS_QUEUED: usize = 8;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  echo 'hello' | sluice produce greetings
  printf 'ada:{\"amount\":10}\\ngrace:{\"amount\":12}\\n' | sluice produce orders --key-separator :
  sluice produce orders --partition 0 --acks 1 --compression zstd < events.jsonl")]
pub struct ProduceArgs {
    /// Topic to write to.
    topic: String,
    /// Split each line at the first SEP into key and value; a line
    /// without SEP is an error.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Write every record to this partition (default: by key, or spread
    /// when there is no key).
    #[arg(long, short = 'p', value_name = "N")]
    partition: Option<i32>,
    /// Acknowledgement to wait for: 0 (none), 1 (leader) or all (the
    /// default, which also makes retries idempotent).
    #[arg(long, default_value = "all", value_name = "0|1|all", value_parser = parse_acks)]
    acks: Acks,
    /// Batch compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_name = "CODEC", value_parser = parse_compression)]
    compression: Compression,
    #[command(flatten)]
    brokers: BrokerArgs,
}

fn parse_acks(text: &str) -> Result<Acks, String> {
    Acks::parse(text).ok_or_else(|| "expected 0, 1 or all".to_string())
}

pub fn run(args: ProduceArgs) -> anyhow::Result<ExitCode> {
    let (lines, mut chunks) = mpsc::channel::<std::io::Result<Vec<Vec<u8>>>>(CHUNKS_QUEUED);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || read_lines(lines))?;
    block_on(async move {
        let cluster = args.brokers.connect().await?;
        let config = ProducerConfig {
            acks: args.acks,
            compression: args.compression,
            // As Kafka's own tools do by default: a retried batch is never
            // stored twice. Idempotence needs acks=all.
            idempotent: args.acks == Acks::All,
            ..ProducerConfig::default()
        };
        let producer = Producer::new(cluster, config).map_err(explain)?;
        let separator = args.key_separator.as_deref().map(str::as_bytes);
        let mut line_number = 0u64;
        while let Some(chunk) = chunks.recv().await {
            for line in chunk? {
                line_number += 1;
                let (key, value) = match separator {
                    None => (None, &line[..]),
                    Some(separator) => match split_once(&line, separator) {
                        Some((key, value)) => (Some(key), value),
                        None => anyhow::bail!(
                            "line {line_number} has no key separator {:?}; with --key-separator \
                             every line must be KEY{}VALUE",
                            String::from_utf8_lossy(separator),
                            String::from_utf8_lossy(separator)
                        ),
                    },
                };
                producer
                    .send(&args.topic, args.partition, key, Some(value), &[])
                    .await
                    .map_err(explain)?;
            }
        }
        producer.flush().await.map_err(explain)?;
        let stats = producer.stats();
        if args.acks == Acks::None {
            eprintln!(
                "sent {line_number} records to {} (acks=0: not confirmed)",
                args.topic
            );
        } else {
            eprintln!("produced {} records to {}", stats.records, args.topic);
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Reads standard input line by line (without the line ending, `\n` or
/// `\r\n`) and sends the lines in chunks. Ends at end of input, or when
/// the receiver is gone.
fn read_lines(chunks: mpsc::Sender<std::io::Result<Vec<Vec<u8>>>>) {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                }
                chunk.push(line);
                if chunk.len() == CHUNK_LINES {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_LINES));
                    if chunks.blocking_send(Ok(full)).is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                // The receiver reports it; if it is gone there is no one to tell.
                let _ = chunks.blocking_send(Err(error));
                return;
            }
        }
    }
    if !chunk.is_empty() {
        // As above: a closed receiver has already stopped producing.
        let _ = chunks.blocking_send(Ok(chunk));
    }
}

fn split_once<'a>(line: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if separator.is_empty() {
        return None;
    }
    let at = line
        .windows(separator.len())
        .position(|window| window == separator)?;
    Some((&line[..at], &line[at + separator.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_the_first_separator() {
        assert_eq!(
            split_once(b"k::v::w", b"::"),
            Some((&b"k"[..], &b"v::w"[..]))
        );
        assert_eq!(split_once(b":v", b":"), Some((&b""[..], &b"v"[..])));
        assert_eq!(split_once(b"kv", b":"), None);
    }
}
