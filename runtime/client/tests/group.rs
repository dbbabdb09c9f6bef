//! Consumer groups against a real broker's coordinator: two members split
//! four partitions, commits survive the members, lag is reported.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{TestBroker, PATIENCE};
use sluice_client::{Admin, GroupConfig, GroupConsumer, Producer, ProducerConfig};
use tokio::time::Instant;

fn config() -> GroupConfig {
    let mut config = GroupConfig::new("billing", vec!["events".into()]);
    // Rebalances are noticed through heartbeats; fast ones keep the test short.
    config.heartbeat_interval = Duration::from_millis(100);
    config.session_timeout = Duration::from_secs(10);
    config.rebalance_timeout = Duration::from_secs(20);
    config.consumer.max_wait = Duration::from_millis(100);
    config
}

fn partitions(member: &GroupConsumer) -> BTreeSet<i32> {
    member.assignment().into_iter().map(|(_, p)| p).collect()
}

async fn produce(producer: &Producer, per_partition: usize, tag: &str) -> anyhow::Result<()> {
    for partition in 0..4 {
        for i in 0..per_partition {
            let value = format!("{tag}-{partition}-{i}");
            producer
                .send("events", Some(partition), None, Some(value.as_bytes()), &[])
                .await?;
        }
    }
    producer.flush().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_four_partitions_and_a_successor_resumes() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    broker.create_topic("events", 4).await?;
    let cluster = broker.cluster().await?;
    let producer = Producer::new(cluster.clone(), ProducerConfig::default())?;
    produce(&producer, 100, "first").await?;

    let mut first = GroupConsumer::join(cluster.clone(), config()).await?;
    assert_eq!(
        partitions(&first),
        BTreeSet::from([0, 1, 2, 3]),
        "alone, it gets all four"
    );

    // The second member's join completes only once the first has rejoined,
    // which it does from `poll`: keep polling meanwhile.
    let joining = tokio::spawn(GroupConsumer::join(cluster.clone(), config()));
    let mut seen: BTreeSet<(i32, i64)> = BTreeSet::new();
    let deadline = Instant::now() + PATIENCE;
    while !joining.is_finished() {
        anyhow::ensure!(Instant::now() < deadline, "the second member never joined");
        for record in first.poll().await? {
            seen.insert((record.partition, record.offset));
        }
    }
    let mut second = joining.await??;
    while partitions(&first).len() != 2 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the first member kept {:?}",
            partitions(&first)
        );
        for record in first.poll().await? {
            seen.insert((record.partition, record.offset));
        }
    }
    let (a, b) = (partitions(&first), partitions(&second));
    assert_eq!(a.len(), 2, "{a:?} / {b:?}");
    assert_eq!(b.len(), 2, "{a:?} / {b:?}");
    assert!(a.is_disjoint(&b), "{a:?} / {b:?}");
    assert_eq!(generation(&first), generation(&second));

    // Together they read every record at least once.
    while seen.len() < 400 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of 400 records seen",
            seen.len()
        );
        for member in [&mut first, &mut second] {
            for record in member.poll().await? {
                assert!(partitions(member).contains(&record.partition));
                seen.insert((record.partition, record.offset));
            }
        }
    }
    first.close().await?;
    second.close().await?;

    let admin = Admin::new(cluster.clone());
    let description = admin.describe_group("billing").await?;
    assert_eq!(description.state, "Empty", "{description:?}");
    assert!(description.members.is_empty());
    let committed: Vec<(i32, Option<i64>, Option<i64>)> = description
        .partitions
        .iter()
        .map(|p| (p.partition, p.committed, p.lag))
        .collect();
    assert_eq!(
        committed,
        (0..4).map(|p| (p, Some(100), Some(0))).collect::<Vec<_>>()
    );
    let groups = admin.list_groups().await?;
    assert!(
        groups
            .iter()
            .any(|g| g.group_id == "billing" && g.protocol_type == "consumer"),
        "{groups:?}"
    );

    // A successor resumes from the commits: it sees only what came after.
    produce(&producer, 1, "later").await?;
    let lag = admin.describe_group("billing").await?.total_lag();
    assert_eq!(lag, 4);
    let mut successor = GroupConsumer::join(cluster.clone(), config()).await?;
    let mut later = Vec::new();
    while later.len() < 4 {
        anyhow::ensure!(Instant::now() < deadline, "successor saw {later:?}");
        later.extend(successor.poll().await?);
    }
    assert!(later.iter().all(|r| r.offset == 100), "{later:?}");
    assert!(successor.commit().await?);
    let described = admin.describe_group("billing").await?;
    assert_eq!(described.state, "Stable");
    assert_eq!(described.members.len(), 1);
    let member = &described.members[0];
    assert_eq!(member.member_id, successor.member_id());
    assert_eq!(member.client_id, "client-tests");
    assert_eq!(member.assignment["events"], [0, 1, 2, 3]);
    assert_eq!(described.total_lag(), 0);
    successor.close().await?;
    producer.close().await?;
    broker.stop().await
}

fn generation(member: &GroupConsumer) -> Option<i32> {
    member.generation_id()
}
