//! Fetch responses without copying the records: the frame becomes a list
//! of chunks, small encoded pieces between the untouched record bytes, and
//! the connection writes them with one vectored write.
//!
//! Why: a Fetch response is mostly record bytes that storage already holds
//! in memory, as a slice of a sealed segment's mapping or a buffer read
//! from the active one. `kafka-protocol` encodes a `bytes` field with
//! `put_slice`, so a plain buffer would copy every record once more.
//! [`ChunkedFrame`] is the buffer it encodes into instead: its `put_slice`
//! recognises the record sets of the response by address and length, and
//! keeps a clone of that `Bytes` (a reference count, not a copy) as a chunk
//! of its own. Everything else is appended to one growing buffer that is
//! cut into a chunk whenever a record set interrupts it.
//!
//! The encoder writes the record sets in the order the response lists
//! them, so recognising one is a single comparison with the next expected
//! set. A slice that does not match is copied, which is always correct,
//! only slower; a debug assertion catches that regression in tests.
//!
//! The size prefix is computed before anything is written (see
//! `sluice_protocol::encode_response_into`), so the buffer is only ever
//! appended to; seeking back into a record chunk is impossible and guarded
//! by an assertion (message encoders never seek; only record encoders do).
//!
//! Every other response is one chunk, encoded as before.

use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::ApiKey;
use sluice_protocol::kafka_protocol::protocol::buf::ByteBufMut;
use sluice_protocol::{encode_response, encode_response_into, ProtocolError, ResponseKind};

/// Encoded bytes guessed per partition of a Fetch response (the fixed
/// fields and the records length), to size the buffer once.
const ENCODED_BYTES_PER_PARTITION: usize = 96;

/// Encodes a response as a whole frame, in chunks to write in order: for
/// Fetch, the record sets are chunks of their own and never copied; any
/// other response is one chunk.
///
/// # Errors
/// As [`sluice_protocol::encode_response`].
pub fn encode_response_chunks(
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    body: &ResponseKind,
) -> Result<Vec<Bytes>, ProtocolError> {
    let ResponseKind::Fetch(fetch) = body else {
        return encode_response(correlation_id, api_key, api_version, body)
            .map(|frame| vec![frame]);
    };
    let records: Vec<Bytes> = fetch
        .responses
        .iter()
        .flat_map(|topic| &topic.partitions)
        .filter_map(|partition| partition.records.clone())
        .filter(|records| !records.is_empty())
        .collect();
    if records.is_empty() {
        return encode_response(correlation_id, api_key, api_version, body)
            .map(|frame| vec![frame]);
    }
    let partitions: usize = fetch
        .responses
        .iter()
        .map(|topic| topic.partitions.len())
        .sum();
    let mut frame = ChunkedFrame::new(records, 64 + partitions * ENCODED_BYTES_PER_PARTITION);
    encode_response_into(correlation_id, api_key, api_version, body, &mut frame)?;
    debug_assert!(
        frame.all_records_chunked(),
        "a record set was copied into the frame"
    );
    Ok(frame.into_chunks())
}

/// A frame under construction as a list of chunks; see the module docs.
pub struct ChunkedFrame {
    /// Finished chunks, in wire order.
    chunks: Vec<Bytes>,
    /// Bytes in `chunks`: where `current` starts in the frame.
    chunked_bytes: usize,
    /// Encoded bytes written since the last record chunk.
    current: BytesMut,
    /// The record sets to keep as chunks, in the order they are written.
    records: Vec<Bytes>,
    /// Index in `records` of the next set expected.
    next_record: usize,
}

impl ChunkedFrame {
    /// A frame that will keep `records` (non-empty, in encoding order) as
    /// chunks of their own; `encoded_bytes` sizes the buffer for the rest.
    pub fn new(records: Vec<Bytes>, encoded_bytes: usize) -> Self {
        ChunkedFrame {
            chunks: Vec::with_capacity(2 * records.len() + 1),
            chunked_bytes: 0,
            current: BytesMut::with_capacity(encoded_bytes),
            records,
            next_record: 0,
        }
    }

    /// True once every record set has become a chunk.
    pub fn all_records_chunked(&self) -> bool {
        self.next_record == self.records.len()
    }

    /// The chunks, in wire order.
    pub fn into_chunks(mut self) -> Vec<Bytes> {
        self.cut_current();
        self.chunks
    }

    /// Ends the current encoded piece as a chunk (the buffer keeps its
    /// remaining capacity for the next piece).
    fn cut_current(&mut self) {
        if !self.current.is_empty() {
            let piece = self.current.split().freeze();
            self.chunked_bytes += piece.len();
            self.chunks.push(piece);
        }
    }

    /// The next expected record set, if `src` is exactly it.
    fn record_set_at(&self, src: &[u8]) -> Option<&Bytes> {
        let expected = self.records.get(self.next_record)?;
        (src.as_ptr() == expected.as_ptr() && src.len() == expected.len()).then_some(expected)
    }
}

