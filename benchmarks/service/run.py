"""Service benchmark: package submissions per second that `carematch serve` holds, and
the time from submission to offers under that load, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/service/run.py [--db sqlite|postgresql|both]
        [--rates 0.25,0.5,1,2] [--seconds 20] [--workers 1] [--snapshot [REV]]
        [--out rows.json] [--md benchmarks/service/RESULTS.md]
    .venv/bin/python benchmarks/service/run.py --quick     # SQLite, one low rate, ~20 s
    .venv/bin/python benchmarks/service/run.py --render a.json b.json [--out all.json]
        [--notes NOTES.md]          # rewrite RESULTS.md from saved runs, one table

For each database: a fresh one (a SQLite file in a temporary directory, or a database
on a throwaway PostgreSQL server, `tests/api/postgres.py`), `carematch import` of the
urban market and `carematch keys create --role broker`, then `carematch serve` on a
free loopback port (`CAREMATCH_WORKERS` job workers; other `CAREMATCH_*` variables in
the environment pass through), ready when `/healthz` and `/readyz` answer, stopped
afterwards (SIGTERM, then kill). One untimed package warms the job worker first.

Load is open loop: at each offered rate, for `--seconds`, Mary's package
(data/samples/packages/mary.json) is submitted on a fixed schedule (uniform spacing, or
`--arrivals poisson`) whatever the service answers, each copy under its own package,
client and visit ids and an `Idempotency-Key`; each accepted package's `Location` is
polled every `--poll` seconds until it is `offered`, `no_offer` or `failed`. The
generator is bounded: at most `--max-in-flight` packages are tracked at once (a
submission due while the cap is reached is skipped and counted), and after the window
it waits at most `--drain` seconds for the stragglers, then withdraws them and waits
for the job queue to empty before the next rate.

Per rate: submissions due, sent, skipped, accepted (202) per second, errors by
method and status (or exception), submit latency (the POST's round trip), submission
to offers as the client saw it (send to the poll that saw the final status, so up to
one poll interval late) and as the server stored it (package `created_at` to
`updated_at`), the job's queue wait and matching time, completions per second (first to
last offer), CPU seconds of the API process, the job workers (with their matching
processes) and PostgreSQL, and the 1-minute load average before and after. A rate is
*held* when every due submission was accepted, without errors, every package reached
its offers within the window and drain, and completions kept pace (>= 95 % of the
offered rate, first offer to last).

`--snapshot [REV]` runs the service from `git archive REV` (api/ and matcher/, default
HEAD) instead of the working tree, so the figures belong to the recorded commit even
while others edit the tree. Exit status 1 if any request failed, any package ended
`failed`, or a job was left queued or running (or, with `--quick`, any package did not
reach its offers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MARKET = ROOT / "data" / "samples" / "market_urban.json"
MARY = ROOT / "data" / "samples" / "packages" / "mary.json"
FINAL = ("offered", "no_offer", "failed")
TICK = os.sysconf("SC_CLK_TCK")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- processes and CPU --------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, float, float]]:
    """pid -> (parent pid, own CPU s, CPU s of its reaped children) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state): ppid 4, utime 14, stime 15, cutime 16, cstime 17
        ppid = int(fields[1])
        own = (int(fields[11]) + int(fields[12])) / TICK
        reaped = (int(fields[13]) + int(fields[14])) / TICK
        table[int(entry)] = (ppid, own, reaped)
    return table


def tree_cpu(root: int | None, table: dict[int, tuple[int, float, float]]) -> float:
    """CPU seconds of a process and all its descendants, live or reaped."""
    if root is None or root not in table:
        return 0.0
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        _, own, reaped = table[pid]
        total += own + reaped
        stack.extend(children.get(pid, []))
    return total


@dataclass
class CpuProbe:
    """The service's processes: the API (the `serve` process itself), the job workers
    (its children, with their matching processes), PostgreSQL (the postmaster's tree)."""

    serve_pid: int
    postmaster_pid: int | None = None

    def sample(self) -> dict[str, float]:
        table = _proc_table()
        api = table[self.serve_pid][1] if self.serve_pid in table else 0.0
        workers = sum(
            tree_cpu(pid, table) for pid, (ppid, _, _) in table.items() if ppid == self.serve_pid
        )
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "api": api,
            "workers": workers,
            "postgres": tree_cpu(self.postmaster_pid, table),
            "generator": usage.ru_utime + usage.ru_stime,
        }


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the service ----------------------------------------------------------------------


