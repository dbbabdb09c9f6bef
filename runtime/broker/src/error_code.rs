//! The one place storage and broker failures become Kafka error codes.

use kafka_protocol::ResponseError;
use sluice_protocol::kafka_protocol;
use sluice_storage::StorageError;

/// The Kafka error code for a storage failure.
pub fn storage_error_code(error: &StorageError) -> i16 {
    match error {
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange.code(),
        StorageError::InvalidBatch { .. } | StorageError::Decode { .. } => {
            ResponseError::CorruptMessage.code()
        }
        StorageError::BatchTooLarge { .. } => ResponseError::RecordListTooLarge.code(),
        StorageError::UnknownTopic { .. } | StorageError::UnknownPartition { .. } => {
            ResponseError::UnknownTopicOrPartition.code()
        }
        StorageError::TopicExists { .. } => ResponseError::TopicAlreadyExists.code(),
        StorageError::InvalidTopicName { .. } => ResponseError::InvalidTopicException.code(),
        StorageError::InvalidConfig { .. } => ResponseError::InvalidConfig.code(),
        StorageError::Offline { .. } | StorageError::Closed { .. } => {
            ResponseError::KafkaStorageError.code()
        }
        StorageError::Io { .. } | StorageError::CorruptSegment { .. } => {
            ResponseError::KafkaStorageError.code()
        }
    }
}

pub const NONE: i16 = 0;

/// Shorthand for a protocol error's code.
pub fn code(error: ResponseError) -> i16 {
    error.code()
}