// SAFETY: every method that hands out or commits uninitialised memory
// delegates to the `BytesMut` in `current`, which upholds the contract;
// `put_slice` only appends through safe `BytesMut` methods or pushes a
// whole `Bytes`.
unsafe impl BufMut for ChunkedFrame {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of `chunk_mut`, which
        // is `current`'s.
        unsafe { self.current.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if let Some(records) = self.record_set_at(src).cloned() {
            self.cut_current();
            self.chunked_bytes += records.len();
            self.chunks.push(records);
            self.next_record += 1;
        } else {
            self.current.extend_from_slice(src);
        }
    }
}

impl ByteBufMut for ChunkedFrame {
    fn offset(&self) -> usize {
        self.chunked_bytes + self.current.len()
    }

    fn seek(&mut self, offset: usize) {
        assert!(
            offset >= self.chunked_bytes,
            "seek to byte {offset} of a chunked frame, before its last chunk ({})",
            self.chunked_bytes
        );
        self.current.resize(offset - self.chunked_bytes, 0);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        assert!(
            r.start >= self.chunked_bytes,
            "range {r:?} of a chunked frame reaches into a finished chunk (ends at {})",
            self.chunked_bytes
        );
        &mut self.current[r.start - self.chunked_bytes..r.end - self.chunked_bytes]
    }
}

#[cfg(test)]
mod tests {
    use sluice_batch::{BatchBuilder, BatchOptions};
    use sluice_protocol::kafka_protocol::messages::fetch_response::{
        FetchableTopicResponse, PartitionData,
    };
    use sluice_protocol::kafka_protocol::messages::{FetchResponse, TopicName};
    use sluice_storage::{LogConfig, Partition};
    use sluice_types::{Offset, Timestamp};

    use super::*;

    fn batch(values: &[&str]) -> Bytes {
        let mut builder = BatchBuilder::new(BatchOptions::default());
        for value in values {
            builder
                .push(Timestamp(1_000), None, Some(value.as_bytes()), &[])
                .unwrap();
        }
        builder.build().unwrap()
    }

    fn fetch_response(records: &[Bytes]) -> ResponseKind {
        let partitions = records
            .iter()
            .enumerate()
            .map(|(index, records)| {
                PartitionData::default()
                    .with_partition_index(index as i32)
                    .with_high_watermark(7)
                    .with_records(Some(records.clone()))
            })
            .collect();
        ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(TopicName("orders".into()))
                .with_partitions(partitions),
        ]))
    }

    /// The proof of zero-copy: records read from a real partition (one
    /// sealed segment, mapped; one active segment, read) end up in the
    /// frame as the very same memory, and the chunks still spell out
    /// exactly the frame the copying encoder writes.
    #[test]
    fn fetch_records_are_chunks_of_the_stored_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = Partition::open(dir.path(), "orders-0", LogConfig::default()).unwrap();
        log.append(batch(&["a", "b", "c"])).unwrap();
        log.append(batch(&["d"])).unwrap();
        log.roll().unwrap();
        log.append(batch(&["e", "f"])).unwrap();
        let sealed = log.read(Offset(0), 1 << 20).unwrap().batches;
        let active = log.read(Offset(4), 1 << 20).unwrap().batches;
        assert!(!sealed.is_empty() && !active.is_empty());

        for version in [4, 11, 12] {
            let body = fetch_response(&[sealed.clone(), Bytes::new(), active.clone()]);
            let chunks = encode_response_chunks(3, ApiKey::Fetch, version, &body).unwrap();
            let copied = encode_response(3, ApiKey::Fetch, version, &body).unwrap();
            assert_eq!(chunks.concat(), copied.to_vec(), "v{version}");
            for stored in [&sealed, &active] {
                let chunk = chunks
                    .iter()
                    .find(|chunk| chunk.len() == stored.len() && chunk.as_ptr() == stored.as_ptr());
                assert!(chunk.is_some(), "v{version}: records were copied");
            }
            let encoded_bytes: usize =
                chunks.iter().map(Bytes::len).sum::<usize>() - sealed.len() - active.len();
            assert!(
                encoded_bytes < 200,
                "v{version}: {encoded_bytes} bytes besides the records"
            );
        }
        log.close().unwrap();
    }

    #[test]
    fn other_responses_are_one_chunk() {
        let body = fetch_response(&[Bytes::new()]);
        let chunks = encode_response_chunks(1, ApiKey::Fetch, 12, &body).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0],
            encode_response(1, ApiKey::Fetch, 12, &body).unwrap()
        );
    }

    #[test]
    fn a_slice_that_only_looks_like_the_records_is_copied() {
        let records = batch(&["x"]);
        let lookalike = records.to_vec();
        let mut frame = ChunkedFrame::new(vec![records.clone()], 16);
        frame.put_slice(&lookalike);
        assert!(!frame.all_records_chunked());
        frame.put_slice(&records[..1]);
        assert!(
            !frame.all_records_chunked(),
            "a prefix is not the record set"
        );
        frame.put_slice(&records);
        assert!(frame.all_records_chunked());
        let chunks = frame.into_chunks();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].as_ptr(), records.as_ptr());
    }

    #[test]
    #[should_panic(expected = "before its last chunk")]
    fn seeking_back_into_a_record_chunk_is_refused() {
        let records = batch(&["x"]);
        let mut frame = ChunkedFrame::new(vec![records.clone()], 16);
        frame.put_i32(1);
        frame.put_slice(&records);
        frame.seek(2);
    }
}