def carematch_command() -> list[str]:
    script = Path(sys.executable).with_name("carematch")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from api.cli import app; sys.exit(app())"]


def export_commit(into: Path, revision: str) -> str:
    """api/ and matcher/ as committed at `revision`, into `into`; the short commit."""
    commit = git("rev-parse", "--short", f"{revision}^{{commit}}")
    if not commit:
        raise SystemExit(f"--snapshot: no commit {revision!r}")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "api", "matcher"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit


def service_env(database_url: str, workers: int, code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["CAREMATCH_DATABASE_URL"] = database_url
    env["CAREMATCH_WORKERS"] = str(workers)
    env.setdefault("CAREMATCH_LOG_LEVEL", "INFO")
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [*carematch_command(), *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"carematch {shlex.join(args)} exited {done.returncode}: "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


class Server:
    """`carematch serve` in its own process group, its output in a log file."""

    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.env, self.cwd, self.log_path = env, cwd, log_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> Server:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*carematch_command(), "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base, timeout=5) as client:
            for path in ("/healthz", "/readyz"):
                while True:
                    if self.process.poll() is not None:
                        raise RuntimeError(
                            f"carematch serve exited {self.process.returncode}:\n{self.log_tail()}"
                        )
                    try:
                        if client.get(path).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(
                            f"{path} not ready in {timeout:.0f} s:\n{self.log_tail()}"
                        )
                    time.sleep(0.2)
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL to the server's own process group; its exit status.
        `self.orphans` counts the processes of its group (job workers) still running
        once `serve` itself had exited (they are then killed)."""
        self.orphans = 0
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.orphans = len(group_members(self.process.pid))
        with contextlib.suppress(ProcessLookupError):  # workers left behind, if any
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_findings(self) -> dict[str, Any]:
        """Lines of the service's log that say something went wrong, and the job runs
        that did not end `done` (handed back to the queue, cancelled, lost), with the
        heartbeat's cancellations."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        lines = text.splitlines()
        bad = [
            line
            for line in lines
            if any(w in line for w in (" ERROR ", " CRITICAL ", "Traceback", " WARNING "))
        ]
        runs = Counter(
            m.group(1) for line in lines if (m := re.search(r" job job_\S+: (\w+)$", line))
        )
        cancels = [line for line in lines if "; cancelling" in line]
        return {
            "lines": len(lines),
            "problems": bad[:40],
            "problem_count": len(bad),
            "job_runs": dict(runs),
            "heartbeat_cancels": cancels[:40],
            "heartbeat_cancel_count": len(cancels),
        }


@contextlib.contextmanager
def database(kind: str, scratch: Path) -> Iterator[tuple[str, int | None]]:
    """A fresh database's URL, and the PostgreSQL postmaster's pid (None for SQLite)."""
    if kind == "sqlite":
        yield f"sqlite:///{scratch / 'carematch.db'}", None
        return
    from tests.api.postgres import ThrowawayPostgres

    with ThrowawayPostgres() as server:
        pid = int((server.data / "postmaster.pid").read_text().split()[0])
        yield server.new_database(), pid


def job_table(database_url: str) -> list[dict[str, Any]]:
    """The service's jobs with their packages (read directly, for queue wait, matching
    time, attempts and stuck jobs that the API does not show)."""
    from sqlalchemy import create_engine, text

    from api.db import normalise_url

    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT j.package_id, j.status, j.attempts, j.error, j.started_at, "
                    "j.finished_at, p.reference, p.status, p.created_at, p.updated_at "
                    "FROM jobs j LEFT JOIN packages p ON p.id = j.package_id"
                )
            ).all()
    finally:
        engine.dispose()
    keys = (
        "package_id",
        "status",
        "attempts",
        "error",
        "started_at",
        "finished_at",
        "reference",
        "package_status",
        "created_at",
        "updated_at",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def wait_idle(database_url: str, timeout: float) -> list[dict[str, Any]]:
    """Wait until no job is queued or running; the jobs still open at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        open_jobs = [j for j in job_table(database_url) if j["status"] in ("queued", "running")]
        if not open_jobs or time.monotonic() > deadline:
            return open_jobs
        time.sleep(0.5)


# --- the load -------------------------------------------------------------------------


@dataclass
class Submission:
    n: int
    due: float  # seconds into the window
    reference: str = ""
    sent: float | None = None  # monotonic
    submit_s: float | None = None
    status_code: int | None = None
    location: str | None = None
    status: str | None = None  # last status seen
    final_at: float | None = None  # monotonic, the poll that saw a final status
    server_s: float | None = None  # created_at -> updated_at
    match_s: float | None = None  # the result's elapsed_s
    feasible: int | None = None


@dataclass
class Tally:
    errors: Counter[str] = field(default_factory=Counter)
    gets: int = 0
    skipped: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    late_s: float = 0.0  # how late the generator sent, at worst


def package_copy(template: dict[str, Any], n: int) -> dict[str, Any]:
    """Mary's package as a new client: mary-<n>, mary-client-<n>, visits b<n>-...."""
    package = copy.deepcopy(template)
    package["id"] = f"{template['id']}-{n}"
    package["client"]["id"] = f"{template['client']['id']}-{n}"
    for line in package["visits"]:
        line["id"] = f"b{n}-{line['id']}"
    return package


def schedule(rate: float, seconds: float, arrivals: str, rng: random.Random) -> list[float]:
    times, at = [], 0.0
    while at < seconds - 1e-9:
        times.append(at)
        at += rng.expovariate(rate) if arrivals == "poisson" else 1.0 / rate
    return times


async def submit_and_wait(
    client: httpx.AsyncClient,
    sub: Submission,
    body: dict[str, Any],
    tally: Tally,
    poll: float,
) -> None:
    """Submit, then poll until final; `tally.in_flight` was counted up by the caller."""
    try:
        sub.sent = time.monotonic()
        try:
            response = await client.post(
                "/v1/packages", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
            )
        except httpx.HTTPError as exc:
            sub.submit_s = time.monotonic() - sub.sent
            tally.errors[f"POST {type(exc).__name__}"] += 1
            return
        sub.submit_s = time.monotonic() - sub.sent
        sub.status_code = response.status_code
        if response.status_code != 202:
            tally.errors[f"POST {response.status_code}"] += 1
            return
        sub.location = response.headers.get("Location")
        sub.status = response.json().get("status")
        if not sub.location:
            tally.errors["POST 202 without Location"] += 1
            return
        while True:
            await asyncio.sleep(poll)
            tally.gets += 1
            try:
                read = await client.get(sub.location)
            except httpx.HTTPError as exc:
                tally.errors[f"GET {type(exc).__name__}"] += 1
                continue
            if read.status_code != 200:
                tally.errors[f"GET {read.status_code}"] += 1
                continue
            data = read.json()
            sub.status = data["status"]
            if sub.status in FINAL:
                sub.final_at = time.monotonic()
                created, updated = _ts(data["created_at"]), _ts(data["updated_at"])
                sub.server_s = updated - created if created and updated else None
                sub.match_s = data.get("elapsed_s")
                sub.feasible = sum(1 for o in data.get("offers") or [] if o.get("feasible"))
                return
    finally:
        tally.in_flight -= 1


async def load(
    base: str,
    key: str,
    template: dict[str, Any],
    first_n: int,
    rate: float,
    args: argparse.Namespace,
    rng: random.Random,
) -> tuple[list[Submission], Tally, dict[str, float]]:
    """One rate: submit on schedule for the window, then drain; the submissions, the
    tally and the window's marks (monotonic)."""
    tally = Tally()
    subs: list[Submission] = []
    tasks: list[asyncio.Task[None]] = []
    limits = httpx.Limits(max_connections=args.max_in_flight + 8, max_keepalive_connections=32)
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {key}"},
        timeout=args.timeout,
        limits=limits,
    ) as client:
        start = time.monotonic()
        for i, due in enumerate(schedule(rate, args.seconds, args.arrivals, rng)):
            delay = start + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tally.late_s = max(tally.late_s, time.monotonic() - (start + due))
            sub = Submission(n=first_n + i, due=due)
            subs.append(sub)
            if tally.in_flight >= args.max_in_flight:
                tally.skipped += 1
                continue
            body = package_copy(template, sub.n)
            sub.reference = body["id"]
            tally.in_flight += 1
            tally.peak_in_flight = max(tally.peak_in_flight, tally.in_flight)
            tasks.append(asyncio.create_task(submit_and_wait(client, sub, body, tally, args.poll)))
        remaining = start + args.seconds - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
        window_end = time.monotonic()
        if tasks:
            await asyncio.wait(tasks, timeout=args.drain)
        drain_end = time.monotonic()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # withdraw what is still open so the next rate starts on an empty queue
        for sub in subs:
            if sub.location and sub.status not in FINAL:
                with contextlib.suppress(httpx.HTTPError):
                    await client.post(f"{sub.location}/withdraw")
    return subs, tally, {"start": start, "window_end": window_end, "drain_end": drain_end}


