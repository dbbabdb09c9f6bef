//! The group coordinator end to end: a real broker on a loopback port, one
//! TCP connection per simulated consumer, Kafka's wire protocol.
//!
//! These tests run on real time. The broker's timers (the initial
//! rebalance delay, session timeouts) run on the same tokio clock as the
//! test, and a paused clock jumps to the next timer whenever the runtime
//! is idle, which includes every wait for a socket: a member that is
//! heartbeating would then time out between two heartbeats. So waits are
//! real and short (300 ms initial delay, 1 s session timeout), and every
//! assertion is about what the protocol answered, never about how long it
//! took; the only sleep is the heartbeat interval of a member polling for
//! REBALANCE_IN_PROGRESS, as a consumer does.

mod common;
mod groups_common;

use std::time::Duration;

use anyhow::{ensure, Context};
use groups_common::{assigned, assignment, code, config, start, Connection, Member, RESPONSE_WAIT};
use sluice_broker::RunningBroker;
use sluice_protocol::kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use sluice_protocol::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use sluice_protocol::kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use sluice_protocol::kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::ResponseError;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A broker with a topic `orders` of three partitions.
async fn broker_with_orders(dir: &std::path::Path) -> anyhow::Result<RunningBroker> {
    let running = start(dir).await?;
    running.broker.create_topic("orders", Some(3), None)?;
    Ok(running)
}

/// Brings `member` into a group of its own: join (with the member id round
/// trip), sync with all of `orders` assigned to it.
async fn join_alone(member: &mut Member) -> anyhow::Result<()> {
    let joined = member.join().await?;
    ensure!(
        joined.leader.as_str() == member.member_id,
        "a lone member leads"
    );
    let synced = member
        .sync(vec![(
            member.member_id.clone(),
            assignment("orders", &[0, 1, 2]),
        )])
        .await?;
    ensure!(synced.error_code == 0, "sync failed: {}", synced.error_code);
    Ok(())
}

/// Runs the rebalance that follows `newcomer` joining a Stable group led by
/// `leader`: the leader learns of it from a heartbeat, both rejoin, the
/// leader assigns partition 0 to itself and 1–2 to the newcomer.
async fn rebalance_to_two(leader: &mut Member, newcomer: Member) -> anyhow::Result<Member> {
    let newcomer_join = tokio::spawn(async move {
        let mut newcomer = newcomer;
        let joined = newcomer.join().await;
        (newcomer, joined)
    });
    ensure!(leader.heartbeat_until_told().await? == code(ResponseError::RebalanceInProgress));
    let leader_joined = leader.join().await?;
    let (mut newcomer, newcomer_joined) = newcomer_join.await?;
    let newcomer_joined = newcomer_joined?;
    ensure!(leader_joined.generation_id == newcomer_joined.generation_id);
    ensure!(
        leader_joined.leader.as_str() == leader.member_id,
        "the leader stays leader"
    );
    ensure!(
        leader_joined.members.len() == 2,
        "the leader sees both members"
    );
    ensure!(
        newcomer_joined.members.is_empty(),
        "followers do not see the members"
    );
    // The follower syncs first and waits for the leader's assignment.
    let newcomer_sync = tokio::spawn(async move {
        let synced = newcomer.sync(Vec::new()).await;
        (newcomer, synced)
    });
    let leader_synced = leader
        .sync(vec![
            (leader.member_id.clone(), assignment("orders", &[0])),
            (
                newcomer_joined.member_id.to_string(),
                assignment("orders", &[1, 2]),
            ),
        ])
        .await?;
    let (newcomer, newcomer_synced) = newcomer_sync.await?;
    let newcomer_synced = newcomer_synced?;
    ensure!(assigned(&leader_synced.assignment)? == vec![("orders".to_string(), vec![0])]);
    ensure!(assigned(&newcomer_synced.assignment)? == vec![("orders".to_string(), vec![1, 2])]);
    Ok(newcomer)
}

