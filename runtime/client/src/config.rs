//! Settings every client shares: where the cluster is, who the client is,
//! and how long to wait. Producer and consumer settings live next to
//! their own code.

use std::time::Duration;

use crate::error::{ClientError, Result};

/// How to reach a cluster and how patient to be with it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` addresses to start from; any one reachable broker is
    /// enough, the rest of the cluster is learnt from Metadata.
    pub bootstrap: Vec<String>,
    /// Sent in every request header; shows up in broker logs and in group
    /// descriptions.
    pub client_id: String,
    /// Longest wait for a TCP connection (and the ApiVersions answer).
    pub connect_timeout: Duration,
    /// Longest wait for any response. A long-polling Fetch gets its
    /// `max_wait` on top.
    pub request_timeout: Duration,
    /// Requests written to one connection and not yet answered. Bounds the
    /// memory one connection pins and the broker's queue for this client.
    pub max_in_flight_per_connection: usize,
    /// Largest response frame accepted; a larger size prefix closes the
    /// connection before anything is buffered.
    pub max_response_bytes: usize,
    /// Attempts at a call that failed for a retriable reason (a lost
    /// connection, a leader that moved) before the error is returned.
    pub retries: u32,
    /// Pause before each retry, so a moving leader has time to settle.
    pub retry_backoff: Duration,
}

impl ClientConfig {
    /// Defaults for a cluster reachable at `bootstrap`.
    pub fn new(bootstrap: Vec<String>) -> ClientConfig {
        ClientConfig {
            bootstrap,
            client_id: "sluice".into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight_per_connection: 32,
            max_response_bytes: 256 << 20,
            retries: 5,
            retry_backoff: Duration::from_millis(100),
        }
    }

    /// Parses a comma-separated `host:port` list, as `--brokers` takes it.
    ///
    /// # Errors
    /// [`ClientError::InvalidConfig`] for an empty list or an entry
    /// without a numeric port.
    pub fn parse_brokers(text: &str) -> Result<Vec<String>> {
        let brokers: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_owned)
            .collect();
        if brokers.is_empty() {
            return Err(ClientError::InvalidConfig {
                reason: "the broker list is empty; give at least one HOST:PORT".into(),
            });
        }
        for broker in &brokers {
            let port = broker.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                return Err(ClientError::InvalidConfig {
                    reason: format!("broker address {broker:?} is not HOST:PORT"),
                });
            }
        }
        Ok(brokers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_lists_parse_and_bad_entries_are_named() {
        assert_eq!(
            ClientConfig::parse_brokers("a:1, b:2,").unwrap(),
            vec!["a:1".to_string(), "b:2".to_string()]
        );
        let error = ClientConfig::parse_brokers("a:1,localhost").unwrap_err();
        assert!(error.to_string().contains("\"localhost\""), "{error}");
        assert!(ClientConfig::parse_brokers(" , ").is_err());
        assert!(ClientConfig::parse_brokers("a:99999").is_err());
    }
}