# --- figures ---------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": statistics.median(values) if values else None,
        "p95": pct(values, 0.95),
        "max": max(values) if values else None,
    }


def summarise(
    db: str,
    rate: float,
    subs: list[Submission],
    tally: Tally,
    marks: dict[str, float],
    jobs: list[dict[str, Any]],
    cpu: tuple[dict[str, float], dict[str, float]],
    load_avg: tuple[float, float],
    args: argparse.Namespace,
) -> dict[str, Any]:
    window = args.seconds
    sent = [s for s in subs if s.sent is not None]
    accepted = [s for s in sent if s.status_code == 202]
    final = [s for s in accepted if s.final_at is not None]
    in_window = [s for s in final if s.final_at <= marks["window_end"]]
    finals = sorted(s.final_at for s in final)
    completions = (len(finals) - 1) / (finals[-1] - finals[0]) if len(finals) >= 3 else None
    by_ref = {j["reference"]: j for j in jobs}
    waits, runs, retried = [], [], 0
    for s in accepted:
        job = by_ref.get(s.reference)
        if job is None:
            continue
        created, started, finished = (
            _ts(job["created_at"]),
            _ts(job["started_at"]),
            _ts(job["finished_at"]),
        )
        if created and started:
            waits.append(started - created)
        if started and finished and job["status"] == "done":
            runs.append(finished - started)
        retried += (job["attempts"] or 0) > 1
    before, after = cpu
    used = {k: round(after[k] - before[k], 2) for k in before}
    outcomes = Counter(s.status or "unknown" for s in accepted)
    unfinished = [
        {
            "package": s.reference,
            "status": s.status,
            "job": by_ref.get(s.reference, {}).get("status"),
        }
        for s in accepted
        if s.final_at is None
    ]
    row = {
        "db": db,
        "workers": args.workers,
        "rate": rate,
        "seconds": window,
        "due": len(subs),
        "sent": len(sent),
        "skipped_in_flight_cap": tally.skipped,
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / window, 3),
        "errors": dict(tally.errors),
        "submit_ms": {
            k: v and round(v * 1000, 1) for k, v in spread([s.submit_s for s in sent]).items()
        },
        "to_offers_s": {
            k: v and round(v, 2) for k, v in spread([s.final_at - s.sent for s in final]).items()
        },
        "server_to_offers_s": {
            k: v and round(v, 2)
            for k, v in spread([s.server_s for s in final if s.server_s is not None]).items()
        },
        "queue_wait_s": {k: v and round(v, 2) for k, v in spread(waits).items()},
        "job_run_s": {k: v and round(v, 2) for k, v in spread(runs).items()},
        "match_elapsed_s": {
            k: v and round(v, 2)
            for k, v in spread([s.match_s for s in final if s.match_s is not None]).items()
        },
        "finished_in_window": len(in_window),
        "finished_in_drain": len(final) - len(in_window),
        "drain_s": round(marks["drain_end"] - marks["window_end"], 1),
        "unfinished": unfinished,
        "outcomes": dict(outcomes),
        "feasible_offers_per_package": (
            round(statistics.mean(s.feasible for s in final if s.feasible is not None), 2)
            if any(s.feasible is not None for s in final)
            else None
        ),
        "jobs_retried": retried,
        "completions_per_s": completions and round(completions, 3),
        "peak_in_flight": tally.peak_in_flight,
        "gets": tally.gets,
        "gets_per_s": round(tally.gets / (marks["drain_end"] - marks["start"]), 1),
        "generator_late_max_s": round(tally.late_s, 3),
        "cpu_s": used,
        "cpu_s_per_package": {k: round(v / len(final), 2) for k, v in used.items() if final},
        "load_before": round(load_avg[0], 2),
        "load_after": round(load_avg[1], 2),
    }
    row["holds"] = holds(row)
    return row


