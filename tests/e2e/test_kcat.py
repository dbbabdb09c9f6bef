"""kcat (librdkafka 2.0 inside) against Sluice: produce keyed records, consume
them back, list metadata."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict

import pytest

from topics import create_topic

TOPIC = "kcat-keyed"
PARTITIONS = 3
RECORDS = 2_000
KEYS = 50
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def kcat() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat is not installed: run `bash .ci/run` or `apt-get install -y kcat`", pytrace=False)
    return path


def run_kcat(kcat: str, *args: str, stdin: str = "") -> str:
    result = subprocess.run([kcat, *args], input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, f"kcat {' '.join(args)} exited {result.returncode}: {result.stderr}"
    return result.stdout


def test_keyed_records_round_trip(broker, kcat):
    create_topic(broker.bootstrap, TOPIC, PARTITIONS)
    sent = [(f"key-{i % KEYS}", f"value-{i}") for i in range(RECORDS)]
    # -K: splits each line at the first ':' into key and value. acks=all
    # and a delivery check: kcat exits non-zero if a record is not delivered.
    lines = "".join(f"{key}:{value}\n" for key, value in sent)
    run_kcat(kcat, "-P", "-b", broker.bootstrap, "-t", TOPIC, "-K:", "-X", "acks=all", stdin=lines)

    output = run_kcat(kcat, "-C", "-b", broker.bootstrap, "-t", TOPIC, "-e", "-o", "beginning", "-J", "-q")
    received = [json.loads(line) for line in output.splitlines() if line.strip()]

    assert len(received) == RECORDS
    assert sorted((r["key"], r["payload"]) for r in received) == sorted(sent)

    # Kafka's default partitioner: one key, one partition; within it the
    # records keep the order they were produced in.
    partitions_of_key = defaultdict(set)
    values_of_key = defaultdict(list)
    for record in sorted(received, key=lambda r: (r["partition"], r["offset"])):
        partitions_of_key[record["key"]].add(record["partition"])
        values_of_key[record["key"]].append(record["payload"])
    assert all(len(partitions) == 1 for partitions in partitions_of_key.values()), partitions_of_key
    for key, values in values_of_key.items():
        assert values == [value for k, value in sent if k == key], f"order of key {key}"

    # Offsets of each partition are dense from 0.
    by_partition = defaultdict(list)
    for record in received:
        by_partition[record["partition"]].append(record["offset"])
    assert set(by_partition) <= set(range(PARTITIONS))
    for partition, offsets in by_partition.items():
        assert sorted(offsets) == list(range(len(offsets))), f"offsets of partition {partition}"


def test_metadata_lists_topic_and_partitions(broker, kcat):
    create_topic(broker.bootstrap, TOPIC, PARTITIONS)
    create_topic(broker.bootstrap, "kcat-other", 1)

    listing = json.loads(run_kcat(kcat, "-L", "-b", broker.bootstrap, "-J"))

    brokers = listing["brokers"]
    assert len(brokers) == 1
    assert brokers[0]["name"] == broker.bootstrap
    topics = {topic["topic"]: topic for topic in listing["topics"]}
    assert {TOPIC, "kcat-other"} <= set(topics)
    topic = topics[TOPIC]
    assert "err" not in topic, topic
    assert sorted(p["partition"] for p in topic["partitions"]) == list(range(PARTITIONS))
    for partition in topic["partitions"]:
        assert partition["leader"] == brokers[0]["id"]
        assert partition["replicas"] == [{"id": brokers[0]["id"]}]
        assert partition["isrs"] == [{"id": brokers[0]["id"]}]
    assert len(topics["kcat-other"]["partitions"]) == 1

    # The plain text listing names the topic and its partition count too.
    text = run_kcat(kcat, "-L", "-b", broker.bootstrap, "-t", TOPIC)
    assert f'topic "{TOPIC}" with {PARTITIONS} partitions:' in text
