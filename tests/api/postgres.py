"""A throwaway PostgreSQL server for the tests: initdb into a temporary directory,
start it on a free loopback port, stop and delete it afterwards.

The PostgreSQL 15 binaries are installed on these machines (`initdb`, `pg_ctl` on
PATH) but no server runs. PostgreSQL refuses to run as root, so as root the server
runs as the `postgres` user (or `nobody`) through `runuser`. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> tuple[list[str], str | None]:
    """The prefix to run server commands with, and the user (None: ourselves)."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"], user
    raise RuntimeError("running as root and no postgres or nobody user to run PostgreSQL as")


class ThrowawayPostgres:
    """`with ThrowawayPostgres() as pg: pg.new_database()` -> a URL of a fresh database."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="carematch-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.prefix, self.user = _as_server_user()
        self._count = 0

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, text=True)

    def start(self) -> ThrowawayPostgres:
        for tool in ("initdb", "pg_ctl"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not on PATH: PostgreSQL 15 binaries are needed")
        if self.user is not None:
            record = pwd.getpwnam(self.user)
            os.chown(self.root, record.pw_uid, record.pw_gid)
        self.root.chmod(0o755)
        self._run(
            "initdb", "-D", str(self.data), "-U", "carematch", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        return self.start_again()

    def start_again(self) -> ThrowawayPostgres:
        """Start the server on its data directory and port (after `pg_ctl stop`)."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.admin_url(), connect_timeout=2):
                    return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop_server(self) -> None:
        """Stop the server, keeping its data (an outage; `start_again` ends it)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://carematch@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        self._count += 1
        name = f"test_{os.getpid()}_{self._count}"
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://carematch@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