KEEP_PACE = 0.95  # offers must come out at this share of the offered rate, at least


def holds(row: dict[str, Any]) -> bool:
    """Every due submission accepted, no errors, every package at its offers within the
    window and drain, and offers coming out (first to last) at >= 95 % of the rate."""
    return (
        row["accepted"] == row["due"]
        and not row["errors"]
        and not row["unfinished"]
        and row["outcomes"].get("failed", 0) == 0
        and (
            row["completions_per_s"] is None or row["completions_per_s"] >= KEEP_PACE * row["rate"]
        )
    )


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    ).stdout.strip()


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def errors_text(row: dict[str, Any]) -> str:
    parts = [f"{k}: {v}" for k, v in sorted(row["errors"].items())]
    failed = row["outcomes"].get("failed")
    if failed:
        parts.append(f"failed: {failed}")
    return ", ".join(parts) or "none"


TABLE_HEAD = (
    "| run | db | workers | offered /s | due | accepted /s | skipped | errors "
    "| submit p50/p95/max ms | to offers p50/p95/max s | server p50/p95 s "
    "| queue wait p50/p95 s | match p50 s "
    "| done in window + drain | unfinished | completions /s | CPU s/pkg api, workers, pg "
    "| load before, after | holds |"
)


def table_row(r: dict[str, Any]) -> str:
    sm, to, sv, qw = r["submit_ms"], r["to_offers_s"], r["server_to_offers_s"], r["queue_wait_s"]
    per = r["cpu_s_per_package"]
    cpu = (
        f"{fmt(per.get('api'))}, {fmt(per.get('workers'))}, "
        f"{fmt(per.get('postgres')) if r['db'] == 'postgresql' else '-'}"
    )
    return (
        f"| {r.get('run', 1)} | {r['db']} | {r.get('workers', 1)} | {r['rate']:g} | {r['due']} "
        f"| {r['accepted_per_s']:.2f} "
        f"| {r['skipped_in_flight_cap']} | {errors_text(r)} "
        f"| {fmt(sm['p50'], 0)} / {fmt(sm['p95'], 0)} / {fmt(sm['max'], 0)} "
        f"| {fmt(to['p50'])} / {fmt(to['p95'])} / {fmt(to['max'])} "
        f"| {fmt(sv['p50'])} / {fmt(sv['p95'])} | {fmt(qw['p50'])} / {fmt(qw['p95'])} "
        f"| {fmt(r['match_elapsed_s']['p50'])} "
        f"| {r['finished_in_window']} + {r['finished_in_drain']} | {len(r['unfinished'])} "
        f"| {fmt(r['completions_per_s'])} | {cpu} "
        f"| {r['load_before']:.1f}, {r['load_after']:.1f} | {'yes' if r['holds'] else 'no'} |"
    )


