"""The service benchmark's runner still runs (`--quick`: SQLite, a few packages): the
figures live in benchmarks/service/RESULTS.md; this only keeps the runner from rotting
(it exits 1 on any failed request, failed package or stuck job)."""

from __future__ import annotations

import subprocess
import sys

from tests.api.server import REPO


def test_quick_run_completes_cleanly() -> None:
    ran = subprocess.run(
        [sys.executable, "benchmarks/service/run.py", "--quick"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
