"""`portal serve` in a child process, for the tests that need the real server: a free
loopback port, waiting until /healthz answers, and stopping it however the test ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest

PORTAL = Path(sys.executable).with_name("portal")
# The process id of each running server, by its base URL (for the tests that read its memory).
_PIDS: dict[str, int] = {}


def pid_of(url: str) -> int:
    """The process id of the server running_portal started at `url`."""
    return _PIDS[url]


def resident_mb(pid: int) -> float:
    """A process's resident memory, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_portal(home: Path, env: dict[str, str], *serve_args: str, port: int | None = None) -> Iterator[str]:
    """`portal serve --port P *serve_args` with `env` (on top of this process's environment,
    where a value of "" removes the variable), working in `home`, its output in
    home/server.log. Yields the base URL once /healthz answers; fails the test with the log's
    end if it does not within 30 s."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, **env}
    for name in [k for k, v in env.items() if v == ""]:
        environment.pop(name, None)
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(PORTAL), "serve", "--port", str(port), *serve_args],
            env=environment, cwd=home, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`portal serve` did not come up on {url}:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        _PIDS[url] = proc.pid
        yield url
    finally:
        _PIDS.pop(url, None)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