async fn describe(
    connection: &mut Connection,
    group: &str,
) -> anyhow::Result<DescribeGroupsResponse> {
    let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(text(group))]);
    connection.describe_groups(5, request).await
}

fn commit_request(
    group: &str,
    member: &Member,
    generation_id: i32,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    let partitions = offsets
        .iter()
        .map(|&(partition, offset)| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(7)
                .with_committed_metadata(Some(text("by test")))
        })
        .collect();
    OffsetCommitRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_generation_id_or_member_epoch(generation_id)
        .with_member_id(text(&member.member_id))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(text("orders")))
            .with_partitions(partitions)])
}

/// The error code of every partition of a commit response.
fn commit_codes(response: &OffsetCommitResponse) -> Vec<i16> {
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// Committed offsets of `orders` 0–2 via OffsetFetch v7 (one group) and v8
/// (batched); checks both agree and returns `(partition, offset)`.
async fn fetch_orders(connection: &mut Connection, group: &str) -> anyhow::Result<Vec<(i32, i64)>> {
    let single = OffsetFetchRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(text("orders")))
            .with_partition_indexes(vec![0, 1, 2])]));
    let single = connection.offset_fetch(7, single).await?;
    ensure!(single.error_code == 0);
    let from_single: Vec<(i32, i64)> = single.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    let batched =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(text(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(text("orders")))
                .with_partition_indexes(vec![0, 1, 2])]))]);
    let batched = connection.offset_fetch(8, batched).await?;
    let from_batched: Vec<(i32, i64)> = batched.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    ensure!(
        from_single == from_batched,
        "v7 says {from_single:?}, v8 says {from_batched:?}"
    );
    for partition in single.topics[0]
        .partitions
        .iter()
        .filter(|p| p.committed_offset >= 0)
    {
        ensure!(partition.committed_leader_epoch == 7, "leader epoch kept");
        ensure!(
            partition.metadata.as_deref() == Some("by test"),
            "metadata kept"
        );
    }
    Ok(from_single)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_coordinator_names_this_broker_for_groups_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = start(dir.path()).await?;
    let mut connection = Connection::connect_as(running.kafka_addr, "finder").await?;
    let single = connection
        .find_coordinator(
            3,
            FindCoordinatorRequest::default().with_key(text("billing")),
        )
        .await?;
    ensure!(single.error_code == 0);
    ensure!(single.host.as_str() == running.kafka_addr.ip().to_string());
    ensure!(single.port == i32::from(running.kafka_addr.port()));
    ensure!(single.node_id.0 == running.broker.config.node_id);
    let batched = connection
        .find_coordinator(
            4,
            FindCoordinatorRequest::default().with_coordinator_keys(vec![text("a"), text("b")]),
        )
        .await?;
    ensure!(batched.coordinators.len() == 2);
    for coordinator in &batched.coordinators {
        ensure!(
            coordinator.error_code == 0 && coordinator.port == i32::from(running.kafka_addr.port())
        );
    }
    ensure!(batched.coordinators[1].key.as_str() == "b");
    let transactions = connection
        .find_coordinator(
            3,
            FindCoordinatorRequest::default()
                .with_key(text("tx"))
                .with_key_type(1),
        )
        .await?;
    ensure!(transactions.error_code == code(ResponseError::CoordinatorNotAvailable));
    running.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_joins_syncs_and_heartbeats() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut member = Member::connect(running.kafka_addr, "member-a", "solo").await?;
    let first = member.join_once().await?;
    ensure!(first.error_code == code(ResponseError::MemberIdRequired));
    ensure!(
        first.member_id.starts_with("member-a-"),
        "member id {:?}",
        first.member_id
    );
    let joined = member.join_once().await?;
    ensure!(
        joined.error_code == 0,
        "rejoin with the member id: {}",
        joined.error_code
    );
    ensure!(joined.generation_id == 1);
    ensure!(joined.protocol_name.as_deref() == Some("range"));
    ensure!(joined.leader == first.member_id && joined.member_id == first.member_id);
    ensure!(
        joined.members.len() == 1
            && joined.members[0].metadata == groups_common::subscription(&member.topics)
    );
    let synced = member
        .sync(vec![(
            member.member_id.clone(),
            assignment("orders", &[0, 1, 2]),
        )])
        .await?;
    ensure!(synced.error_code == 0);
    ensure!(assigned(&synced.assignment)? == vec![("orders".to_string(), vec![0, 1, 2])]);
    ensure!(member.heartbeat().await? == 0);
    let described = describe(&mut member.connection, "solo").await?;
    let group = &described.groups[0];
    ensure!(group.group_state.as_str() == "Stable" && group.protocol_data.as_str() == "range");
    ensure!(group.members.len() == 1 && group.members[0].client_id.as_str() == "member-a");
    ensure!(group.members[0].member_assignment == synced.assignment);
    running.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_triggers_a_rebalance_and_both_get_assignments() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut leader = Member::connect(running.kafka_addr, "member-a", "pair").await?;
    join_alone(&mut leader).await?;
    ensure!(leader.generation_id == 1);
    let newcomer = Member::connect(running.kafka_addr, "member-b", "pair").await?;
    let mut newcomer = rebalance_to_two(&mut leader, newcomer).await?;
    ensure!(leader.generation_id == 2 && newcomer.generation_id == 2);
    ensure!(leader.heartbeat().await? == 0 && newcomer.heartbeat().await? == 0);
    let described = describe(&mut leader.connection, "pair").await?;
    let group = &described.groups[0];
    ensure!(group.group_state.as_str() == "Stable" && group.protocol_type.as_str() == "consumer");
    let mut clients: Vec<&str> = group.members.iter().map(|m| m.client_id.as_str()).collect();
    clients.sort_unstable();
    ensure!(clients == ["member-a", "member-b"]);
    let listed = newcomer
        .connection
        .list_groups(
            5,
            ListGroupsRequest::default().with_states_filter(vec![text("stable")]),
        )
        .await?;
    ensure!(listed.groups.len() == 1 && listed.groups[0].group_id.0.as_str() == "pair");
    ensure!(
        listed.groups[0].group_state.as_str() == "Stable"
            && listed.groups[0].group_type.as_str() == "classic"
    );
    running.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_leaves_rebalances_the_group_to_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut leader = Member::connect(running.kafka_addr, "member-a", "shrinking").await?;
    join_alone(&mut leader).await?;
    let newcomer = Member::connect(running.kafka_addr, "member-b", "shrinking").await?;
    let mut newcomer = rebalance_to_two(&mut leader, newcomer).await?;
    let left = newcomer.leave().await?;
    ensure!(left.error_code == 0 && left.members.len() == 1 && left.members[0].error_code == 0);
    ensure!(leader.heartbeat().await? == code(ResponseError::RebalanceInProgress));
    let rejoined = leader.join().await?;
    ensure!(rejoined.generation_id == 3);
    ensure!(
        rejoined.members.len() == 1 && rejoined.members[0].member_id.as_str() == leader.member_id
    );
    ensure!(newcomer.heartbeat().await? == code(ResponseError::UnknownMemberId));
    let again = newcomer.leave().await?;
    ensure!(again.members[0].error_code == code(ResponseError::UnknownMemberId));
    running.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_is_evicted_after_its_session_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut leader = Member::connect(running.kafka_addr, "member-a", "evicting").await?;
    join_alone(&mut leader).await?;
    let mut newcomer = Member::connect(running.kafka_addr, "member-b", "evicting").await?;
    newcomer.session_timeout_ms = 1000;
    let mut silent = rebalance_to_two(&mut leader, newcomer).await?;
    // `silent` sends nothing from here on; the leader keeps heartbeating
    // until the coordinator tells it to rejoin.
    ensure!(leader.heartbeat_until_told().await? == code(ResponseError::RebalanceInProgress));
    let rejoined = leader.join().await?;
    ensure!(rejoined.generation_id == 3);
    ensure!(
        rejoined.members.len() == 1,
        "the silent member is gone: {:?}",
        rejoined.members
    );
    ensure!(rejoined.members[0].member_id.as_str() == leader.member_id);
    ensure!(silent.heartbeat().await? == code(ResponseError::UnknownMemberId));
    running.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_checked_against_the_generation_and_fetched_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut member = Member::connect(running.kafka_addr, "member-a", "committers").await?;
    join_alone(&mut member).await?;
    let generation = member.generation_id;
    let request = commit_request("committers", &member, generation, &[(0, 42), (1, 7)]);
    let committed = member.connection.offset_commit(8, request).await?;
    ensure!(commit_codes(&committed) == [0, 0]);
    let stale = commit_request("committers", &member, generation - 1, &[(0, 99)]);
    let stale = member.connection.offset_commit(8, stale).await?;
    ensure!(commit_codes(&stale) == [code(ResponseError::IllegalGeneration)]);
    let mut stranger = Member::connect(running.kafka_addr, "stranger", "committers").await?;
    stranger.member_id = "stranger-1".into();
    let unknown = commit_request("committers", &stranger, generation, &[(0, 99)]);
    let unknown = stranger.connection.offset_commit(8, unknown).await?;
    ensure!(commit_codes(&unknown) == [code(ResponseError::UnknownMemberId)]);
    let no_topic = commit_request("committers", &member, generation, &[(9, 1)]);
    let no_topic = member.connection.offset_commit(8, no_topic).await?;
    ensure!(commit_codes(&no_topic) == [code(ResponseError::UnknownTopicOrPartition)]);
    ensure!(
        fetch_orders(&mut member.connection, "committers").await? == [(0, 42), (1, 7), (2, -1)]
    );
    let offsets = running.broker.groups.committed_offsets("committers");
    ensure!(
        offsets
            .iter()
            .map(|o| (o.partition, o.committed.offset))
            .collect::<Vec<_>>()
            == [(0, 42), (1, 7)]
    );
    running.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_commits_are_taken_only_while_the_group_has_no_members() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut standalone = Member::connect(running.kafka_addr, "tool", "standalone").await?;
    let simple = commit_request("standalone", &standalone, -1, &[(2, 1000)]);
    let simple = standalone.connection.offset_commit(8, simple).await?;
    ensure!(commit_codes(&simple) == [0]);
    ensure!(
        fetch_orders(&mut standalone.connection, "standalone").await?
            == [(0, -1), (1, -1), (2, 1000)]
    );
    let mut member = Member::connect(running.kafka_addr, "member-a", "busy").await?;
    join_alone(&mut member).await?;
    let refused = commit_request("busy", &standalone, -1, &[(0, 1)]);
    let refused = standalone.connection.offset_commit(8, refused).await?;
    ensure!(commit_codes(&refused) == [code(ResponseError::UnknownMemberId)]);
    running.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_and_groups_survive_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut member = Member::connect(running.kafka_addr, "member-a", "durable").await?;
    join_alone(&mut member).await?;
    let request = commit_request("durable", &member, member.generation_id, &[(0, 5), (1, 6)]);
    ensure!(commit_codes(&member.connection.offset_commit(8, request).await?) == [0, 0]);
    // A later commit of the same partition wins on replay.
    let request = commit_request("durable", &member, member.generation_id, &[(0, 15)]);
    ensure!(commit_codes(&member.connection.offset_commit(8, request).await?) == [0]);
    let mut tool = Member::connect(running.kafka_addr, "tool", "tools").await?;
    let simple = commit_request("tools", &tool, -1, &[(2, 3)]);
    ensure!(commit_codes(&tool.connection.offset_commit(8, simple).await?) == [0]);
    // A group that never committed is forgotten once it is empty.
    let mut passing = Member::connect(running.kafka_addr, "member-p", "passing").await?;
    join_alone(&mut passing).await?;
    ensure!(passing.leave().await?.members[0].error_code == 0);
    drop((member, passing, tool));
    running.shutdown().await?;

    let running = RunningBroker::start(config(dir.path())).await?;
    let mut connection = Connection::connect_as(running.kafka_addr, "after-restart").await?;
    ensure!(fetch_orders(&mut connection, "durable").await? == [(0, 15), (1, 6), (2, -1)]);
    ensure!(fetch_orders(&mut connection, "tools").await? == [(0, -1), (1, -1), (2, 3)]);
    let listed = connection
        .list_groups(4, ListGroupsRequest::default())
        .await?;
    let mut groups: Vec<(String, String, String)> = listed
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.0.to_string(),
                g.protocol_type.to_string(),
                g.group_state.to_string(),
            )
        })
        .collect();
    groups.sort();
    ensure!(
        groups
            == [
                ("durable".into(), "consumer".into(), "Empty".into()),
                ("tools".into(), String::new(), "Empty".into())
            ],
        "listed {groups:?}"
    );
    let described = describe(&mut connection, "durable").await?;
    ensure!(
        described.groups[0].group_state.as_str() == "Empty"
            && described.groups[0].members.is_empty()
    );
    let gone = describe(&mut connection, "passing").await?;
    ensure!(gone.groups[0].group_state.as_str() == "Dead");
    // The members' ids died with the old broker; they rejoin from scratch.
    let mut member = Member::connect(running.kafka_addr, "member-a", "durable").await?;
    let rejoined = member.join().await?;
    ensure!(
        rejoined.generation_id == 2,
        "generations continue after a restart"
    );
    let overview = running.broker.groups.list_groups();
    ensure!(overview
        .iter()
        .any(|g| g.group_id == "durable" && g.members == 1));
    running.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_a_join_that_waits_for_a_rebalance() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut leader = Member::connect(running.kafka_addr, "member-a", "stopping").await?;
    join_alone(&mut leader).await?;
    let mut newcomer = Member::connect(running.kafka_addr, "member-b", "stopping").await?;
    ensure!(newcomer.join_once().await?.error_code == code(ResponseError::MemberIdRequired));
    // The newcomer's join waits for the leader to rejoin, which it never
    // does; only the rebalance timeout (30 s) would end the wait.
    let waiting = tokio::spawn(async move { newcomer.join_once().await });
    ensure!(leader.heartbeat_until_told().await? == code(ResponseError::RebalanceInProgress));
    tokio::time::timeout(RESPONSE_WAIT, running.shutdown())
        .await
        .context("shutdown waited for the rebalance")??;
    let answer = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .context("the waiting join was not answered")???;
    ensure!(
        answer.error_code == code(ResponseError::NotCoordinator),
        "{answer:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_list_show_unknown_and_filtered_groups() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let running = broker_with_orders(dir.path()).await?;
    let mut member = Member::connect(running.kafka_addr, "member-a", "shown").await?;
    join_alone(&mut member).await?;
    let unknown = DescribeGroupsRequest::default().with_groups(vec![GroupId(text("nobody"))]);
    let old = member
        .connection
        .describe_groups(5, unknown.clone())
        .await?;
    ensure!(old.groups[0].error_code == 0 && old.groups[0].group_state.as_str() == "Dead");
    let new = member.connection.describe_groups(6, unknown).await?;
    ensure!(new.groups[0].error_code == code(ResponseError::GroupIdNotFound));
    let empty_only = ListGroupsRequest::default().with_states_filter(vec![text("Empty")]);
    ensure!(member
        .connection
        .list_groups(4, empty_only)
        .await?
        .groups
        .is_empty());
    let other_type = ListGroupsRequest::default().with_types_filter(vec![text("consumer")]);
    ensure!(member
        .connection
        .list_groups(5, other_type)
        .await?
        .groups
        .is_empty());
    let all = member
        .connection
        .list_groups(0, ListGroupsRequest::default())
        .await?;
    ensure!(all.groups.len() == 1 && all.groups[0].protocol_type.as_str() == "consumer");
    running.shutdown().await?;
    Ok(())
}
