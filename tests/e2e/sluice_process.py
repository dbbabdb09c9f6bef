"""A `sluice serve` process for end-to-end tests: start, stop, kill, restart.

Each broker gets free loopback ports and a data directory of its own. Its
stderr goes to a log file beside the data directory, so a failing test can
show what the broker said. Stopping sends SIGTERM and requires a clean exit
(status 0) within a deadline; killing sends SIGKILL, as a process crash would.
A restart reuses the same data directory and the same ports, so clients that
are still running reconnect to the same address.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

# How long a broker may take to answer /health after it was started, and to
# exit after SIGTERM. Generous: CI machines are small and busy.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def wait_until(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.05):
    """Polls `condition` until it returns a truthy value, which is returned.

    Raises AssertionError naming `what` once `timeout_s` has passed.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def free_port(taken: tuple[int, ...] = ()) -> int:
    """A loopback port that nobody listens on right now.

    Drawn below the kernel's ephemeral range (32768 and up on Linux), so
    neither other tests binding port 0 nor outgoing connections take it
    between this probe and the broker's bind, or between a kill and a
    restart on the same port.
    """
    while True:
        port = random.randrange(20_000, 32_000)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


class BrokerProcess:
    """One `sluice serve` on loopback, restartable on the same data directory."""

    def __init__(self, binary: Path, work_dir: Path, extra_args: tuple[str, ...] = ()):
        self.binary = binary
        self.data_dir = work_dir / "data"
        self.log_dir = work_dir / "logs"
        self.extra_args = extra_args
        self.kafka_port = free_port()
        self.http_port = free_port(taken=(self.kafka_port,))
        self.process: Optional[subprocess.Popen] = None
        # One log file per start, so a restart does not hide the first run.
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        """`host:port` for a Kafka client's bootstrap servers."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"broker-{self.starts}.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the broker wrote to stderr in each of its runs."""
        parts = []
        for path in sorted(self.log_dir.glob("broker-*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    def start(self) -> None:
        """Starts the broker and waits until /health answers 200."""
        assert self.process is None, "broker already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        command = [
            str(self.binary),
            "serve",
            "--data",
            str(self.data_dir),
            "--kafka",
            f"127.0.0.1:{self.kafka_port}",
            "--http",
            f"127.0.0.1:{self.http_port}",
            *self.extra_args,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

        def healthy() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"sluice serve exited with status {self.process.returncode} while starting\n"
                    f"command: {' '.join(command)}\n{self.log_tail()}"
                )
            return self.health_status() == 200

        try:
            wait_until(healthy, START_TIMEOUT_S, f"GET /health on 127.0.0.1:{self.http_port}")
        except AssertionError:
            if self.process.poll() is None:
                self.kill()
            self.process = None
            raise

    def health_status(self) -> Optional[int]:
        """The status of GET /health, or None if nothing answered."""
        url = f"http://127.0.0.1:{self.http_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def stop(self) -> None:
        """SIGTERM; the broker must exit with status 0 within STOP_TIMEOUT_S."""
        assert self.process is not None, "broker not running"
        process, self.process = self.process, None
        if process.poll() is not None:
            raise AssertionError(
                f"sluice serve (pid {process.pid}) had already exited with status "
                f"{process.returncode} before it was stopped\n{self.log_tail()}"
            )
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(
                f"sluice serve (pid {process.pid}) did not exit within {STOP_TIMEOUT_S:.0f} s "
                f"of SIGTERM; killed it\n{self.log_tail()}"
            )
        if status != 0:
            raise AssertionError(
                f"sluice serve (pid {process.pid}) exited with status {status} after SIGTERM, "
                f"expected 0\n{self.log_tail()}"
            )

    def kill(self) -> None:
        """SIGKILL, as a crash would (unlike a power cut, the page cache survives)."""
        assert self.process is not None, "broker not running"
        process, self.process = self.process, None
        process.send_signal(signal.SIGKILL)
        process.wait()

    def restart(self) -> None:
        """Clean stop (checked as in `stop`), then start on the same data and ports."""
        self.stop()
        self.start()

    @property
    def started(self) -> bool:
        """Started and neither stopped nor killed since (it may have died on its own)."""
        return self.process is not None


def locate_binary(root: Path) -> Path:
    """`$SLUICE_BIN`, else `target/release/sluice` under the workspace root."""
    binary = Path(os.environ.get("SLUICE_BIN", root / "target" / "release" / "sluice"))
    if not binary.is_file():
        raise FileNotFoundError(
            f"no sluice binary at {binary}: build it with `cargo build --release -p sluice` "
            f"(or run `cargo xtask e2e`, which builds it), or point SLUICE_BIN at one"
        )
    return binary
