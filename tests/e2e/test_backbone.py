"""Past one machine: two Sluice workers run the same pipeline against an
external Kafka-compatible cluster (here a third Sluice, serving only as a
broker) with no embedded log of their own. They share the transform's and
the sink's partitions through consumer groups; when one is SIGKILLed, the
other takes its partitions over and every record still arrives.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from sluice_process import BrokerProcess, wait_until

WORKSPACE = Path(__file__).resolve().parents[2]
COMPONENTS = WORKSPACE / "target" / "wasm"


PIPELINE = """
name = "orders"

[topics.orders-in]
partitions = 4
[topics.orders-out]
partitions = 4

[transforms.clean]
from = "orders-in"
to = "orders-out"
plugin = "passthrough"

[sinks.store]
connector = "file"
from = "orders-out"
config = { path = "out.jsonl" }
grants = { files = "${env:SLUICE_TEST_OUT}" }
"""


def produce(binary: Path, brokers: str, start: int, end: int) -> None:
    lines = "".join(f"{i}:{json.dumps({'id': i})}\n" for i in range(start, end))
    result = subprocess.run(
        [str(binary), "produce", "orders-in", "--brokers", brokers, "--key-separator", ":"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def ids_in(*paths: Path) -> list[int]:
    ids = []
    for path in paths:
        if path.exists():
            with open(path) as f:
                for line in f:
                    if line.endswith("\n"):
                        ids.append(json.loads(line)["value"]["id"])
    return ids


def group_members(binary: Path, brokers: str, group: str) -> str:
    result = subprocess.run(
        [str(binary), "group", "describe", group, "--brokers", brokers],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout + result.stderr


def test_two_workers_share_partitions_and_survive_one_killed(sluice_binary: Path, tmp_path: Path):
    for name in ("file-sink", "passthrough"):
        if not (COMPONENTS / f"{name}.wasm").is_file():
            pytest.fail(f"{COMPONENTS}/{name}.wasm is missing: run `cargo xtask wasm`", pytrace=False)
    cluster = BrokerProcess(sluice_binary, tmp_path / "cluster")
    cluster.start()
    workers = []
    try:
        pipelines = tmp_path / "pipelines"
        pipelines.mkdir()
        (pipelines / "orders.toml").write_text(PIPELINE)
        settings = tmp_path / "sluice.toml"
        settings.write_text(f'[backbone]\nbrokers = "{cluster.bootstrap}"\n')
        outs = []
        for n in range(2):
            out_dir = tmp_path / f"out-{n}"
            out_dir.mkdir()
            outs.append(out_dir / "out.jsonl")
            worker = BrokerProcess(
                sluice_binary,
                tmp_path / f"worker-{n}",
                extra_args=(
                    "--config",
                    str(settings),
                    "--pipelines",
                    str(pipelines),
                    "--components",
                    str(COMPONENTS),
                ),
            )
            # Each worker's sink writes to a directory of its own.
            os.environ["SLUICE_TEST_OUT"] = str(out_dir)
            worker.start()
            workers.append(worker)
        del os.environ["SLUICE_TEST_OUT"]

        produce(sluice_binary, cluster.bootstrap, 0, 20_000)
        wait_until(lambda: set(ids_in(*outs)) >= set(range(20_000)), 120, "the first 20,000 records", interval_s=0.5)
        # The partitions were shared: both workers delivered records.
        assert ids_in(outs[0]) and ids_in(outs[1]), "one worker got no partitions"
        # The workers have no log of their own: the topics live in the cluster.
        assert not (tmp_path / "worker-0" / "data" / "topics").exists()

        # A sink added now that starts at a time: it gets exactly what comes
        # after (librdkafka has no such start; Sluice seeks by ListOffsets).
        since_ms = int(time.time() * 1000)
        time.sleep(0.05)
        (pipelines / "recent.toml").write_text(
            f"""
