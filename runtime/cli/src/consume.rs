//! `sluice consume TOPIC`: print records as they arrive, alone or as a
//! member of a consumer group.
//!
//! Without `--group` every partition (or `--partition`) is read from
//! `--from`. With `--group` partitions are shared with the group's other
//! members, a partition the group has committed resumes there, and the
//! offsets of what was printed are committed after each batch and on exit
//! (Ctrl-C included), so the next run carries on after the last record
//! shown.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use sluice_client::{
    ClientError, Consumer, ConsumerConfig, ConsumerRecord, GroupConfig, GroupConsumer, StartFrom,
};

use crate::client::{block_on, explain, BrokerArgs};
use crate::record_format::{Format, Printer};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice consume orders                          # every record, then wait for more
  sluice consume orders -n 10 --format json      # the first 10, as JSON lines
  sluice consume orders --from latest --format pretty
  sluice consume orders --from @1700000000000    # from a time (ms since the epoch)
  sluice consume orders --group billing          # share partitions, commit offsets")]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Where to start: earliest, latest, an offset, or @TIMESTAMP (ms since
    /// the epoch). With --group it applies to partitions the group has not
    /// committed yet.
    #[arg(long, default_value = "earliest", value_name = "POSITION", value_parser = parse_start)]
    from: StartFrom,
    /// Read as a member of this consumer group: partitions are shared with
    /// the other members and offsets are committed as records are printed.
    #[arg(long, short = 'g', value_name = "GROUP")]
    group: Option<String>,
    /// Stop after COUNT records (default: run until interrupted).
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    count: Option<u64>,
    /// How to print each record.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Value)]
    format: Format,
    /// Read only this partition.
    #[arg(long, short = 'p', value_name = "N", conflicts_with = "group")]
    partition: Option<i32>,
    #[command(flatten)]
    brokers: BrokerArgs,
}

fn parse_start(text: &str) -> Result<StartFrom, String> {
    StartFrom::parse(text)
        .ok_or_else(|| "expected earliest, latest, an offset, or @TIMESTAMP in ms".to_string())
}

/// What records come from.
enum Source {
    Partitions(Box<Consumer>),
    Group(Box<GroupConsumer>),
}

impl Source {
    async fn poll(&mut self, max: usize) -> Result<Vec<ConsumerRecord>, ClientError> {
        match self {
            Source::Partitions(consumer) => consumer.poll_max(max).await,
            Source::Group(group) => group.poll_max(max).await,
        }
    }
}

pub fn run(args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    block_on(consume(args))
}

async fn consume(args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    let cluster = args.brokers.connect().await?;
    let consumer_config = ConsumerConfig {
        reset: match args.from {
            StartFrom::Latest => StartFrom::Latest,
            _ => StartFrom::Earliest,
        },
        ..ConsumerConfig::default()
    };
    let mut source = match &args.group {
        Some(group) => {
            let mut config = GroupConfig::new(group.clone(), vec![args.topic.clone()]);
            config.start = args.from;
            config.consumer = consumer_config;
            // Fail early, and clearly, on a topic that does not exist.
            cluster.topic(&args.topic).await.map_err(explain)?;
            Source::Group(Box::new(
                GroupConsumer::join(cluster, config)
                    .await
                    .map_err(explain)?,
            ))
        }
        None => {
            let mut consumer = Consumer::new(cluster.clone(), consumer_config);
            match args.partition {
                Some(partition) => {
                    let topic = cluster.topic(&args.topic).await.map_err(explain)?;
                    if topic.partition(partition).is_none() {
                        anyhow::bail!(
                            "topic {:?} has {} partitions, so partition {partition} does not exist",
                            args.topic,
                            topic.partitions.len()
                        );
                    }
                    consumer.assign([(Arc::from(args.topic.as_str()), partition, args.from)]);
                }
                None => consumer
                    .assign_topic(&args.topic, args.from)
                    .await
                    .map_err(explain)?,
            }
            Source::Partitions(Box::new(consumer))
        }
    };
    let printer = Printer {
        format: args.format,
        colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut printed = 0u64;
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    let outcome: anyhow::Result<()> = async {
        while args.count.is_none_or(|count| printed < count) {
            let max = args
                .count
                .map_or(usize::MAX, |count| (count - printed) as usize);
            let records = tokio::select! {
                records = source.poll(max) => records.map_err(explain)?,
                _ = &mut interrupted => break,
            };
            if records.is_empty() {
                continue;
            }
            let mut out = std::io::stdout().lock();
            for record in &records {
                printer.write(&mut out, record)?;
            }
            out.flush()?;
            drop(out);
            printed += records.len() as u64;
            if let Source::Group(group) = &mut source {
                group.commit().await.map_err(explain)?;
            }
        }
        Ok(())
    }
    .await;
    if let Source::Group(group) = source {
        let closed = group.close().await.map_err(explain);
        outcome?;
        closed?;
    } else {
        outcome?;
    }
    Ok(ExitCode::SUCCESS)
}
