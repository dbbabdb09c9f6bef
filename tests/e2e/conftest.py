"""Fixtures of the end-to-end suite: a real `sluice serve` per test.

- `sluice_binary`: the broker binary (`target/release/sluice` or `$SLUICE_BIN`),
  built beforehand by `cargo xtask test` / `cargo xtask e2e`.
- `broker`: a started `BrokerProcess` on free loopback ports with a fresh data
  directory. `broker.restart()` stops it with SIGTERM and starts it again on
  the same data directory and ports; `broker.kill()` SIGKILLs it. At teardown
  a started broker is stopped with SIGTERM; one that does not exit cleanly
  (status 0, within the deadline), or that died on its own, fails the test.

When a test fails, the tail of the broker's stderr is printed with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice_process import BrokerProcess, locate_binary

WORKSPACE = Path(__file__).resolve().parents[2]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # A failed test shows what its broker wrote to stderr, beside the
    # captured output.
    report = yield
    process = item.funcargs.get("broker") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(process, BrokerProcess):
        report.sections.append((f"broker stderr (data in {process.data_dir})", process.log_tail()))
    return report


@pytest.fixture(scope="session")
def sluice_binary() -> Path:
    try:
        return locate_binary(WORKSPACE)
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def broker(sluice_binary: Path, tmp_path: Path):
    process = BrokerProcess(sluice_binary, tmp_path)
    process.start()
    yield process
    if process.started:
        process.stop()
