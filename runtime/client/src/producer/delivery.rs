//! How a sender learns what became of its record: one shared outcome per
//! batch, and a cheap handle per record.
//!
//! A per-record channel would cost an allocation per record; instead every
//! record of a batch holds the batch's `Arc<BatchOutcome>` and its index in
//! the batch, and its offset is the batch's base offset plus that index.
//! Dropping a [`Delivery`] is fine: the record is sent all the same.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use sluice_types::Timestamp;
use tokio::sync::Notify;

use crate::error::{ClientError, Result};

/// Where an acknowledged record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: Arc<str>,
    pub partition: i32,
    /// The record's offset; -1 with acks=0, where the broker says nothing.
    pub offset: i64,
    /// The timestamp the record was sent with.
    pub timestamp: Timestamp,
}

/// The outcome shared by every record of one batch.
#[derive(Debug)]
pub(crate) struct BatchOutcome {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    /// Base offset on success (-1 with acks=0), set once.
    result: OnceLock<Result<i64, Arc<ClientError>>>,
    done: Notify,
}

impl BatchOutcome {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Arc<BatchOutcome> {
        Arc::new(BatchOutcome {
            topic,
            partition,
            result: OnceLock::new(),
            done: Notify::new(),
        })
    }

    /// Settles the batch and wakes every waiting record. Only the first
    /// call counts.
    pub(crate) fn settle(&self, result: Result<i64, Arc<ClientError>>) {
        // Only the first outcome counts (a dropped batch settles again as
        // a safety net); it is what records may already have seen.
        let _ = self.result.set(result);
        self.done.notify_waiters();
    }

    pub(crate) fn is_settled(&self) -> bool {
        self.result.get().is_some()
    }

    async fn wait(&self) -> &Result<i64, Arc<ClientError>> {
        loop {
            // Created before the check: `notify_waiters` reaches a
            // `Notified` from the moment it exists, so no wake-up is lost.
            let notified = self.done.notified();
            if let Some(result) = self.result.get() {
                return result;
            }
            notified.await;
        }
    }
}

/// One record's pending acknowledgement; `.await` it for the record's
/// [`RecordMetadata`].
#[derive(Debug, Clone)]
pub struct Delivery {
    pub(crate) batch: Arc<BatchOutcome>,
    /// Position of the record in its batch.
    pub(crate) index: u32,
    pub(crate) timestamp: Timestamp,
}

impl Delivery {
    /// Waits until the record's batch is acknowledged or has failed.
    ///
    /// # Errors
    /// [`ClientError::Delivery`] with the batch's cause.
    pub async fn wait(self) -> Result<RecordMetadata> {
        match self.batch.wait().await {
            Ok(base_offset) => Ok(RecordMetadata {
                topic: self.batch.topic.clone(),
                partition: self.batch.partition,
                offset: if *base_offset < 0 {
                    -1
                } else {
                    base_offset + i64::from(self.index)
                },
                timestamp: self.timestamp,
            }),
            Err(cause) => Err(ClientError::Delivery {
                topic: self.batch.topic.to_string(),
                partition: self.batch.partition,
                records: 1,
                source: cause.clone(),
            }),
        }
    }
}

impl IntoFuture for Delivery {
    type Output = Result<RecordMetadata>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_record_of_a_batch_sees_its_own_offset() {
        let batch = BatchOutcome::new("t".into(), 2);
        let first = Delivery {
            batch: batch.clone(),
            index: 0,
            timestamp: Timestamp(5),
        };
        let third = Delivery {
            batch: batch.clone(),
            index: 2,
            timestamp: Timestamp(6),
        };
        let waiting = tokio::spawn(third.wait());
        tokio::task::yield_now().await;
        batch.settle(Ok(40));
        assert_eq!(waiting.await.unwrap().unwrap().offset, 42);
        let first = first.await.unwrap();
        assert_eq!((first.partition, first.offset), (2, 40));
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_record_with_the_cause() {
        let batch = BatchOutcome::new("t".into(), 0);
        let record = Delivery {
            batch: batch.clone(),
            index: 0,
            timestamp: Timestamp(0),
        };
        batch.settle(Err(Arc::new(ClientError::Closed { what: "producer" })));
        let error = record.await.unwrap_err();
        assert!(matches!(error, ClientError::Delivery { records: 1, .. }));
        assert_eq!(
            anyhow_like(&error),
            "1 record(s) for t-0 not delivered: the producer is closed"
        );
    }

    /// The cause chain, as `anyhow` prints it with `{:#}`.
    fn anyhow_like(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
