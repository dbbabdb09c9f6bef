"""kafka-python (a pure-Python client, its own protocol code) against Sluice:
produce and consume round trip, offsets by timestamp."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from topics import create_topic

TIMEOUT_S = 120.0


def producer_for(broker) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", request_timeout_ms=30_000)


def consumer_for(broker) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=broker.bootstrap, enable_auto_commit=False, request_timeout_ms=30_000
    )


def test_round_trip(broker):
    topic, partitions, count = "kp-round-trip", 3, 3_000
    create_topic(broker.bootstrap, topic, partitions)
    producer = producer_for(broker)
    records = [(f"key-{i % 100}".encode(), f"value-{i}".encode()) for i in range(count)]
    futures = [(key, value, producer.send(topic, key=key, value=value)) for key, value in records]
    producer.flush(timeout=TIMEOUT_S)
    sent = {}
    for key, value, future in futures:
        metadata = future.get(timeout=TIMEOUT_S)
        sent[(metadata.partition, metadata.offset)] = (key, value)
    producer.close()
    assert len(sent) == count, "two records acknowledged at the same partition and offset"

    consumer = consumer_for(broker)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    received = {}
    deadline = time.monotonic() + TIMEOUT_S
    while len(received) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
            for record in records:
                assert (record.partition, record.offset) not in received, "record delivered twice"
                received[(record.partition, record.offset)] = (record.key, record.value)
    consumer.close()

    assert received == sent


def test_offsets_for_times_returns_first_offset_at_or_after(broker):
    topic = "kp-times"
    create_topic(broker.bootstrap, topic, 1)
    base_ms = int(time.time() * 1000) - 3_600_000
    # 300 records 10 ms apart, in three separately flushed groups so they
    # land in several batches.
    timestamps = [base_ms + 10 * i for i in range(300)]
    producer = producer_for(broker)
    for start in range(0, 300, 100):
        for i in range(start, start + 100):
            producer.send(topic, value=f"t-{i}".encode(), partition=0, timestamp_ms=timestamps[i])
        producer.flush(timeout=TIMEOUT_S)
    producer.close()

    consumer = consumer_for(broker)
    tp = TopicPartition(topic, 0)

    def lookup(timestamp_ms):
        answer = consumer.offsets_for_times({tp: timestamp_ms}, timeout_ms=30_000)[tp]
        return None if answer is None else (answer.offset, answer.timestamp)

    assert lookup(base_ms - 60_000) == (0, timestamps[0]), "before the first record: the first record"
    for i in (0, 1, 99, 100, 150, 200, 299):
        assert lookup(timestamps[i]) == (i, timestamps[i]), f"exactly the timestamp of offset {i}"
        if i < 299:
            assert lookup(timestamps[i] + 5) == (i + 1, timestamps[i + 1]), f"between offsets {i} and {i + 1}"
    assert lookup(timestamps[-1] + 1) is None, "after the last record: no offset"
    consumer.close()


def test_offsets_for_times_with_out_of_order_timestamps(broker):
    # Kafka's rule holds for any timestamps: the answer is the smallest
    # offset whose timestamp is at or after the one asked for.
    topic = "kp-times-unordered"
    create_topic(broker.bootstrap, topic, 1)
    base_ms = int(time.time() * 1000) - 3_600_000
    timestamps = [base_ms + delta for delta in (100, 300, 200, 400, 150, 500, 250, 450)]
    producer = producer_for(broker)
    for i, timestamp in enumerate(timestamps):
        producer.send(topic, value=f"u-{i}".encode(), partition=0, timestamp_ms=timestamp)
        if i % 3 == 2:
            producer.flush(timeout=TIMEOUT_S)
    producer.flush(timeout=TIMEOUT_S)
    producer.close()

    consumer = consumer_for(broker)
    tp = TopicPartition(topic, 0)
    for delta in (50, 120, 160, 210, 260, 310, 420, 460, 480):
        target = base_ms + delta
        expected = next(i for i, timestamp in enumerate(timestamps) if timestamp >= target)
        answer = consumer.offsets_for_times({tp: target}, timeout_ms=30_000)[tp]
        found = None if answer is None else (answer.offset, answer.timestamp)
        assert found == (expected, timestamps[expected]), f"timestamp +{delta} ms: got {answer}"
    assert consumer.offsets_for_times({tp: base_ms + 501}, timeout_ms=30_000)[tp] is None
    consumer.close()