def held(rows: list[dict[str, Any]]) -> tuple[float | None, list[float]]:
    """The highest rate held, and the lower rates that were not held (a dip)."""
    ordered = sorted(rows, key=lambda r: r["rate"])
    best = max((r["rate"] for r in ordered if r["holds"]), default=None)
    dips = [r["rate"] for r in ordered if not r["holds"] and best is not None and r["rate"] < best]
    return best, dips


def configurations(rows: list[dict[str, Any]]) -> list[tuple[int, str, int]]:
    return list(dict.fromkeys((r.get("run", 1), r["db"], r.get("workers", 1)) for r in rows))


def held_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for run, db, workers in configurations(rows):
        mine = [
            r for r in rows if (r.get("run", 1), r["db"], r.get("workers", 1)) == (run, db, workers)
        ]
        best, dips = held(mine)
        text = f"- run {run}, {db}, {workers} job worker{'s' if workers != 1 else ''}: "
        if best is None:
            text += "holds none of the rates tried"
        else:
            text += f"holds {best:g} packages/s"
            if dips:
                text += f" (not held at {', '.join(f'{d:g}' for d in dips)} /s in between)"
            above = [r for r in mine if r["rate"] > best]
            if above:
                top = max(above, key=lambda r: r["rate"])
                text += (
                    f"; above it, offered {top['rate']:g} /s, offers came at "
                    f"{fmt(top['completions_per_s'])} /s and the queue wait reached "
                    f"{fmt(top['queue_wait_s']['max'], 1)} s"
                )
        lines.append(text)
    return lines


