"""Pipelines end to end: `sluice serve --pipelines DIR` on the embedded
broker with the bundled `file` source and sink connectors.

- 100,000 records flow from a file through a topic to a file sink; Sluice
  is SIGKILLed mid-stream and restarted; the sink ends with every record
  (content checked), duplicates only from the replay after the kill.
- A second sink added while records flow ends with exactly the records of
  the first.
- A transform's `.wasm` is replaced 10 times while 100,000 records flow:
  every record comes out exactly once, each stamped with the one plugin
  version that processed it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from sluice_process import BrokerProcess, wait_until

WORKSPACE = Path(__file__).resolve().parents[2]
COMPONENTS = WORKSPACE / "target" / "wasm"
RECORDS = 100_000


@pytest.fixture(autouse=True)
def need_components():
    for name in ("file-source", "file-sink", "passthrough"):
        if not (COMPONENTS / f"{name}.wasm").is_file():
            pytest.fail(f"{COMPONENTS}/{name}.wasm is missing: run `cargo xtask wasm`", pytrace=False)


def event(i: int) -> dict:
    return {"id": i, "user": f"user-{i % 977}", "page": f"/p/{i % 13}", "n": i * 7}


def write_events(path: Path, start: int, end: int) -> None:
    with open(path, "a") as out:
        for i in range(start, end):
            out.write(json.dumps(event(i)) + "\n")


def read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = []
    with open(path) as f:
        for line in f:
            if line.endswith("\n"):
                lines.append(json.loads(line))
    return lines


def line_count(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def start_sluice(sluice_binary: Path, tmp_path: Path, pipelines: Path) -> BrokerProcess:
    process = BrokerProcess(
        sluice_binary,
        tmp_path,
        extra_args=("--pipelines", str(pipelines), "--components", str(COMPONENTS)),
    )
    process.start()
    return process


def status(sluice_binary: Path, process: BrokerProcess, name: str) -> dict:
    result = subprocess.run(
        [str(sluice_binary), "pipeline", "status", name, "--json", "--http", f"127.0.0.1:{process.http_port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def file_pipeline(io_dir: Path, sink_path: str = "out.jsonl") -> str:
    return f"""
name = "clicks"

[topics.events]
partitions = 4

[sources.input]
connector = "file"
topic = "events"
config = {{ path = "in.jsonl", format = "jsonl", key = "id" }}
grants = {{ files = "{io_dir}" }}

[sinks.out]
connector = "file"
from = "events"
config = {{ path = "{sink_path}" }}
grants = {{ files = "{io_dir}" }}
"""


def test_sigkill_mid_stream_loses_nothing(sluice_binary: Path, tmp_path: Path):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "clicks.toml").write_text(file_pipeline(io_dir))
    # Most records are in the file before Sluice starts, so it is killed
    # while the source is reading and the sink writing.
    write_events(io_dir / "in.jsonl", 0, 80_000)
    sluice = start_sluice(sluice_binary, tmp_path, pipelines)
    try:
        out = io_dir / "out.jsonl"
        wait_until(lambda: line_count(out) >= 5_000, 120, "the sink to write 5,000 records", interval_s=0.01)
        report = status(sluice_binary, sluice, "clicks")
        stages = {stage["id"]: stage for stage in report["stages"]}
        assert set(stages) == {"source:input", "sink:out"}
        assert stages["sink:out"]["state"] == "running"
        assert stages["sink:out"]["records_out"] > 0
        sluice.kill()
        before_restart = line_count(out)
        assert before_restart < 80_000, "the sink had finished before the kill"

        write_events(io_dir / "in.jsonl", 80_000, RECORDS)
        sluice.start()

        def all_ids() -> bool:
            return len({line["value"]["id"] for line in read_lines(out)}) >= RECORDS

        wait_until(all_ids, 240, f"the sink to hold all {RECORDS} records", interval_s=1)
        lines = read_lines(out)
        ids = Counter(line["value"]["id"] for line in lines)
        assert set(ids) == set(range(RECORDS))
        for line in lines:
            assert line["value"] == event(line["value"]["id"])
            assert line["key"] == str(line["value"]["id"])
            assert line["topic"] == "events"
            assert 0 <= line["partition"] < 4
        duplicates = sum(n - 1 for n in ids.values())
        # Only records read again after the kill may repeat (the file sink
        # is not idempotent): at most what was in flight, never most of it.
        assert duplicates < RECORDS // 2, f"{duplicates} duplicates"
        # One partition's records stay in offset order.
        last: dict[int, int] = {}
        for line in lines:
            p, offset = line["partition"], line["offset"]
            assert offset > last.get(p, -1) or ids[line["value"]["id"]] > 1
            last[p] = offset
        print(f"sink lines {len(lines)}, duplicates {duplicates}, before kill {before_restart}")
    finally:
        if sluice.started:
            sluice.stop()


def test_second_sink_added_later_replays_from_offset_zero(sluice_binary: Path, tmp_path: Path):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "clicks.toml").write_text(file_pipeline(io_dir))
    sluice = start_sluice(sluice_binary, tmp_path, pipelines)
    try:
        written = 0
        for chunk_end in range(10_000, 40_001, 10_000):
            write_events(io_dir / "in.jsonl", written, chunk_end)
            written = chunk_end
            time.sleep(0.2)
        wait_until(lambda: line_count(io_dir / "out.jsonl") >= 10_000, 120, "the first sink to start writing")
        (pipelines / "replay.toml").write_text(
            f"""
