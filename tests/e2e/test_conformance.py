"""The conformance suite through `sluice transform run`: the fixture cases of
`tests/conformance/mask/cases.json` as JSON lines through `mask` (Rust),
`mask-py`, `mask-js` and `mask-c`; the four outputs must be byte-identical.

The fixtures' values are sent as JSON strings, so each record's value is the
fixture text's exact UTF-8 bytes; `transform run` writes a value that is a
JSON object verbatim, so the comparison is of the guests' own bytes. Records
whose value is given as hex (bytes that are not UTF-8) cannot be written as
a JSON line and are covered by `runtime/wasm-host/tests/conformance.rs`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

WORKSPACE = Path(__file__).resolve().parents[2]
CASES = json.loads((WORKSPACE / "tests/conformance/mask/cases.json").read_text(encoding="utf-8"))
IMPLEMENTATIONS = ["mask", "mask-py", "mask-js", "mask-c"]


def lines_of(case: dict) -> str:
    lines = []
    for batch in case["batches"]:
        for record in batch:
            if "value_hex" in record:
                continue
            lines.append(
                json.dumps(
                    {
                        "key": record["key"],
                        "value": record["value"],
                        "headers": {h["key"]: h["value"] for h in record["headers"]},
                        "timestamp": record["timestamp"],
                    },
                    ensure_ascii=False,
                )
            )
    return "".join(line + "\n" for line in lines)


@pytest.fixture(scope="module")
def components() -> dict[str, Path]:
    directory = Path(os.environ.get("SLUICE_WASM_DIR", WORKSPACE / "target" / "wasm"))
    found = {name: directory / f"{name}.wasm" for name in IMPLEMENTATIONS}
    missing = [name for name, path in found.items() if not path.is_file()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing in {directory}: run `cargo xtask wasm`", pytrace=False)
    return found


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_every_mask_writes_the_same_bytes(case, components, sluice_binary, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "conformance-wasm-cache"
    stdin = lines_of(case)
    outputs = {}
    for name, path in components.items():
        done = subprocess.run(
            [
                str(sluice_binary), "transform", "run", str(path),
                "--config", json.dumps(case["config"]),
                "--memory-mib", "256", "--timeout-ms", "30000", "--batch", "4",
            ],
            input=stdin.encode(),
            capture_output=True,
            timeout=300,
            env={**os.environ, "SLUICE_CACHE_DIR": str(cache)},
        )
        assert done.returncode == 0, f"{name}: exit {done.returncode}: {done.stderr.decode()}"
        outputs[name] = done.stdout
    reference = outputs["mask"]
    assert reference.count(b"\n") == stdin.count("\n")
    for name in IMPLEMENTATIONS[1:]:
        assert outputs[name] == reference, (
            f"{name} differs from the reference:\n{outputs[name].decode(errors='replace')}\n"
            f"reference:\n{reference.decode(errors='replace')}"
        )
