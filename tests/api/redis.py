"""A throwaway Redis server for the scale-out tests, and `carematch worker` processes.

Debian's `redis-server` is installed by the test setup when missing
(`tests.debian.ensure_command`), then started on a free loopback port in a temporary
directory with an append-only file, so that a restart keeps what was queued (as a
production Redis would) and `wipe` is the way to lose it. Nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.api.postgres import free_port
from tests.api.server import CAREMATCH, REPO, ProcessGroup
from tests.debian import ensure_command


class ThrowawayRedis:
    def __init__(self) -> None:
        self.binary = ensure_command("redis-server", "redis-server")
        self.root = Path(tempfile.mkdtemp(prefix="carematch-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> ThrowawayRedis:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--protected-mode", "no", "--logfile", str(self.root / "log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                assert self.process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server not answering"
                time.sleep(0.05)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def restart(self) -> None:
        """Stop and start on the same port and directory (what was queued survives)."""
        self.stop()
        self.start()

    def wipe(self) -> None:
        """Lose everything Redis holds, queued tasks and results included."""
        self.client().flushall()

    def __enter__(self) -> ThrowawayRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class CeleryWorker(ProcessGroup):
    """`carematch worker --concurrency N` as a real process (its own process group,
    so `kill` takes its agency node and pool processes with it, as a machine that
    dies would)."""

    stop_timeout_s = 60.0  # a warm shutdown lets running agencies finish

    def __init__(
        self, env: dict[str, str], *, concurrency: int = 1, log: Path | None = None
    ) -> None:
        self.env = {**os.environ, "CAREMATCH_LOG_LEVEL": "WARNING", **env}
        self.concurrency = concurrency
        self.log = log  # its output (both nodes'), else the test's own
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        out = open(self.log, "ab") if self.log else None  # noqa: SIM115 (the child keeps it)
        self.process = subprocess.Popen(
            [*CAREMATCH, "worker", "--concurrency", str(self.concurrency)],
            env=self.env,
            cwd=REPO,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )
        if out:
            out.close()
        return self

    def __enter__(self) -> CeleryWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