[sinks.copy]
connector = "file"
from = "events"
start = "earliest"
config = {{ path = "copy.jsonl" }}
grants = {{ files = "{io_dir}" }}
"""
        )
        # Records keep flowing while the new sink catches up.
        for chunk_end in range(50_000, RECORDS + 1, 10_000):
            write_events(io_dir / "in.jsonl", written, chunk_end)
            written = chunk_end
            time.sleep(0.3)
        for name in ("out.jsonl", "copy.jsonl"):
            wait_until(lambda: line_count(io_dir / name) >= RECORDS, 240, f"{name} to hold {RECORDS} records", interval_s=1)
        time.sleep(1)
        first = read_lines(io_dir / "out.jsonl")
        second = read_lines(io_dir / "copy.jsonl")
        assert len(first) == RECORDS
        key = lambda line: (line["partition"], line["offset"])  # noqa: E731
        assert sorted(first, key=key) == sorted(second, key=key)
        report = status(sluice_binary, sluice, "replay")
        assert [stage["id"] for stage in report["stages"]] == ["sink:copy"]
        assert report["stages"][0]["records_out"] == RECORDS
    finally:
        if sluice.started:
            sluice.stop()


def with_custom_section(component: bytes, tag: str) -> bytes:
    """The same component with a custom section appended: a new file (and
    digest) that behaves identically."""

    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            if n:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)

    name = b"sluice-test"
    payload = leb(len(name)) + name + tag.encode()
    return component + b"\x00" + leb(len(payload)) + payload


def test_transform_swapped_ten_times_processes_each_record_once(sluice_binary: Path, tmp_path: Path):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    original = (COMPONENTS / "passthrough.wasm").read_bytes()
    plugin = plugins / "clean.wasm"
    plugin.write_bytes(with_custom_section(original, "v0"))
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "clicks.toml").write_text(
        f"""
[topics.raw]
partitions = 2
[topics.clean]
partitions = 2

[sources.input]
connector = "file"
topic = "raw"
config = {{ path = "in.jsonl", key = "id" }}
grants = {{ files = "{io_dir}" }}

[transforms.clean]
from = "raw"
to = "clean"
plugin = "{plugin}"

[sinks.out]
connector = "file"
from = "clean"
config = {{ path = "out.jsonl" }}
grants = {{ files = "{io_dir}" }}
"""
    )
    sluice = start_sluice(sluice_binary, tmp_path, pipelines)
    try:
        out = io_dir / "out.jsonl"
        written = 0
        step = RECORDS // 11
        for version in range(1, 11):
            write_events(io_dir / "in.jsonl", written, written + step)
            written += step
            wait_until(lambda: line_count(out) >= written - step // 2, 120, f"records before swap {version}")
            temp = plugins / "clean.wasm.tmp"
            temp.write_bytes(with_custom_section(original, f"v{version}"))
            os.replace(temp, plugin)
            time.sleep(0.8)
        write_events(io_dir / "in.jsonl", written, RECORDS)
        wait_until(lambda: line_count(out) >= RECORDS, 240, f"all {RECORDS} records", interval_s=1)
        time.sleep(1)
        lines = read_lines(out)
        ids = Counter(line["value"]["id"] for line in lines)
        assert set(ids) == set(range(RECORDS))
        assert max(ids.values()) == 1, "a record came out twice"
        versions_seen = []
        for line in lines:
            assert line["value"] == event(line["value"]["id"])
            versions = [v for k, v in line["headers"].items() if k == "sluice.transform.version"]
            assert len(versions) == 1, line["headers"]
            versions_seen.append(versions[0])
        distinct = list(dict.fromkeys(versions_seen))
        assert len(distinct) >= 6, f"only {len(distinct)} plugin versions processed records: {distinct}"
        report = status(sluice_binary, sluice, "clicks")
        stages = {stage["id"]: stage for stage in report["stages"]}
        assert stages["transform:clean"]["version"] == distinct[-1]
        print(f"{len(distinct)} versions processed records")
    finally:
        if sluice.started:
            sluice.stop()


def consume_json(sluice_binary: Path, process: BrokerProcess, topic: str, count: int) -> list[dict]:
    result = subprocess.run(
        [str(sluice_binary), "consume", topic, "-n", str(count), "--format", "json", "--brokers", process.bootstrap],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_trapping_transform_dead_letters_its_records_while_the_rest_flows(sluice_binary: Path, tmp_path: Path):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "clicks.toml").write_text(
        f"""
