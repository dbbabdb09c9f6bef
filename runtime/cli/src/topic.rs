//! `sluice topic create|list|describe|delete`: topics on any
//! Kafka-compatible cluster, through the admin client.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;
use sluice_client::admin::{ConfigSource, NewTopic, TopicDescription};
use sluice_client::Admin;

use crate::client::{block_on, explain, BrokerArgs};
use crate::table::{count, write_fields, Align, Table};

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    #[command(after_help = "Examples:
  sluice topic create orders --partitions 6
  sluice topic create audit --partitions 1 --config retention.ms=86400000 --config cleanup.policy=compact")]
    Create(CreateArgs),
    /// List topics with their partition and record counts.
    List(ListArgs),
    /// Show a topic's partitions (leader, watermarks, records) and configs.
    #[command(after_help = "Configs set on the topic are marked with *.

Example:
  sluice topic describe orders --json | jq '.partitions[].high_watermark'")]
    Describe(DescribeArgs),
    /// Delete a topic and all its records.
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name of the topic.
    name: String,
    /// Number of partitions (records with the same key share one).
    #[arg(long, short = 'p', value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// A topic config, Kafka's name and value; repeat for several
    /// (e.g. retention.ms=86400000, cleanup.policy=compact).
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_config)]
    configs: Vec<(String, String)>,
    /// Copies of each partition (default: the cluster's default).
    #[arg(long, value_name = "N")]
    replication_factor: Option<i16>,
    #[command(flatten)]
    brokers: BrokerArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (one array of topics) instead of a table.
    #[arg(long)]
    json: bool,
    /// Include internal topics such as __consumer_offsets.
    #[arg(long)]
    internal: bool,
    #[command(flatten)]
    brokers: BrokerArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Name of the topic.
    name: String,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    brokers: BrokerArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Name of the topic.
    name: String,
    #[command(flatten)]
    brokers: BrokerArgs,
}

fn parse_config(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

pub fn run(command: TopicCommand) -> anyhow::Result<ExitCode> {
    block_on(async move {
        match command {
            TopicCommand::Create(args) => create(args).await,
            TopicCommand::List(args) => list(args).await,
            TopicCommand::Describe(args) => describe(args).await,
            TopicCommand::Delete(args) => delete(args).await,
        }
    })
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let admin = Admin::new(args.brokers.connect().await?);
    let topic = NewTopic {
        name: args.name.clone(),
        partitions: args.partitions,
        replication_factor: args.replication_factor,
        configs: args.configs,
    };
    admin.create_topic(&topic).await.map_err(explain)?;
    println!(
        "created topic {} with {} partitions",
        args.name, args.partitions
    );
    Ok(ExitCode::SUCCESS)
}

async fn delete(args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let admin = Admin::new(args.brokers.connect().await?);
    admin.delete_topic(&args.name).await.map_err(explain)?;
    println!("deleted topic {}", args.name);
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let admin = Admin::new(args.brokers.connect().await?);
    let topics: Vec<_> = admin
        .list_topics()
        .await
        .map_err(explain)?
        .into_iter()
        .filter(|topic| args.internal || !topic.internal)
        .collect();
    let partitions: Vec<(Arc<str>, i32)> = topics
        .iter()
        .flat_map(|topic| {
            let name: Arc<str> = Arc::from(topic.name.as_str());
            (0..topic.partitions as i32).map(move |p| (name.clone(), p))
        })
        .collect();
    let watermarks = admin.watermarks(&partitions).await.map_err(explain)?;
    let mut records = vec![0i64; topics.len()];
    let mut at = 0;
    for (index, topic) in topics.iter().enumerate() {
        records[index] = watermarks[at..at + topic.partitions]
            .iter()
            .map(|w| w.records())
            .sum();
        at += topic.partitions;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = topics
            .iter()
            .zip(&records)
            .map(|(topic, records)| {
                json!({
                    "name": topic.name,
                    "partitions": topic.partitions,
                    "internal": topic.internal,
                    "records": records,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    if topics.is_empty() {
        writeln!(
            out,
            "no topics yet; create one with `sluice topic create NAME --partitions N`"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("PARTITIONS", Align::Right),
        ("RECORDS", Align::Right),
    ]);
    for (topic, records) in topics.iter().zip(&records) {
        let name = if topic.internal {
            format!("{} (internal)", topic.name)
        } else {
            topic.name.clone()
        };
        table.row(vec![name, topic.partitions.to_string(), count(*records)]);
    }
    table.write(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

async fn describe(args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let admin = Admin::new(args.brokers.connect().await?);
    let description = admin.describe_topic(&args.name).await.map_err(explain)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{:#}", describe_json(&description))?;
    } else {
        write_description(&mut out, &description)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_json(description: &TopicDescription) -> serde_json::Value {
    json!({
        "name": description.name,
        "internal": description.internal,
        "partitions": description.partitions.iter().map(|p| json!({
            "partition": p.partition,
            "leader": p.leader,
            "replicas": p.replicas,
            "isr": p.isr,
            "log_start": p.watermarks.log_start,
            "high_watermark": p.watermarks.high_watermark,
            "records": p.watermarks.records(),
        })).collect::<Vec<_>>(),
        "configs": description.configs.iter().map(|c| json!({
            "name": c.name,
            "value": c.value,
            "source": c.source.name(),
            "default": c.source == ConfigSource::Default,
            "read_only": c.read_only,
            "sensitive": c.sensitive,
        })).collect::<Vec<_>>(),
    })
}

fn write_description(out: &mut impl Write, description: &TopicDescription) -> std::io::Result<()> {
    let records: i64 = description
        .partitions
        .iter()
        .map(|p| p.watermarks.records())
        .sum();
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    write_fields(
        out,
        &[
            ("TOPIC", description.name.clone()),
            ("PARTITIONS", description.partitions.len().to_string()),
            ("RECORDS", count(records)),
            (
                "INTERNAL",
                if description.internal { "yes" } else { "no" }.into(),
            ),
        ],
    )?;
    writeln!(out)?;
    let mut partitions = Table::new(&[
        ("PARTITION", Align::Right),
        ("LEADER", Align::Right),
        ("REPLICAS", Align::Left),
        ("ISR", Align::Left),
        ("LOG-START", Align::Right),
        ("HIGH-WATERMARK", Align::Right),
        ("RECORDS", Align::Right),
    ]);
    for p in &description.partitions {
        partitions.row(vec![
            p.partition.to_string(),
            p.leader.to_string(),
            ids(&p.replicas),
            ids(&p.isr),
            p.watermarks.log_start.to_string(),
            p.watermarks.high_watermark.to_string(),
            count(p.watermarks.records()),
        ]);
    }
    partitions.write(out)?;
    if description.configs.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let mut configs = Table::new(&[
        ("CONFIG", Align::Left),
        ("VALUE", Align::Left),
        ("SOURCE", Align::Left),
    ]);
    let mut marked = false;
    for c in &description.configs {
        let value = match (&c.value, c.sensitive) {
            (_, true) => "(sensitive)".to_string(),
            (Some(value), false) => value.clone(),
            (None, false) => "-".to_string(),
        };
        let name = if c.source == ConfigSource::Topic {
            marked = true;
            format!("{} *", c.name)
        } else {
            c.name.clone()
        };
        configs.row(vec![name, value, c.source.name().to_string()]);
    }
    configs.write(out)?;
    if marked {
        writeln!(out, "\n* set on this topic (not the default)")?;
    }
    Ok(())
}
