//! `sluice group list|describe`: consumer groups, their members and how
//! far behind they are.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use sluice_client::admin::GroupDescription;
use sluice_client::Admin;

use crate::client::{block_on, explain, BrokerArgs};
use crate::table::{count, write_fields, Align, Table};

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state, members and total lag.
    List(ListArgs),
    /// Show a group's members and assignments, and per partition the
    /// committed offset, the log end and the lag.
    #[command(
        after_help = "Lag is the log end (high watermark) minus the committed offset.

Example:
  sluice group describe billing --json | jq '[.partitions[].lag] | add'"
    )]
    Describe(DescribeArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (one array of groups) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    brokers: BrokerArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The group id.
    group: String,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    brokers: BrokerArgs,
}

pub fn run(command: GroupCommand) -> anyhow::Result<ExitCode> {
    block_on(async move {
        match command {
            GroupCommand::List(args) => list(args).await,
            GroupCommand::Describe(args) => describe(args).await,
        }
    })
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let admin = Admin::new(args.brokers.connect().await?);
    let groups = admin.list_groups().await.map_err(explain)?;
    let mut described = Vec::with_capacity(groups.len());
    for group in &groups {
        described.push(
            admin
                .describe_group(&group.group_id)
                .await
                .map_err(explain)?,
        );
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = described
            .iter()
            .map(|g| {
                json!({
                    "group": g.group_id,
                    "state": g.state,
                    "protocol_type": g.protocol_type,
                    "members": g.members.len(),
                    "lag": g.total_lag(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    if described.is_empty() {
        writeln!(
            out,
            "no consumer groups yet; `sluice consume TOPIC --group NAME` starts one"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        ("GROUP", Align::Left),
        ("STATE", Align::Left),
        ("MEMBERS", Align::Right),
        ("TOPICS", Align::Left),
        ("LAG", Align::Right),
    ]);
    for group in &described {
        let mut topics: Vec<&str> = group.partitions.iter().map(|p| p.topic.as_str()).collect();
        topics.dedup();
        table.row(vec![
            group.group_id.clone(),
            group.state.clone(),
            group.members.len().to_string(),
            topics.join(","),
            count(group.total_lag()),
        ]);
    }
    table.write(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

async fn describe(args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let admin = Admin::new(args.brokers.connect().await?);
    let group = admin.describe_group(&args.group).await.map_err(explain)?;
    if group.state == "Dead" && group.partitions.is_empty() {
        anyhow::bail!(
            "group {:?} does not exist (see `sluice group list`)",
            args.group
        );
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{:#}", describe_json(&group))?;
    } else {
        write_description(&mut out, &group)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn assignment_text(assignment: &std::collections::BTreeMap<String, Vec<i32>>) -> String {
    assignment
        .iter()
        .map(|(topic, partitions)| {
            let partitions: Vec<String> = partitions.iter().map(i32::to_string).collect();
            format!("{topic}: {}", partitions.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_json(group: &GroupDescription) -> serde_json::Value {
    json!({
        "group": group.group_id,
        "state": group.state,
        "protocol_type": group.protocol_type,
        "protocol": group.protocol,
        "lag": group.total_lag(),
        "members": group.members.iter().map(|m| json!({
            "member_id": m.member_id,
            "client_id": m.client_id,
            "client_host": m.client_host,
            "assignment": m.assignment,
        })).collect::<Vec<_>>(),
        "partitions": group.partitions.iter().map(|p| json!({
            "topic": p.topic,
            "partition": p.partition,
            "committed": p.committed,
            "log_end": p.log_end,
            "lag": p.lag,
            "member_id": p.member_id,
        })).collect::<Vec<_>>(),
    })
}

fn write_description(out: &mut impl Write, group: &GroupDescription) -> std::io::Result<()> {
    let protocol = if group.protocol.is_empty() {
        group.protocol_type.clone()
    } else {
        format!("{} ({})", group.protocol_type, group.protocol)
    };
    write_fields(
        out,
        &[
            ("GROUP", group.group_id.clone()),
            ("STATE", group.state.clone()),
            ("PROTOCOL", protocol),
            ("MEMBERS", group.members.len().to_string()),
            ("LAG", count(group.total_lag())),
        ],
    )?;
    if !group.members.is_empty() {
        writeln!(out)?;
        let mut members = Table::new(&[
            ("MEMBER", Align::Left),
            ("CLIENT-ID", Align::Left),
            ("HOST", Align::Left),
            ("ASSIGNMENT", Align::Left),
        ]);
        for m in &group.members {
            members.row(vec![
                m.member_id.clone(),
                m.client_id.clone(),
                m.client_host.clone(),
                assignment_text(&m.assignment),
            ]);
        }
        members.write(out)?;
    }
    if !group.partitions.is_empty() {
        writeln!(out)?;
        let mut partitions = Table::new(&[
            ("TOPIC", Align::Left),
            ("PARTITION", Align::Right),
            ("COMMITTED", Align::Right),
            ("LOG-END", Align::Right),
            ("LAG", Align::Right),
            ("MEMBER", Align::Left),
        ]);
        for p in &group.partitions {
            partitions.row(vec![
                p.topic.clone(),
                p.partition.to_string(),
                p.committed.map_or_else(|| "-".into(), |c| c.to_string()),
                p.log_end.to_string(),
                p.lag.map_or_else(|| "-".into(), count),
                p.member_id.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        partitions.write(out)?;
    }
    Ok(())
}
