"""Topic creation for end-to-end tests, through the Kafka CreateTopics API.

Uses confluent-kafka's AdminClient, so tests need nothing from Sluice but
the Kafka protocol.
"""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from sluice_process import wait_until

TIMEOUT_S = 30.0


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Creates `name` with `partitions` partitions and waits until Metadata shows them all."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    try:
        futures[name].result(timeout=TIMEOUT_S)
    except TimeoutError:
        raise AssertionError(
            f"CreateTopics {name} ({partitions} partitions): no answer within {TIMEOUT_S:.0f} s"
        )

    def visible() -> bool:
        topic = admin.list_topics(topic=name, timeout=TIMEOUT_S).topics.get(name)
        return topic is not None and topic.error is None and len(topic.partitions) == partitions

    wait_until(visible, TIMEOUT_S, f"topic {name} with {partitions} partitions in Metadata")