[topics.raw]
partitions = 2
[topics.broken]
partitions = 1

[sources.input]
connector = "file"
topic = "raw"
config = {{ path = "in.jsonl", key = "id" }}
grants = {{ files = "{io_dir}" }}

[transforms.bad]
from = "raw"
to = "broken"
plugin = "misbehave"
config = {{ mode = "trap" }}
# misbehave imports `http` for its "http" mode; this stage never uses it.
grants = {{ http = ["127.0.0.1:9"] }}

[sinks.out]
connector = "file"
from = "raw"
config = {{ path = "out.jsonl" }}
grants = {{ files = "{io_dir}" }}
"""
    )
    write_events(io_dir / "in.jsonl", 0, 1_000)
    sluice = start_sluice(sluice_binary, tmp_path, pipelines)
    try:
        wait_until(lambda: line_count(io_dir / "out.jsonl") >= 1_000, 120, "the sink to get every record")
        letters = consume_json(sluice_binary, sluice, "clicks.dlq", 1_000)
        assert sorted(json.loads(letter["value"])["id"] for letter in letters) == list(range(1_000))
        for letter in letters:
            headers = dict((h["key"], h["value"]) for h in letter["headers"]) if isinstance(letter["headers"], list) else letter["headers"]
            assert "trapped" in headers["sluice.error"], headers
            assert headers["sluice.stage"] == "transform:bad"
            assert headers["sluice.component"] == "misbehave"
            assert len(headers["sluice.component.version"]) == 12
            assert headers["sluice.topic"] == "raw"
            assert headers["sluice.partition"] in ("0", "1")
            assert int(headers["sluice.offset"]) >= 0
        report = status(sluice_binary, sluice, "clicks")
        stages = {stage["id"]: stage for stage in report["stages"]}
        assert stages["transform:bad"]["dead_lettered"] == 1_000
        assert stages["transform:bad"]["records_out"] == 0
        assert "trapped" in stages["transform:bad"]["last_error"]["message"]
        assert stages["sink:out"]["records_out"] == 1_000
    finally:
        if sluice.started:
            sluice.stop()


def test_a_plugin_version_that_fails_to_load_keeps_the_old_one_running(sluice_binary: Path, tmp_path: Path):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    plugin = plugins / "clean.wasm"
    plugin.write_bytes((COMPONENTS / "passthrough.wasm").read_bytes())
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "clicks.toml").write_text(
        f"""
[topics.raw]
[topics.clean]

[sources.input]
connector = "file"
topic = "raw"
config = {{ path = "in.jsonl" }}
grants = {{ files = "{io_dir}" }}

[transforms.clean]
from = "raw"
to = "clean"
plugin = "{plugin}"

