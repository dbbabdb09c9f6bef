//! One connection against a real broker: negotiated versions, pipelined
//! requests, and the errors when nothing (or nothing sensible) answers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestBroker;
use sluice_client::{ClientConfig, ClientError, Cluster, Connection};
use sluice_protocol::kafka_protocol::messages::{ApiKey, MetadataRequest};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_the_highest_both_sides_speak() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let connection = Connection::connect(&broker.addr, &broker.client_config()).await?;
    assert_eq!(connection.version(ApiKey::Produce)?, 9);
    assert_eq!(connection.version(ApiKey::Fetch)?, 12);
    assert_eq!(connection.version(ApiKey::Metadata)?, 12);
    let error = connection.version(ApiKey::SaslHandshake).unwrap_err();
    assert!(
        matches!(error, ClientError::UnsupportedApi { .. }),
        "{error}"
    );
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_in_flight_each_get_their_own_answer() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    broker.create_topic("a", 1).await?;
    broker.create_topic("bb", 2).await?;
    let mut config = broker.client_config();
    config.max_in_flight_per_connection = 4;
    let connection = Arc::new(Connection::connect(&broker.addr, &config).await?);
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..200 {
        let connection = connection.clone();
        requests.spawn(async move {
            // Alternate topics so a mixed-up answer would show.
            let name = if i % 2 == 0 { "a" } else { "bb" };
            let topic = sluice_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(sluice_protocol::kafka_protocol::messages::TopicName(name.into())));
            let response = connection
                .send(MetadataRequest::default().with_topics(Some(vec![topic])))
                .await?;
            anyhow::ensure!(response.topics.len() == 1);
            let topic = &response.topics[0];
            anyhow::ensure!(topic.name.as_ref().map(|n| n.0.as_str()) == Some(name));
            anyhow::ensure!(topic.partitions.len() == name.len(), "{name}: {topic:?}");
            Ok(())
        });
    }
    while let Some(result) = requests.join_next().await {
        result??;
    }
    assert!(!connection.is_closed());
    broker.stop().await
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_naming_the_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let error = Cluster::connect(ClientConfig::new(vec![addr.clone()]))
        .await
        .unwrap_err();
    let ClientError::Connect {
        addr: failed,
        source,
    } = &error
    else {
        panic!("not a connect error: {error:?}");
    };
    assert_eq!(failed, &addr);
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(error.to_string(), format!("cannot connect to {addr}"));
}

#[tokio::test]
async fn a_peer_that_never_answers_times_out_at_connect() {
    // Accepts and then says nothing, like a stuck process or another
    // protocol's server waiting for its client to speak first.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let mut config = ClientConfig::new(vec![addr.clone()]);
    config.connect_timeout = Duration::from_millis(300);
    let error = Connection::connect(&addr, &config).await.unwrap_err();
    let ClientError::Connect { source, .. } = &error else {
        panic!("not a connect error: {error:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::TimedOut);
    silent.abort();
}

#[tokio::test]
async fn a_peer_that_hangs_up_fails_the_request_in_flight() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        // Hang up as soon as the ApiVersions request arrives.
        let (socket, _) = listener.accept().await.unwrap();
        drop(socket);
    });
    let error = Connection::connect(&addr, &ClientConfig::new(vec![addr.clone()]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Disconnected {
                api: ApiKey::ApiVersions,
                ..
            } | ClientError::Io { .. }
        ),
        "{error:?}"
    );
}
