"""confluent-kafka (librdkafka inside) against Sluice: bulk produce with
acks=all and zstd, consumer groups (split, leave and take-over), committed
offsets across a broker restart."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from segment_files import batch_headers
from sluice_process import wait_until
from topics import create_topic

TIMEOUT_S = 120.0


def producer_for(broker, **settings) -> Producer:
    return Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", **settings})


def consumer_for(broker, group: str, **settings) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **settings,
        }
    )


class DeliveryReports:
    """Delivery reports of one producer: where each acknowledged record landed."""

    def __init__(self):
        self.acked: dict[bytes, tuple[int, int]] = {}
        self.errors: list[tuple[bytes, str]] = []

    def __call__(self, error, message):
        if error is not None:
            self.errors.append((message.value(), str(error)))
        else:
            self.acked[message.value()] = (message.partition(), message.offset())


def produce(producer: Producer, topic: str, records, reports: DeliveryReports) -> None:
    """Produces `records` ((partition or None, key, value) triples) and waits for every report."""
    for partition, key, value in records:
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=reports, **extra)
                break
            except BufferError:
                # The local queue is full: serve delivery reports to drain it.
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} records still undelivered after {TIMEOUT_S:.0f} s"


def consume_batch(consumer: Consumer, max_records: int = 1000, timeout_s: float = 0.2) -> list:
    messages = consumer.consume(num_messages=max_records, timeout=timeout_s)
    for message in messages:
        if message.error() is not None:
            raise KafkaException(message.error())
    return messages


def commit_after(consumer: Consumer, messages) -> None:
    """Commits, synchronously, the offset after each partition's last record in `messages`."""
    next_offsets = {}
    for message in messages:
        key = (message.topic(), message.partition())
        next_offsets[key] = max(next_offsets.get(key, 0), message.offset() + 1)
    if not next_offsets:
        return
    offsets = [
        TopicPartition(topic, partition, offset) for (topic, partition), offset in next_offsets.items()
    ]
    result = consumer.commit(offsets=offsets, asynchronous=False)
    failed = [tp for tp in result if tp.error is not None]
    if failed:
        raise KafkaException(failed[0].error)


def assigned_partitions(consumer: Consumer) -> set[int]:
    return {tp.partition for tp in consumer.assignment()}


# --- bulk produce and consume -------------------------------------------------

BULK_TOPIC = "bulk"
BULK_PARTITIONS = 4
BULK_RECORDS = 100_000


def bulk_value(i: int) -> bytes:
    # Distinct and self-describing, with some variety in length and content.
    return f"record-{i:06d}|{'abcdefghij' * (i % 12)}|{i * 7919 % 100_003}".encode()


def test_100k_records_acks_all_zstd_round_trip(broker):
    create_topic(broker.bootstrap, BULK_TOPIC, BULK_PARTITIONS)
    producer = producer_for(broker, **{"compression.type": "zstd", "linger.ms": 20})
    reports = DeliveryReports()
    started = time.monotonic()
    produce(
        producer,
        BULK_TOPIC,
        ((None, f"key-{i % 1000}".encode(), bulk_value(i)) for i in range(BULK_RECORDS)),
        reports,
    )
    produce_s = time.monotonic() - started

    assert reports.errors == []
    assert len(reports.acked) == BULK_RECORDS
    # Offsets are assigned densely from 0 in every partition.
    offsets_by_partition = defaultdict(list)
    for partition, offset in reports.acked.values():
        offsets_by_partition[partition].append(offset)
    assert set(offsets_by_partition) == set(range(BULK_PARTITIONS))
    for partition, offsets in offsets_by_partition.items():
        assert sorted(offsets) == list(range(len(offsets))), f"acked offsets of partition {partition}"

    consumer = consumer_for(broker, "bulk-reader")
    consumer.assign([TopicPartition(BULK_TOPIC, p, 0) for p in range(BULK_PARTITIONS)])
    received: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    duplicates = []
    started = time.monotonic()
    deadline = started + TIMEOUT_S
    while len(received) < BULK_RECORDS and time.monotonic() < deadline:
        for message in consume_batch(consumer, max_records=10_000, timeout_s=1.0):
            where = (message.partition(), message.offset())
            if where in received:
                duplicates.append(where)
            received[where] = (message.key(), message.value())
    consume_s = time.monotonic() - started
    consumer.close()

    assert duplicates == []
    assert (
        len(received) == BULK_RECORDS
    ), f"consumed {len(received)} of {BULK_RECORDS} within {TIMEOUT_S:.0f} s"
    for i in range(BULK_RECORDS):
        value = bulk_value(i)
        assert received[reports.acked[value]] == (f"key-{i % 1000}".encode(), value), f"record {i}"
    print(f"produced {BULK_RECORDS} records in {produce_s:.1f} s, consumed them in {consume_s:.1f} s")

    # The batches on disk are the batches the producer sent: proof that
    # zstd was really in play, which no consumer can see. librdkafka sends
    # a batch uncompressed when zstd would not make it smaller (a batch of
    # one short record), so a few records may travel without it.
    topic_dir = broker.data_dir / "topics" / BULK_TOPIC
    batches = [h for p in range(BULK_PARTITIONS) for h in batch_headers(topic_dir / str(p))]
    assert {h.codec for h in batches} <= {"zstd", "none"}
    assert sum(h.record_count for h in batches) == BULK_RECORDS
    in_zstd = sum(h.record_count for h in batches if h.codec == "zstd")
    assert in_zstd >= 0.99 * BULK_RECORDS, f"only {in_zstd} of {BULK_RECORDS} records in zstd batches"