def write_markdown(
    path: Path, metas: list[dict[str, Any]], rows: list[dict[str, Any]], notes: str = ""
) -> None:
    meta = metas[0]
    settings = meta["settings"]
    workers = sorted({r.get("workers", 1) for r in rows})
    lines = [
        "# Service benchmark",
        "",
        "Run from the repository root with `.venv/bin/python`"
        + (" (run numbers are the table's first column):" if len(metas) > 1 else ":"),
        "",
    ]
    for i, m in enumerate(metas, 1):
        lines.append(
            f"{i}. `{m['command']}`: {m['date']}, commit {m['commit']} ({m['code']}), "
            f"load average {m['load'][0]:.1f} at the start, {m['load'][1]:.1f} at the end"
        )
    lines += [
        "",
        "All rows, with more figures each (GET polls per second, CPU seconds, outcomes, "
        "the service's log findings): `results.json` beside this file; "
        "`run.py --render benchmarks/service/results.json` rewrites this page from it.",
        "",
        f"Machine: {meta['machine']}. It is shared with other engineers' test runs: a load "
        "average above 0 means other work shared the two cores, so the figures are "
        "pessimistic; each row has its own load average, before and after.",
        "",
        f"`carematch serve` with CAREMATCH_WORKERS={' or '.join(map(str, workers))} "
        f"({meta['service_settings']}), on loopback; a fresh database each "
        "(SQLite file; PostgreSQL 15 from `tests/api/postgres.py`, fsync off) holding the "
        "urban market (8 agencies). Open-loop load: Mary's package under new ids at a fixed "
        f"rate ({settings['arrivals']} arrivals) for {settings['seconds']:g} s per rate, "
        f"each polled every {settings['poll']:g} s until offered; at most "
        f"{settings['max_in_flight']} packages tracked at once, then up to "
        f"{settings['drain']:g} s to drain. One untimed package warms the worker first. "
        "Times: *submit* the POST's round trip; *to offers* send to the poll that saw "
        "`offered` (up to one poll late); *server* the package's `created_at` to "
        "`updated_at`; *queue wait* job created to claimed; *match* the engine's "
        "`elapsed_s`. *Completions /s*: offers in, first to last. CPU seconds per package: "
        "the API process, the job worker(s) with their matching processes, PostgreSQL's "
        "processes. *Holds*: every submission accepted, no errors, all offers in within "
        f"the window and drain, completions >= {KEEP_PACE:.0%} of the offered rate.",
        "",
        TABLE_HEAD,
        "|" + "|".join(["---:", "---"] + ["---:"] * 5 + ["---"] + ["---:"] * 10 + ["---"]) + "|",
    ]
    lines += [table_row(r) for r in rows]
    lines += ["", *held_lines(rows)]
    many = len(metas) > 1
    problems = [
        f"run {i}, {p}" if many else p for i, m in enumerate(metas, 1) for p in m["problems"]
    ]
    lines += [
        "",
        "Service log and job table: "
        + (
            "; ".join(problems)
            if problems
            else "no errors or warnings logged, no job retried, failed or left open."
        ),
    ]
    notices: dict[str, list[str]] = {}  # the same notice in several runs, said once
    for i, m in enumerate(metas, 1):
        for notice in m.get("notices") or []:
            db, _, text = notice.partition(": ")
            notices.setdefault(text, []).append(f"run {i} {db}" if many else db)
    if notices:
        said = [f"{text} ({', '.join(where)})" for text, where in notices.items()]
        lines += ["", "Stopping the service: " + "; ".join(said) + "."]
    if notes.strip():
        lines += ["", notes.strip()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- main ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rates", default="0.25,0.5,1,2", help="Packages per second, a list.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Window per rate.")
    parser.add_argument("--workers", type=int, default=1, help="CAREMATCH_WORKERS.")
    parser.add_argument("--poll", type=float, default=0.2, help="Poll interval, seconds.")
    parser.add_argument("--max-in-flight", type=int, default=24)
    parser.add_argument("--drain", type=float, default=30.0, help="Wait for stragglers, s.")
    parser.add_argument("--timeout", type=float, default=30.0, help="Per request, s.")
    parser.add_argument("--arrivals", choices=("uniform", "poisson"), default="uniform")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--stop-after",
        type=int,
        default=1,
        help="Stop a database's rates after this many rates not held in a row (0: never).",
    )
    parser.add_argument(
        "--snapshot",
        nargs="?",
        const="HEAD",
        metavar="REV",
        help="Serve api/ and matcher/ as committed at REV (default HEAD), not the tree.",
    )
    parser.add_argument("--quick", action="store_true", help="SQLite, 0.5/s for 4 s.")
    parser.add_argument("--out", type=Path, help="Write the rows as JSON here.")
    parser.add_argument(
        "--md",
        type=Path,
        default=None,
        help="Write the Markdown results here (default RESULTS.md beside this file, "
        "none with --quick).",
    )
    parser.add_argument("--notes", type=Path, help="A Markdown file appended to the results.")
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        help="Run nothing: write the Markdown from these --out JSON files.",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.db, args.rates, args.seconds, args.drain = "sqlite", "0.5", 4.0, 30.0
    elif args.md is None:
        args.md = HERE / "RESULTS.md"
    args.rate_list = [float(r) for r in args.rates.split(",") if r.strip()]
    return args


