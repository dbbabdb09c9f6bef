"""`sluice transform run`: JSON-lines records through real components from
`target/wasm/` (built by `cargo xtask wasm`; `SLUICE_WASM_DIR` overrides).

Covers the record form in and out (JSON kept verbatim, strings, headers,
timestamps), a configured `mask`, the refusals that exit 2 (a file that is
not a component, a core module, bad --config, a config the guest refuses, a
malformed input line, bad flags), and `misbehave` in each mode: its batches
are dead-lettered with the cause, later batches still run, and the exit
status is 3.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

WORKSPACE = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


@pytest.fixture(scope="session")
def wasm_dir() -> Path:
    directory = Path(os.environ.get("SLUICE_WASM_DIR", WORKSPACE / "target" / "wasm"))
    missing = [name for name in ("passthrough", "mask", "misbehave") if not (directory / f"{name}.wasm").is_file()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing in {directory}: run `cargo xtask wasm`", pytrace=False)
    return directory


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    # One compiled-component cache for the session: each component is
    # compiled once, by the first test that runs it.
    return tmp_path_factory.mktemp("wasm-cache")


@pytest.fixture
def transform(sluice_binary, cache_dir):
    """Runs `sluice transform run ARGS` with `lines` on stdin."""

    def run(*args: str, lines: list[str] = ()) -> subprocess.CompletedProcess:
        stdin = "".join(line + "\n" for line in lines)
        env = {**os.environ, "SLUICE_CACHE_DIR": str(cache_dir)}
        return subprocess.run(
            [str(sluice_binary), "transform", "run", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=env,
        )

    return run


def output_records(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def dead_letters(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_passthrough_round_trips_records(transform, wasm_dir):
    lines = [
        # JSON objects and arrays travel as their exact text: spacing, number
        # spelling and member order included.
        '{"key": {"id": 7}, "value": {"b": 1e3, "a": [1.50, true]}, "headers": {"trace": "t-1", "none": null, "trace": "t-2"}, "timestamp": 1700000000123}',
        '{"key": "caf\\u00e9", "value": "say \\"hi\\"\\nbye", "timestamp": 1}',
        '{"key": 42, "value": false, "timestamp": 2}',
        '{"key": "k", "value": null, "timestamp": 3}',
        '{"value": [ 1 , 2 ], "timestamp": 4}',
    ]
    before_ms = int(time.time() * 1000)
    result = transform(str(wasm_dir / "passthrough.wasm"), "--batch", "2", lines=[*lines, "", '{"value": "now"}'])
    after_ms = int(time.time() * 1000)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == (
        '{"key":{"id": 7},"value":{"b": 1e3, "a": [1.50, true]},'
        '"headers":{"trace":"t-1","none":null,"trace":"t-2"},"timestamp":1700000000123}'
    )
    assert out[4] == '{"key":null,"value":[ 1 , 2 ],"headers":{},"timestamp":4}'
    records = output_records(result)
    assert len(records) == 6
    assert records[1] == {"key": "café", "value": 'say "hi"\nbye', "headers": {}, "timestamp": 1}
    # Scalars are passed on as their text.
    assert records[2] == {"key": "42", "value": "false", "headers": {}, "timestamp": 2}
    # A null value is a tombstone, and stays one.
    assert records[3] == {"key": "k", "value": None, "headers": {}, "timestamp": 3}
    # A record without a timestamp gets the time it was read.
    assert records[5]["value"] == "now"
    assert before_ms <= records[5]["timestamp"] <= after_ms
    assert all("target" not in record for record in records)

    # The output reads back as the same records.
    again = transform(str(wasm_dir / "passthrough.wasm"), lines=out)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == out


def test_mask_applies_its_config(transform, wasm_dir):
    config = json.dumps({"fields": ["email", "card.number"], "mode": "redact"})
    lines = [
        '{"key": "u1", "value": {"email": "ada@example.com", "card": {"number": "4111", "cvc": 1}, "n": 1.0}}',
        '{"key": "u2", "value": "not json"}',
    ]
    result = transform(str(wasm_dir / "mask.wasm"), "--config", config, lines=lines)
    assert result.returncode == 0, result.stderr
    records = output_records(result)
    assert records[0]["value"] == {"email": "***", "card": {"number": "***", "cvc": 1}, "n": 1.0}
    # mask keeps numbers as written.
    assert '"n":1.0' in result.stdout.splitlines()[0]
    assert records[1]["value"] == "not json"


def test_a_file_that_is_not_a_component_exits_2_saying_why(transform, tmp_path):
    garbage = tmp_path / "garbage.wasm"
    garbage.write_bytes(b"this is not wasm at all")
    result = transform(str(garbage))
    assert result.returncode == 2, result.stderr
    assert str(garbage) in result.stderr
    assert "is not a Wasm component" in result.stderr

    missing = transform(str(tmp_path / "missing.wasm"))
    assert missing.returncode == 2, missing.stderr
    assert "cannot read component" in missing.stderr


def test_a_core_module_exits_2_saying_to_build_a_component(transform, tmp_path):
    # The smallest valid core module: magic and version 1.
    module = tmp_path / "core.wasm"
    module.write_bytes(b"\0asm\x01\0\0\0")
    result = transform(str(module))
    assert result.returncode == 2, result.stderr
    assert "is a core Wasm module, not a component" in result.stderr
    assert "wasm32-wasip2" in result.stderr


def test_bad_config_exits_2(transform, wasm_dir):
    result = transform(str(wasm_dir / "mask.wasm"), "--config", "{fields:")
    assert result.returncode == 2, result.stderr
    assert "--config is not valid JSON" in result.stderr

    # Valid JSON the guest refuses in `init` is a usage error too.
    refused = transform(str(wasm_dir / "mask.wasm"), "--config", '{"mode": "scramble"}')
    assert refused.returncode == 2, refused.stderr
    assert "InvalidConfig" in refused.stderr and "`init`" in refused.stderr


def test_bad_flags_exit_2(transform, wasm_dir):
    for args in (["--batch", "0"], ["--timeout-ms", "soon"], ["--no-such-flag"], []):
        path = [str(wasm_dir / "passthrough.wasm")] if args else []
        result = transform(*path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "error:" in result.stderr


def test_a_malformed_line_exits_2_naming_it(transform, wasm_dir):
    lines = ['{"value": "one"}', '{"value": "two"}', '{"value": tree}', '{"value": "four"}']
    result = transform(str(wasm_dir / "passthrough.wasm"), lines=lines)
    assert result.returncode == 2, result.stderr
    assert "stdin line 3" in result.stderr
    # The records read before the bad line were still transformed.
    assert [r["value"] for r in output_records(result)] == ["one", "two"]

    typo = transform(str(wasm_dir / "passthrough.wasm"), lines=['{"vaule": 1}'])
    assert typo.returncode == 2, typo.stderr
    assert "stdin line 1" in typo.stderr and "unknown field `vaule`" in typo.stderr


def misbehave(transform, wasm_dir, tmp_path, mode: str, *args: str, records: int = 5):
    dead_letter = tmp_path / f"{mode}.jsonl"
    lines = [json.dumps({"key": f"k{i}", "value": {"i": i}, "timestamp": i}) for i in range(records)]
    result = transform(
        str(wasm_dir / "misbehave.wasm"),
        "--config",
        json.dumps({"mode": mode}),
        "--dead-letter",
        str(dead_letter),
        "--batch",
        "2",
        *args,
        lines=lines,
    )
    return result, dead_letter


def assert_all_dead_lettered(result, dead_letter: Path, records: int = 5) -> list[dict]:
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    failed = dead_letters(dead_letter)
    # Every batch failed, the first, the middle and the last (smaller) one:
    # a failed batch does not stop the run.
    assert [r["key"] for r in failed] == [f"k{i}" for i in range(records)]
    assert [r["value"] for r in failed] == [{"i": i} for i in range(records)]
    assert [r["timestamp"] for r in failed] == list(range(records))
    assert f"{records} of {records} records were not transformed (3 failed batch(es))" in result.stderr
    return failed


def test_a_runaway_loop_is_stopped_at_its_deadline(transform, wasm_dir, tmp_path):
    # Compile and load the component first, so the timing below is the
    # deadline's alone.
    warm = transform(str(wasm_dir / "misbehave.wasm"), "--config", '{"mode": "loop"}')
    assert warm.returncode == 0, warm.stderr
    started = time.monotonic()
    result, dead_letter = misbehave(transform, wasm_dir, tmp_path, "loop", "--timeout-ms", "200")
    elapsed = time.monotonic() - started
    failed = assert_all_dead_lettered(result, dead_letter)
    assert "exceeded its 200ms deadline" in failed[0]["error"]
    assert "batch of 2 records" in failed[0]["error"]
    assert "batch of 1 record" in failed[4]["error"]
    # Three batches, each stopped after 200 ms: well under the default 1 s
    # deadline each, let alone never.
    assert elapsed < 3.0, elapsed


def test_unbounded_allocation_is_stopped_at_the_memory_cap(transform, wasm_dir, tmp_path):
    result, dead_letter = misbehave(transform, wasm_dir, tmp_path, "oom", "--memory-mib", "16")
    failed = assert_all_dead_lettered(result, dead_letter)
    assert "ran out of memory" in failed[0]["error"]
    assert f"the cap is {16 << 20}" in failed[0]["error"]


def test_a_trap_dead_letters_its_batch_and_the_run_goes_on(transform, wasm_dir, tmp_path):
    # misbehave traps on every batch, so every record is dead-lettered; each
    # batch after the first ran on a fresh instance.
    result, dead_letter = misbehave(transform, wasm_dir, tmp_path, "trap")
    failed = assert_all_dead_lettered(result, dead_letter)
    assert "trapped" in failed[0]["error"]
    # The guest's panic message, from its stderr, names the cause.
    assert "trap on purpose (batch of 2 records)" in failed[0]["error"]
    assert "trap on purpose (batch of 1 records)" in failed[4]["error"]


def test_an_ungranted_import_is_a_permission_error_naming_the_grant(transform, wasm_dir, tmp_path):
    result, dead_letter = misbehave(transform, wasm_dir, tmp_path, "http")
    failed = assert_all_dead_lettered(result, dead_letter)
    assert "PermissionDenied" in failed[0]["error"]
    assert "the `http` grant" in failed[0]["error"]


def test_without_dead_letter_failures_are_reported_on_stderr(transform, wasm_dir):
    lines = [json.dumps({"value": i}) for i in range(3)]
    result = transform(str(wasm_dir / "misbehave.wasm"), "--config", '{"mode": "trap"}', lines=lines)
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert "trap on purpose" in result.stderr
    assert "the 3 record(s) of stdin lines 1-3 were dropped" in result.stderr


def test_routed_records_name_their_target(transform, wasm_dir):
    route = wasm_dir / "route.wasm"
    if not route.is_file():
        pytest.fail(f"{route} is missing: run `cargo xtask wasm`", pytrace=False)
    config = json.dumps({"field": "type", "routes": {"order": "orders", "refund": "refunds"}})
    lines = [
        '{"key": "a", "value": {"type": "order", "n": 1}}',
        '{"key": "b", "value": {"type": "refund"}}',
        '{"key": "c", "value": {"type": "other"}}',
    ]
    result = transform(str(route), "--config", config, lines=lines)
    assert result.returncode == 0, result.stderr
    records = output_records(result)
    assert [(r["key"], r.get("target")) for r in records] == [("a", "orders"), ("b", "refunds"), ("c", None)]
    assert result.stdout.splitlines()[0].endswith(',"target":"orders"}')


def inspect(sluice_binary, cache_dir, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLUICE_CACHE_DIR": str(cache_dir)}
    return subprocess.run(
        [str(sluice_binary), "plugin", "inspect", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
    )


def test_plugin_inspect_names_world_contract_and_grants(sluice_binary, cache_dir, wasm_dir):
    done = inspect(sluice_binary, cache_dir, str(wasm_dir / "misbehave.wasm"))
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines() if not line.startswith(" ") and " " in line)
    assert lines["contract"] == "sluice:pipeline@0.1.0"
    assert lines["world"] == "transform (exports init, process)"
    assert lines["grants"] == "http"

    done = inspect(sluice_binary, cache_dir, "--json", str(wasm_dir / "mask.wasm"))
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["worlds"] == ["transform"] and info["grants"] == [] and info["runs_here"] is True
    assert "sluice:pipeline/types@0.1.0" in info["imports"]


def test_plugin_inspect_refuses_what_is_not_a_component(sluice_binary, cache_dir, tmp_path):
    garbage = tmp_path / "garbage.wasm"
    garbage.write_bytes(b"not wasm at all")
    done = inspect(sluice_binary, cache_dir, str(garbage))
    assert done.returncode == 1
    assert "not a Wasm component" in done.stderr, done.stderr
