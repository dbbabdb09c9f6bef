"""A broker SIGKILLed under acks=all load keeps every record it acknowledged.

A confluent-kafka producer sends records with acks=all and records each
delivery report's (partition, offset, value). In the middle of the stream the
broker is SIGKILLed, then started again on the same data directory and port.
Every acknowledged record must be in the log at the offset the broker gave
it, with its value; records that were in flight when the broker died may be
retried by the producer and acknowledged at new offsets, which the check
covers too.
"""

from __future__ import annotations

import time
from collections import Counter

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from topics import create_topic

TOPIC = "crash"
PARTITIONS = 2
# Kill once this many records are acknowledged, then keep producing this
# many more so records are queued and in flight across the crash.
ACKED_BEFORE_KILL = 20_000
PRODUCED_AFTER_KILL = 5_000
TIMEOUT_S = 120.0


def test_sigkill_under_acks_all_loses_no_acknowledged_record(broker):
    create_topic(broker.bootstrap, TOPIC, PARTITIONS)
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "linger.ms": 2,
            # Long enough to outlive the restart: records queued while the
            # broker is down are delivered to the new process.
            "message.timeout.ms": 90_000,
            "reconnect.backoff.max.ms": 500,
        }
    )
    acked: dict[bytes, tuple[int, int]] = {}
    failed: list[tuple[bytes, str]] = []

    def on_delivery(error, message):
        if error is None:
            acked[message.value()] = (message.partition(), message.offset())
        else:
            failed.append((message.value(), str(error)))

    def send(i: int) -> None:
        while True:
            try:
                producer.produce(TOPIC, value=f"crash-{i:07d}".encode(), on_delivery=on_delivery)
                producer.poll(0)
                return
            except BufferError:
                producer.poll(0.05)

    deadline = time.monotonic() + TIMEOUT_S
    i = 0
    while len(acked) < ACKED_BEFORE_KILL:
        assert time.monotonic() < deadline, f"only {len(acked)} records acknowledged within {TIMEOUT_S:.0f} s"
        assert failed == [], failed[:5]
        send(i)
        i += 1
    broker.kill()
    acked_at_kill = len(acked)
    for _ in range(PRODUCED_AFTER_KILL):
        send(i)
        i += 1

    broker.start()
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} records neither delivered nor failed after {TIMEOUT_S:.0f} s"
    print(
        f"{i} records sent, {acked_at_kill} acknowledged before the kill, "
        f"{len(acked)} in all, {len(failed)} failed"
    )

    # No two acknowledged records share an offset.
    shared = [where for where, count in Counter(acked.values()).items() if count > 1]
    assert shared == [], f"{len(shared)} offsets were acknowledged for two records, e.g. {shared[:5]}"

    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "crash-check", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1] for p in range(PARTITIONS)
    }
    log: dict[tuple[int, int], bytes] = {}
    deadline = time.monotonic() + TIMEOUT_S
    while len(log) < sum(ends.values()):
        assert (
            time.monotonic() < deadline
        ), f"read {len(log)} of {sum(ends.values())} records within {TIMEOUT_S:.0f} s"
        for message in consumer.consume(num_messages=10_000, timeout=1.0):
            if message.error() is not None:
                raise KafkaException(message.error())
            log[(message.partition(), message.offset())] = message.value()
    consumer.close()

    missing = [(value, where) for value, where in acked.items() if log.get(where) != value]
    assert (
        missing == []
    ), f"{len(missing)} of {len(acked)} acknowledged records are not at their offset, e.g. " + ", ".join(
        f"{v.decode()} at {w} (found {log.get(w)!r})" for v, w in missing[:5]
    )