[sinks.out]
connector = "file"
from = "clean"
config = {{ path = "out.jsonl" }}
grants = {{ files = "{io_dir}" }}
"""
    )
    sluice = start_sluice(sluice_binary, tmp_path, pipelines)
    try:
        write_events(io_dir / "in.jsonl", 0, 100)
        wait_until(lambda: line_count(io_dir / "out.jsonl") >= 100, 60, "the first records")
        version = status(sluice_binary, sluice, "clicks")["stages"]
        version = {s["id"]: s for s in version}["transform:clean"]["version"]
        plugin.write_bytes(b"\x00asm\x0d\x00\x01\x00garbage")
        report = wait_until(
            lambda: (lambda r: r if r.get("error") else None)(status(sluice_binary, sluice, "clicks")),
            30,
            "the refused version to be reported",
            interval_s=0.3,
        )
        assert "clean.wasm is not a Wasm component" in report["error"], report["error"]
        stage = {s["id"]: s for s in report["stages"]}["transform:clean"]
        assert stage["version"] == version
        assert stage["state"] == "running"
        write_events(io_dir / "in.jsonl", 100, 200)
        wait_until(lambda: line_count(io_dir / "out.jsonl") >= 200, 60, "records after the refused version")

        # A component that loads but whose `init` refuses the stage's config
        # (filter needs a predicate): refused at the swap, the old one runs on.
        temp = plugins / "clean.wasm.tmp"
        temp.write_bytes((COMPONENTS / "filter.wasm").read_bytes())
        os.replace(temp, plugin)

        def refused():
            stage = {s["id"]: s for s in status(sluice_binary, sluice, "clicks")["stages"]}["transform:clean"]
            message = (stage["last_error"] or {}).get("message", "")
            return stage if "new version refused, old one kept" in message else None

        stage = wait_until(refused, 30, "the init failure to be reported", interval_s=0.3)
        assert "filter: config must have exactly one of" in stage["last_error"]["message"]
        assert stage["version"] == version
        write_events(io_dir / "in.jsonl", 200, 300)
        wait_until(lambda: line_count(io_dir / "out.jsonl") >= 300, 60, "records after the refused init")
        ids = [line["value"]["id"] for line in read_lines(io_dir / "out.jsonl")]
        assert sorted(ids) == list(range(300))
    finally:
        if sluice.started:
            sluice.stop()


def test_a_changed_pipeline_file_restarts_only_the_changed_stages(sluice_binary: Path, tmp_path: Path):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()

    def pipeline(b_path: str, with_a: bool = True) -> str:
        a = f"""
[sinks.a]
connector = "file"
from = "events"
config = {{ path = "a.jsonl" }}
grants = {{ files = "{io_dir}" }}
""" if with_a else ""
        return f"""
name = "clicks"
[topics.events]
partitions = 2

[sources.input]
connector = "file"
topic = "events"
config = {{ path = "in.jsonl" }}
grants = {{ files = "{io_dir}" }}
{a}
[sinks.b]
connector = "file"
from = "events"
config = {{ path = "{b_path}" }}
grants = {{ files = "{io_dir}" }}
"""

    (pipelines / "clicks.toml").write_text(pipeline("b1.jsonl"))
    sluice = start_sluice(sluice_binary, tmp_path, pipelines)
    try:
        def stages() -> dict:
            return {s["id"]: s for s in status(sluice_binary, sluice, "clicks")["stages"]}

        write_events(io_dir / "in.jsonl", 0, 1_000)
        wait_until(lambda: line_count(io_dir / "a.jsonl") >= 1_000 and line_count(io_dir / "b1.jsonl") >= 1_000, 60, "both sinks")
        # Only sink b changes: it restarts (its counters start over), the
        # source and sink a run on untouched.
        (pipelines / "clicks.toml").write_text(pipeline("b2.jsonl"))
        wait_until(lambda: stages()["sink:b"]["records_out"] == 0, 30, "sink b to restart", interval_s=0.2)
        assert stages()["sink:a"]["records_out"] == 1_000
        assert stages()["source:input"]["records_out"] == 1_000
        write_events(io_dir / "in.jsonl", 1_000, 1_500)
        wait_until(lambda: line_count(io_dir / "b2.jsonl") >= 500, 60, "sink b's new file")
        # Same group, so b carries on after its committed offsets.
        assert line_count(io_dir / "b2.jsonl") == 500
        wait_until(lambda: line_count(io_dir / "a.jsonl") >= 1_500, 60, "sink a")

        # A removed sink stops and keeps its offsets: added back, it resumes.
        (pipelines / "clicks.toml").write_text(pipeline("b2.jsonl", with_a=False))
        wait_until(lambda: "sink:a" not in stages(), 30, "sink a to stop", interval_s=0.2)
        write_events(io_dir / "in.jsonl", 1_500, 2_000)
        wait_until(lambda: line_count(io_dir / "b2.jsonl") >= 1_000, 60, "sink b")
        assert line_count(io_dir / "a.jsonl") == 1_500
        (pipelines / "clicks.toml").write_text(pipeline("b2.jsonl"))
        wait_until(lambda: line_count(io_dir / "a.jsonl") >= 2_000, 60, "sink a to resume")
        time.sleep(0.5)
        ids = [line["value"]["id"] for line in read_lines(io_dir / "a.jsonl")]
        assert sorted(ids) == list(range(2_000)), "sink a lost or repeated records across its removal"
    finally:
        if sluice.started:
            sluice.stop()


def test_a_slow_sink_falls_behind_without_slowing_ingest_or_other_sinks(sluice_binary: Path, tmp_path: Path):
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "clicks.toml").write_text(
        f"""
