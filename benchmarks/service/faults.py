"""Fault figures: the fault tests of `make test`, run with their figures recorded.

    .venv/bin/python benchmarks/service/faults.py [--webhook-down-s 180] \\
        [--md benchmarks/service/FAULTS.md]

Runs `tests/api/test_scale_out.py` (kill -9 of a worker mid-solve, Redis restarted and
wiped with jobs queued, the API killed while brokers submit, PostgreSQL stopped) and
the webhook test with its receiver down for `--webhook-down-s` (the test's default is
2.5 s; here minutes, with the retry backoff capped at `--webhook-max-backoff-s`), each
against real processes, with CAREMATCH_FAULT_FIGURES set so that every test appends
what it measured; then writes those figures as a table. The assertions are the tests':
a figure is only written by a test that passed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

TESTS = [
    "tests/api/test_scale_out.py",
    "tests/api/test_webhooks.py::test_receiver_down_then_up_gets_every_event_in_order",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhook-down-s", type=float, default=180.0)
    parser.add_argument("--webhook-max-backoff-s", type=float, default=30.0)
    parser.add_argument("--md", type=Path, default=HERE / "FAULTS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        figures = Path(scratch) / "figures.jsonl"
        env = {
            **os.environ,
            "CAREMATCH_FAULT_FIGURES": str(figures),
            "CAREMATCH_FAULT_WEBHOOK_DOWN_S": str(args.webhook_down_s),
            "CAREMATCH_FAULT_WEBHOOK_MAX_BACKOFF_S": str(args.webhook_max_backoff_s),
        }
        load_before = os.getloadavg()[0]
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
            cwd=ROOT,
            env=env,
        )
        rows = (
            [json.loads(line) for line in figures.read_text().splitlines()]
            if figures.exists()
            else []
        )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Faults survived: figures",
        "",
        f"`python benchmarks/service/faults.py --webhook-down-s {args.webhook_down_s:g} "
        f"--webhook-max-backoff-s {args.webhook_max_backoff_s:g}`: "
        f"{time.strftime('%Y-%m-%d')}, commit {commit}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, {time.monotonic() - began:.0f} s in all; "
        f"pytest exit status {done.returncode} (0: every test passed).",
        "",
        "Each row is written by the test that survived the fault (its assertions: the "
        "job finished, once; nothing lost; the answers while down). Leases 3 s, sweeps "
        "every 0.5 s, re-send after 4 s (the tests' settings, `tests/api/test_scale_out.py`).",
        "",
        "| fault | figures |",
        "|---|---|",
    ]
    for row in rows:
        name = row.pop("test")
        lines.append(f"| {name} | " + ", ".join(f"{k} {v}" for k, v in row.items()) + " |")
    args.md.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
