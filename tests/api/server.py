"""`carematch serve` as a real process on a free loopback port, for end-to-end tests
and benchmarks: started with its environment, waited for, stopped (SIGTERM, or
SIGKILL to simulate a crash)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
CAREMATCH = [sys.executable, "-c", "from api.cli import app; app()"]


def carematch(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a `carematch` command (the console script's app) with this environment."""
    return subprocess.run(
        [*CAREMATCH, *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


class ProcessGroup:
    """A carematch process started in its own process group (so a kill takes every
    process it started, as a machine that dies would), stopped gracefully or killed."""

    stop_timeout_s = 30.0
    process: subprocess.Popen | None = None

    def stop(self) -> None:
        """A graceful stop (SIGTERM, as a process manager sends): running jobs go
        back to the queue."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """A crash: SIGKILL to the process and every process it started, at once."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


class Server(ProcessGroup):
    def __init__(self, env: dict[str, str], *, port: int | None = None) -> None:
        self.env = {**os.environ, "CAREMATCH_LOG_LEVEL": "WARNING", **env}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, *, ready: bool = True, timeout: float = 60) -> Server:
        self.process = subprocess.Popen(
            [*CAREMATCH, "serve", "--port", str(self.port)],
            env=self.env,
            cwd=REPO,
            start_new_session=True,  # its own process group: kill() reaches the workers
        )
        deadline = time.monotonic() + timeout
        path = "/readyz" if ready else "/healthz"
        try:
            while True:
                assert self.process.poll() is None, f"serve exited: {self.process.returncode}"
                try:
                    if httpx.get(self.url + path, timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{path} not answering after {timeout} s"
                time.sleep(0.2)
        except BaseException:  # never leave a server behind a failed start
            self.kill()
            raise

    def __enter__(self) -> Server:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
