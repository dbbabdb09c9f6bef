//! Why the broker could not start or stop cleanly. Per-request failures are
//! Kafka error codes in responses (see `error_code.rs`), not this type.

use std::io;
use std::net::SocketAddr;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("cannot listen for {what} on {addr}: {source}; is another broker running there? (choose another address with --{flag})")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        flag: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("opening the data directory failed")]
    Storage(#[from] sluice_storage::StorageError),
    #[error("{0}")]
    Io(#[from] io::Error),
}
