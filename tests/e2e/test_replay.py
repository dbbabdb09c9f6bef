"""`sluice replay`: one sink of a running pipeline run again over a range of
its topic, against `sluice serve --pipelines DIR` with the bundled `file`
source and sink connectors.

20,000 records flow from a file through a topic of 2 partitions to a file
sink (in two halves, with a timestamp noted between them). Then, while
Sluice keeps running:

- `--from earliest` writes every record to the sink file a second time;
- `--from 5000 --to 6000` writes exactly offsets [5000, 6000) of each
  partition once more;
- `--from @T` writes exactly the second half once more;
- the running sink's committed offsets do not move;
- an unknown sink, and a range that ends before it starts, exit 1.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from sluice_process import BrokerProcess, wait_until

WORKSPACE = Path(__file__).resolve().parents[2]
COMPONENTS = WORKSPACE / "target" / "wasm"
HALF = 10_000
RECORDS = 2 * HALF
SUMMARY = re.compile(
    r"^replayed (\d+) records \((\d+) written, (\d+) dead-lettered\) from events in \d+(\.\d+)? s$"
)


@pytest.fixture(autouse=True)
def need_components():
    for name in ("file-source", "file-sink"):
        if not (COMPONENTS / f"{name}.wasm").is_file():
            pytest.fail(f"{COMPONENTS}/{name}.wasm is missing: run `cargo xtask wasm`", pytrace=False)


def event(i: int) -> dict:
    return {"id": i, "user": f"user-{i % 977}", "n": i * 7}


def write_events(path: Path, start: int, end: int) -> None:
    with open(path, "a") as out:
        for i in range(start, end):
            out.write(json.dumps(event(i)) + "\n")


def read_lines(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def line_count(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return f.read().count(b"\n")


PIPELINE = """
name = "clicks"

[topics.events]
partitions = 2

[sources.input]
connector = "file"
topic = "events"
config = {{ path = "in.jsonl", format = "jsonl", key = "id" }}
grants = {{ files = "{io_dir}" }}

[sinks.out]
connector = "file"
from = "events"
config = {{ path = "out.jsonl" }}
grants = {{ files = "{io_dir}" }}
"""


def test_replay_ranges_of_a_running_sink(sluice_binary: Path, tmp_path: Path):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "clicks.toml").write_text(PIPELINE.format(io_dir=io_dir))
    out = io_dir / "out.jsonl"
    sluice = BrokerProcess(
        sluice_binary,
        tmp_path,
        extra_args=("--pipelines", str(pipelines), "--components", str(COMPONENTS)),
    )
    sluice.start()
    try:
        write_events(io_dir / "in.jsonl", 0, HALF)
        wait_until(lambda: line_count(out) >= HALF, 120, f"the sink to write {HALF} records", interval_s=0.2)
        # Every record of the first half was stamped before this instant,
        # every one of the second half after it.
        time.sleep(0.05)
        second_half_ms = int(time.time() * 1000)
        time.sleep(0.05)
        write_events(io_dir / "in.jsonl", HALF, RECORDS)
        wait_until(lambda: line_count(out) >= RECORDS, 120, f"the sink to write {RECORDS} records", interval_s=0.2)
        live = read_lines(out)
        assert sorted(line["value"]["id"] for line in live) == list(range(RECORDS))
        per_partition = Counter(line["partition"] for line in live)
        assert set(per_partition) == {0, 1}
        assert min(per_partition.values()) >= 6000, per_partition
        assert all(line["timestamp"] < second_half_ms for line in live if line["value"]["id"] < HALF)
        assert all(line["timestamp"] >= second_half_ms for line in live if line["value"]["id"] >= HALF)
        # The sink commits right after its flush.
        wait_until(
            lambda: all(p["lag"] == 0 for p in group_offsets(sluice_binary, sluice)),
            30,
            "the sink to commit its last offsets",
            interval_s=0.2,
        )
        offsets_before = group_offsets(sluice_binary, sluice)

        def replay(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [
                    str(sluice_binary), "replay", *args,
                    "--pipelines", str(pipelines),
                    "--components", str(COMPONENTS),
                    "--brokers", sluice.bootstrap,
                    "--data", str(sluice.data_dir),
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )

        def summary(result: subprocess.CompletedProcess) -> tuple[int, int, int]:
            assert result.returncode == 0, result.stderr
            match = SUMMARY.match(result.stdout.strip())
            assert match, result.stdout
            return int(match[1]), int(match[2]), int(match[3])

        # The whole topic: every record once more.
        assert summary(replay("clicks", "out", "--from", "earliest")) == (RECORDS, RECORDS, 0)
        lines = read_lines(out)
        assert len(lines) == 2 * RECORDS
        assert Counter(line["value"]["id"] for line in lines) == Counter({i: 2 for i in range(RECORDS)})
        for line in lines:
            assert line["value"] == event(line["value"]["id"])
            assert line["key"] == str(line["value"]["id"])
        # One copy of each (partition, offset) per run.
        assert Counter((l["partition"], l["offset"]) for l in lines[RECORDS:]) == Counter(
            (l["partition"], l["offset"]) for l in live
        )

        # Offsets [5000, 6000) of each partition.
        assert summary(replay("clicks", "out", "--from", "5000", "--to", "6000")) == (2000, 2000, 0)
        lines = read_lines(out)
        assert len(lines) == 2 * RECORDS + 2000
        ranged = lines[2 * RECORDS :]
        for partition in (0, 1):
            offsets = sorted(l["offset"] for l in ranged if l["partition"] == partition)
            assert offsets == list(range(5000, 6000)), partition

        # Records stamped at or after the instant between the halves.
        assert summary(replay("clicks", "out", "--from", f"@{second_half_ms}")) == (HALF, HALF, 0)
        lines = read_lines(out)
        assert len(lines) == 2 * RECORDS + 2000 + HALF
        assert sorted(l["value"]["id"] for l in lines[2 * RECORDS + 2000 :]) == list(range(HALF, RECORDS))

        # The running sink's group did not move, and it wrote nothing more.
        assert group_offsets(sluice_binary, sluice) == offsets_before
        time.sleep(1)
        assert line_count(out) == 2 * RECORDS + 2000 + HALF

        unknown = replay("clicks", "nope", "--from", "earliest")
        assert unknown.returncode == 1, unknown
        assert "no sink named" in unknown.stderr and "its sinks: out" in unknown.stderr, unknown.stderr

        backwards = replay("clicks", "out", "--from", "6000", "--to", "5000")
        assert backwards.returncode == 1, backwards
        assert "before it starts" in backwards.stderr, backwards.stderr
        assert line_count(out) == 2 * RECORDS + 2000 + HALF
    finally:
        if sluice.started:
            sluice.stop()


def group_offsets(sluice_binary: Path, sluice: BrokerProcess) -> list[dict]:
    result = subprocess.run(
        [str(sluice_binary), "group", "describe", "clicks.out", "--json", "--brokers", sluice.bootstrap],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    partitions = json.loads(result.stdout)["partitions"]
    assert {p["partition"] for p in partitions} == {0, 1}, partitions
    return sorted(partitions, key=lambda p: p["partition"])