[sinks.recent]
connector = "file"
from = "orders-out"
start = "@{since_ms}"
config = {{ path = "recent.jsonl" }}
grants = {{ files = "${{env:SLUICE_TEST_OUT}}" }}
"""
        )
        recents = [out.parent / "recent.jsonl" for out in outs]
        time.sleep(3)

        workers[0].kill()
        produce(sluice_binary, cluster.bootstrap, 20_000, 40_000)
        wait_until(
            lambda: set(ids_in(*outs)) >= set(range(40_000)),
            120,
            "the surviving worker to take over and deliver all 40,000 records",
            interval_s=0.5,
        )
        ids = ids_in(*outs)
        assert set(ids) == set(range(40_000))
        wait_until(lambda: set(ids_in(*recents)) >= set(range(20_000, 40_000)), 60, "the sink started at a time")
        assert min(ids_in(*recents)) >= 20_000, "the sink started at a time got older records"
        after_kill = ids_in(outs[1])
        # Produced after the kill: only the survivor can have delivered them.
        assert set(range(20_000, 40_000)) <= set(after_kill)
        print(f"delivered {len(ids)} lines for 40000 records; worker 1 wrote {len(after_kill)}")
        print(group_members(sluice_binary, cluster.bootstrap, "orders.store"))
    finally:
        for worker in workers:
            if worker.started:
                worker.stop()
        cluster.stop()


def stage_state(binary: Path, worker: BrokerProcess, pipeline: str, stage: str) -> str:
    result = subprocess.run(
        [str(binary), "pipeline", "status", pipeline, "--json", "--http", f"127.0.0.1:{worker.http_port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return {s["id"]: s for s in json.loads(result.stdout)["stages"]}[stage]["state"]


def test_one_worker_runs_a_source_and_another_takes_it_over(sluice_binary: Path, tmp_path: Path):
    for name in ("file-source", "file-sink"):
        if not (COMPONENTS / f"{name}.wasm").is_file():
            pytest.fail(f"{COMPONENTS}/{name}.wasm is missing: run `cargo xtask wasm`", pytrace=False)
    cluster = BrokerProcess(sluice_binary, tmp_path / "cluster")
    cluster.start()
    workers = []
    try:
        shared = tmp_path / "shared"
        shared.mkdir()
        pipelines = tmp_path / "pipelines"
        pipelines.mkdir()
        (pipelines / "clicks.toml").write_text(
            f"""
name = "clicks"

[topics.clicks]
partitions = 2

[sources.input]
connector = "file"
topic = "clicks"
config = {{ path = "in.jsonl", key = "id" }}
grants = {{ files = "{shared}" }}

[sinks.store]
connector = "file"
from = "clicks"
config = {{ path = "out.jsonl" }}
grants = {{ files = "${{env:SLUICE_TEST_OUT}}" }}
"""
        )
        with open(shared / "in.jsonl", "w") as f:
            for i in range(20_000):
                f.write(json.dumps({"id": i}) + "\n")
        outs = []
        for n in range(2):
            out_dir = tmp_path / f"out-{n}"
            out_dir.mkdir()
            outs.append(out_dir / "out.jsonl")
            worker = BrokerProcess(
                sluice_binary,
                tmp_path / f"worker-{n}",
                extra_args=(
                    "--backbone",
                    cluster.bootstrap,
                    "--pipelines",
                    str(pipelines),
                    "--components",
                    str(COMPONENTS),
                ),
            )
            os.environ["SLUICE_TEST_OUT"] = str(out_dir)
            worker.start()
            workers.append(worker)
        del os.environ["SLUICE_TEST_OUT"]

        wait_until(lambda: set(ids_in(*outs)) >= set(range(20_000)), 120, "the first 20,000 records", interval_s=0.5)
        time.sleep(1)
        # One worker ran the source: every record was read once.
        assert len(ids_in(*outs)) == 20_000, "both workers read the file"
        states = [stage_state(sluice_binary, w, "clicks", "source:input") for w in workers]
        assert sorted(states) == ["running", "standby"], states
        holder = states.index("running")

        workers[holder].kill()
        with open(shared / "in.jsonl", "a") as f:
            for i in range(20_000, 40_000):
                f.write(json.dumps({"id": i}) + "\n")
        wait_until(
            lambda: set(ids_in(*outs)) >= set(range(40_000)),
            120,
            "the other worker to take the source over and deliver all 40,000 records",
            interval_s=0.5,
        )
        survivor = workers[1 - holder]
        assert stage_state(sluice_binary, survivor, "clicks", "source:input") == "running"
        ids = ids_in(*outs)
        # It resumed from the checkpoint saved in the cluster, not from the
        # start of the file: at most a batch in flight is read twice.
        assert len(ids) - 40_000 < 5_000, f"{len(ids) - 40_000} records read twice"
        print(f"{len(ids) - 40_000} records read twice after the takeover")
    finally:
        for worker in workers:
            if worker.started:
                worker.stop()
        cluster.stop()