def warm_up(base: str, key: str, template: dict[str, Any], timeout: float = 120) -> None:
    """One package, untimed: the worker's first match loads the market and the engine."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        body = package_copy(template, 0)
        response = c.post("/v1/packages", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"warm-up submission: {response.status_code} {response.text}")
        deadline = time.monotonic() + timeout
        while True:
            status = c.get(response.headers["Location"]).json()["status"]
            if status in FINAL:
                if status != "offered":
                    raise RuntimeError(f"warm-up package ended {status}")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"warm-up package still {status} after {timeout:.0f} s")
            time.sleep(0.2)


SETTINGS = ("workers", "seconds", "poll", "max_in_flight", "drain", "arrivals", "rates")


def render(args: argparse.Namespace) -> int:
    """Rewrite the Markdown from saved JSON results, several runs in one table (numbered
    in order); with `--out`, the runs combined into one JSON file too. `holds` is
    recomputed, so the criterion is this file's."""
    runs = []
    for path in args.render:
        saved = json.loads(path.read_text())
        runs += saved.get("runs", [saved])
    rows = []
    for i, run in enumerate(runs, 1):
        for row in run["rows"]:
            row["run"] = i
            row["holds"] = holds(row)
            rows.append(row)
    if args.out:
        args.out.write_text(json.dumps({"runs": runs}, indent=1, default=str) + "\n")
    metas = [run["meta"] for run in runs]
    write_markdown(args.md, metas, rows, args.notes.read_text() if args.notes else "")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args)
    template = json.loads(MARY.read_text())
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    rng = random.Random(args.seed)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []  # errors: the exit status is 1
    notices: list[str] = []  # the service's stop, recorded but not an error of the load
    load_start = os.getloadavg()[0]
    dirty = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if line[3:].startswith(("api/", "matcher/"))
    ]
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="carematch-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        code = None
        commit = git("rev-parse", "--short", "HEAD")
        if args.snapshot:
            code = scratch / "code"
            code.mkdir()
            commit = export_commit(code, args.snapshot)
            code_note = f"service run from `git archive {commit}` (api/, matcher/)"
        elif dirty:
            code_note = "working tree, with uncommitted changes in " + ", ".join(dirty)
        else:
            code_note = "working tree, clean in api/ and matcher/"
        n = 1
        for db in dbs:
            work = scratch / db
            work.mkdir()
            with database(db, work) as (url, postmaster):
                env = service_env(url, args.workers, code)
                cwd = code or ROOT
                if code is not None:  # the service must import the snapshot
                    where = subprocess.run(
                        [
                            sys.executable,
                            "-c",
                            "import api, matcher; print(api.__file__, matcher.__file__)",
                        ],
                        env=env,
                        cwd=cwd,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout.split()
                    assert all(w.startswith(str(code)) for w in where), where
                run_cli(["import", str(MARKET)], env, cwd)
                key = run_cli(["keys", "create", "--role", "broker", "--label", "bench"], env, cwd)
                key = key.strip().splitlines()[-1]
                server = Server(env, cwd, work / "serve.log")
                print(f"{db}: serving on {server.base}", flush=True)
                server.start()
                try:
                    probe = CpuProbe(server.process.pid, postmaster)
                    warm_up(server.base, key, template)
                    not_held = 0
                    for rate in args.rate_list:
                        load_before = os.getloadavg()[0]
                        cpu_before = probe.sample()
                        subs, tally, marks = asyncio.run(
                            load(server.base, key, template, n, rate, args, rng)
                        )
                        n += len(subs)
                        open_jobs = wait_idle(url, timeout=120)
                        cpu_after = probe.sample()
                        row = summarise(
                            db,
                            rate,
                            subs,
                            tally,
                            marks,
                            job_table(url),
                            (cpu_before, cpu_after),
                            (load_before, os.getloadavg()[0]),
                            args,
                        )
                        if open_jobs:
                            row["jobs_left_open"] = [
                                {k: j[k] for k in ("reference", "status", "attempts", "error")}
                                for j in open_jobs
                            ]
                        rows.append(row)
                        print(table_row(row), flush=True)
                        not_held = 0 if row["holds"] else not_held + 1
                        if args.stop_after and not_held >= args.stop_after:
                            break
                    jobs = job_table(url)
                finally:
                    exit_status = server.stop()
                findings = server.log_findings()
                counts = Counter(j["status"] for j in jobs)
                retried = sum(1 for j in jobs if (j["attempts"] or 0) > 1)
                errored = [j for j in jobs if j["error"]]
                print(
                    f"{db}: jobs {dict(counts)}, retried {retried}, with errors "
                    f"{len(errored)}; serve exited {exit_status}; "
                    f"{findings['problem_count']} log lines with errors or warnings",
                    flush=True,
                )
                for line in findings["problems"][:10]:
                    print(f"  {line}", flush=True)
                print(
                    f"{db}: job runs by outcome {findings['job_runs']}; heartbeat "
                    f"cancellations {findings['heartbeat_cancel_count']}",
                    flush=True,
                )
                for line in findings["heartbeat_cancels"][:5]:
                    print(f"  {line}", flush=True)
                undone = sum(v for k, v in findings["job_runs"].items() if k != "done")
                if findings["problem_count"] or findings["heartbeat_cancel_count"] or undone:
                    keep = Path(tempfile.mkdtemp(prefix="carematch-bench-logs-"))
                    shutil.copy(server.log_path, keep / f"{db}-serve.log")
                    findings["kept"] = str(keep / f"{db}-serve.log")
                    print(f"{db}: service log kept in {findings['kept']}", flush=True)
                for j in errored[:5]:
                    print(f"  job of {j['reference']}: {j['status']}, {j['error']}", flush=True)
                if findings["problem_count"]:
                    problems.append(
                        f"{db}: {findings['problem_count']} log lines with errors "
                        f"or warnings (first: `{findings['problems'][0]}`)"
                    )
                open_left = counts.get("queued", 0) + counts.get("running", 0)
                if retried or errored or open_left or counts.get("failed"):
                    problems.append(
                        f"{db}: jobs {dict(counts)}, {retried} retried, "
                        f"{len(errored)} with an error"
                    )
                lifecycle = []
                if exit_status not in (0, None):
                    lifecycle.append(f"`carematch serve` exited {exit_status} on SIGTERM")
                if server.orphans:
                    lifecycle.append(
                        f"{server.orphans} job worker process(es) still running after it had exited"
                    )
                if lifecycle:
                    notices.append(f"{db}: " + ", ".join(lifecycle))
                    print(f"WARNING {notices[-1]}", flush=True)
                for row in rows:
                    if row["db"] == db:
                        row["service"] = {
                            "jobs": dict(counts),
                            "jobs_retried": retried,
                            "serve_exit": exit_status,
                            "orphaned_workers": server.orphans,
                            "log": findings,
                        }
    meta = {
        "commit": commit,
        "code": code_note,
        "machine": f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.platform()}",
        "date": dt.date.today().isoformat(),
        "load": (load_start, os.getloadavg()[0]),
        "service_settings": service_settings(),
        "problems": problems,
        "notices": notices,
        "elapsed_s": round(time.monotonic() - began, 1),
        "command": "python benchmarks/service/run.py " + shlex.join(sys.argv[1:]),
        "settings": {k: getattr(args, k) for k in SETTINGS},
    }
    print(f"done in {meta['elapsed_s']:.0f} s", flush=True)
    for line in held_lines(rows):
        print(line, flush=True)
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str) + "\n")
    if args.md:
        write_markdown(args.md, [meta], rows, args.notes.read_text() if args.notes else "")
    bad = (
        problems
        or any(r["errors"] or r["outcomes"].get("failed") for r in rows)
        or any(r.get("jobs_left_open") for r in rows)
    )
    if args.quick:
        bad = bad or any(r["unfinished"] or r["skipped_in_flight_cap"] for r in rows)
    return 1 if bad else 0


def service_settings() -> str:
    """The service's settings as the environment leaves them (defaults otherwise)."""
    from api.settings import Settings

    s = Settings(database_url="sqlite://")
    return (
        f"match_processes={s.match_processes} (0: one per core), "
        f"match_time_limit_s={s.match_time_limit_s}, poll_interval_s={s.poll_interval_s}, "
        f"heartbeat_s={s.heartbeat_s}"
    )


if __name__ == "__main__":
    sys.exit(main())