# --- consumer groups -----------------------------------------------------------

GROUP_TOPIC = "orders"
GROUP_PARTITIONS = 4
PHASE_RECORDS = 2_000


def record_id(message) -> int:
    return int(message.value().decode().removeprefix("id-"))


def produce_ids(broker, ids) -> None:
    """Produces `id-N` for each N, round-robin over the partitions by id."""
    producer = producer_for(broker)
    reports = DeliveryReports()
    produce(producer, GROUP_TOPIC, ((i % GROUP_PARTITIONS, None, f"id-{i}".encode()) for i in ids), reports)
    assert reports.errors == []


def test_group_splits_partitions_and_survivor_resumes_from_commits(broker):
    create_topic(broker.bootstrap, GROUP_TOPIC, GROUP_PARTITIONS)
    # A session timeout far beyond the test's deadlines: the survivor takes
    # over only if the broker honours LeaveGroup, not because a silent
    # member timed out.
    session = {"session.timeout.ms": 300_000}
    first = consumer_for(broker, "order-workers", **{"client.id": "first", **session})
    second = consumer_for(broker, "order-workers", **{"client.id": "second", **session})
    first.subscribe([GROUP_TOPIC])
    second.subscribe([GROUP_TOPIC])

    # Both members join; the topic is still empty, so nothing is consumed
    # while the group settles.
    def split_evenly() -> bool:
        for member in (first, second):
            assert consume_batch(member, timeout_s=0.1) == []
        a, b = assigned_partitions(first), assigned_partitions(second)
        return len(a) == 2 and len(b) == 2 and a | b == set(range(GROUP_PARTITIONS))

    wait_until(split_evenly, TIMEOUT_S, "two members with two partitions each")
    first_partitions, second_partitions = assigned_partitions(first), assigned_partitions(second)

    # Phase 1: together the members read every record exactly once, each
    # from its own partitions only.
    produce_ids(broker, range(PHASE_RECORDS))
    seen = {first: [], second: []}

    def all_phase_one_read() -> bool:
        for member in (first, second):
            messages = consume_batch(member)
            seen[member].extend(messages)
            commit_after(member, messages)
        return sum(len(messages) for messages in seen.values()) >= PHASE_RECORDS

    wait_until(all_phase_one_read, TIMEOUT_S, f"the group to read {PHASE_RECORDS} records")
    assert {m.partition() for m in seen[first]} <= first_partitions
    assert {m.partition() for m in seen[second]} <= second_partitions
    phase_one_ids = [record_id(m) for messages in seen.values() for m in messages]
    assert sorted(phase_one_ids) == list(range(PHASE_RECORDS)), "each record exactly once"

    # Phase 2: `second` reads part of the new records, commits what it
    # read, and leaves. `first` is not polled meanwhile.
    produce_ids(broker, range(PHASE_RECORDS, 2 * PHASE_RECORDS))
    second_read = []

    def second_read_some() -> bool:
        second_read.extend(consume_batch(second, max_records=100))
        return len(second_read) >= 300

    wait_until(second_read_some, TIMEOUT_S, "the second member to read 300 new records")
    commit_after(second, second_read)
    per_partition_end = PHASE_RECORDS // GROUP_PARTITIONS
    committed_by_second = {p: per_partition_end for p in second_partitions}
    for message in second_read:
        committed_by_second[message.partition()] = max(
            committed_by_second[message.partition()], message.offset() + 1
        )
    reported = second.committed([TopicPartition(GROUP_TOPIC, p) for p in second_partitions], timeout=30)
    assert {tp.partition: tp.offset for tp in reported} == committed_by_second
    second.close()  # LeaveGroup: the broker rebalances without waiting for a session timeout.

    # Phase 3: the survivor takes all four partitions and resumes each one
    # at its committed offset.
    survivor = []
    uncommitted_ids = set()
    total_ids = set(range(2 * PHASE_RECORDS))
    committed_ids = set(phase_one_ids) | {record_id(m) for m in second_read}

    def survivor_caught_up() -> bool:
        messages = consume_batch(first)
        survivor.extend(messages)
        try:
            commit_after(first, messages)
        except KafkaException:
            # A commit that races a rebalance may fail; those records may
            # legitimately be delivered again.
            uncommitted_ids.update(record_id(m) for m in messages)
        read = committed_ids | {record_id(m) for m in survivor}
        return assigned_partitions(first) == set(range(GROUP_PARTITIONS)) and read >= total_ids

    wait_until(
        survivor_caught_up, TIMEOUT_S, "the remaining member to own all partitions and read every record"
    )
    first.close()

    by_partition = defaultdict(list)
    for message in survivor:
        by_partition[message.partition()].append(message.offset())
    for partition in second_partitions:
        offsets = by_partition[partition]
        start = committed_by_second[partition]
        assert offsets, f"partition {partition}: the survivor read nothing"
        assert offsets[0] == start, f"partition {partition}: resumed at {offsets[0]}, committed {start}"
        assert offsets == list(range(start, 2 * per_partition_end)), f"partition {partition}: gap or repeat"
    survivor_ids = Counter(record_id(m) for m in survivor)
    repeated = {i for i, count in survivor_ids.items() if count > 1} | (set(survivor_ids) & committed_ids)
    assert repeated <= uncommitted_ids, f"records delivered again although committed: {sorted(repeated)[:20]}"