[topics.events]
partitions = 2

[sources.input]
connector = "file"
topic = "events"
config = {{ path = "in.txt", format = "lines" }}
grants = {{ files = "{io_dir}" }}

[sinks.fast]
connector = "file"
from = "events"
config = {{ path = "fast.jsonl" }}
grants = {{ files = "{io_dir}" }}

# A downstream store that takes 400 ms per flush.
[sinks.slow]
connector = "{COMPONENTS / 'probe-sink.wasm'}"
from = "events"
config = {{ path = "slow.jsonl", flush_delay_ms = 400 }}
grants = {{ files = "{io_dir}" }}
"""
    )
    records = 30_000
    lines = [f"click-{i}" for i in range(records)]
    lines[123] = "reject"  # the slow sink refuses this one: it goes to the dead-letter topic
    (io_dir / "in.txt").write_text("\n".join(lines) + "\n")
    sluice = start_sluice(sluice_binary, tmp_path, pipelines)
    try:
        wait_until(lambda: line_count(io_dir / "fast.jsonl") >= records, 60, "the fast sink to get every record")
        stages = {s["id"]: s for s in status(sluice_binary, sluice, "clicks")["stages"]}
        assert stages["source:input"]["records_out"] == records
        slow_so_far = line_count(io_dir / "slow.jsonl")
        assert slow_so_far < records - 1, "the slow sink kept up; nothing was slow"
        wait_until(
            lambda: ({s["id"]: s for s in status(sluice_binary, sluice, "clicks")["stages"]}["sink:slow"]["lag"] or 0) > 0,
            10,
            "the slow sink's lag to show",
            interval_s=0.1,
        )
        wait_until(lambda: line_count(io_dir / "slow.jsonl") >= records - 1, 180, "the slow sink to catch up", interval_s=1)
        letters = consume_json(sluice_binary, sluice, "clicks.dlq", 1)
        headers = letters[0]["headers"]
        headers = dict((h["key"], h["value"]) for h in headers) if isinstance(headers, list) else headers
        assert letters[0]["value"] == "reject"
        assert headers["sluice.error"] == "rejected by request"
        assert headers["sluice.stage"] == "sink:slow"
        print(f"fast sink done while the slow one had {slow_so_far} of {records}")
    finally:
        if sluice.started:
            sluice.stop()


def test_secret_values_stay_out_of_status_and_logs(sluice_binary: Path, tmp_path: Path):
    secret = "hunter2-very-secret"
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    # The sink's path holds the secret and leaves the granted directory,
    # so every flush fails with an error that quotes the path.
    (pipelines / "clicks.toml").write_text(
        f"""
[topics.events]

[sources.input]
connector = "file"
topic = "events"
config = {{ path = "in.jsonl" }}
grants = {{ files = "{io_dir}", secrets = {{ token = "${{env:SLUICE_TEST_SECRET}}" }} }}

[sinks.out]
connector = "file"
from = "events"
config = {{ path = "../${{env:SLUICE_TEST_SECRET}}.jsonl" }}
grants = {{ files = "{io_dir}" }}
"""
    )
    write_events(io_dir / "in.jsonl", 0, 10)
    os.environ["SLUICE_TEST_SECRET"] = secret
    try:
        sluice = start_sluice(sluice_binary, tmp_path, pipelines)
    finally:
        del os.environ["SLUICE_TEST_SECRET"]
    try:
        def sink_error():
            stage = {s["id"]: s for s in status(sluice_binary, sluice, "clicks")["stages"]}["sink:out"]
            return (stage["last_error"] or {}).get("message")

        message = wait_until(sink_error, 30, "the sink's error", interval_s=0.3)
        assert "***" in message, message
        result = subprocess.run(
            [str(sluice_binary), "pipeline", "status", "clicks", "--http", f"127.0.0.1:{sluice.http_port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert secret not in result.stdout + result.stderr
        assert "***" in result.stdout
    finally:
        sluice.stop()
    assert secret not in sluice.log_tail(lines=100_000)
