//! Constructors for the contract's types, so plugins read as intent
//! (`Output::to("errors", record)`) rather than struct literals.

use crate::{Error, ErrorKind, Output, Record};

impl Output {
    /// Sends `record` to the stage's default output.
    pub fn to_default(record: Record) -> Self {
        Output {
            record,
            target: None,
        }
    }

    /// Sends `record` to the stage's output named `target` (declared in the
    /// pipeline file).
    pub fn to(target: impl Into<String>, record: Record) -> Self {
        Output {
            record,
            target: Some(target.into()),
        }
    }
}

impl Error {
    /// The stage's configuration is wrong: the pipeline does not start.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    /// The batch cannot be processed: its records go to the dead-letter
    /// topic with this message.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// An outside system is unavailable: the host retries with backoff.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// Anything else; treated like `invalid-input`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
}

impl Record {
    /// A record with only a value: no key, no headers, timestamp 0, no
    /// origin. Mostly for tests and for transforms that create records.
    pub fn from_value(value: impl Into<Vec<u8>>) -> Self {
        Record {
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: 0,
            origin: None,
        }
    }
}