# --- committed offsets across a restart ------------------------------------------

RESTART_TOPIC = "payments"


def test_committed_offsets_survive_restart(broker):
    create_topic(broker.bootstrap, RESTART_TOPIC, 2)
    reports = DeliveryReports()
    produce(
        producer_for(broker),
        RESTART_TOPIC,
        ((i % 2, None, f"payment-{i}".encode()) for i in range(200)),
        reports,
    )
    partitions = [TopicPartition(RESTART_TOPIC, p) for p in range(2)]
    to_commit = {0: 37, 1: 12}

    consumer = consumer_for(broker, "ledger")
    consumer.subscribe([RESTART_TOPIC])

    def joined() -> bool:
        consume_batch(consumer, timeout_s=0.1)
        return assigned_partitions(consumer) == {0, 1}

    wait_until(joined, TIMEOUT_S, "the consumer to be assigned both partitions")
    consumer.commit(
        offsets=[
            TopicPartition(RESTART_TOPIC, p, o, metadata=f"checkpoint-{p}") for p, o in to_commit.items()
        ],
        asynchronous=False,
    )
    before = consumer.committed(partitions, timeout=30)
    consumer.close()
    assert {tp.partition: (tp.offset, tp.metadata) for tp in before} == {
        p: (o, f"checkpoint-{p}") for p, o in to_commit.items()
    }

    broker.restart()

    consumer = consumer_for(broker, "ledger")
    after = consumer.committed(partitions, timeout=30)
    assert {tp.partition: (tp.offset, tp.metadata) for tp in after} == {
        tp.partition: (tp.offset, tp.metadata) for tp in before
    }

    # A member of the group resumes at the committed offsets.
    consumer.subscribe([RESTART_TOPIC])
    first_offsets = {}

    def read_from_each_partition() -> bool:
        for message in consume_batch(consumer):
            first_offsets.setdefault(message.partition(), message.offset())
        return len(first_offsets) == 2

    wait_until(read_from_each_partition, TIMEOUT_S, "a record from each partition after the restart")
    consumer.close()
    assert first_offsets == to_commit
