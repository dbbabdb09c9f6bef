"""The README's main command: `sluice demo` (what `cargo xtask demo` runs
after building the components) ends with every sink caught up and prints
what each holds."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[2]


def test_demo_runs_both_pipelines_to_the_end(sluice_binary: Path):
    result = subprocess.run(
        [str(sluice_binary), "demo", "--events", "3000", "--components", str(WORKSPACE / "target" / "wasm")],
        cwd=WORKSPACE,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "caught up" in out, out
    assert re.search(r"archive\.jsonl: 3,000 records", out), out
    checkouts = re.search(r"checkouts\.jsonl: ([\d,]+) records", out)
    assert checkouts and int(checkouts.group(1).replace(",", "")) > 0, out
