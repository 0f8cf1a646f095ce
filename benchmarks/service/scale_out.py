"""Scale-out benchmark: the embedded backend against Celery + Redis with 1 and 2
`carematch worker`s, on generated urban markets of 20 and 200 agencies (PostgreSQL).

    .venv/bin/python benchmarks/service/scale_out.py --backend celery --workers 2 \\
        --agencies 20 --rates 1,2,3 --seconds 20 --out a.json
    .venv/bin/python benchmarks/service/scale_out.py --backend celery --accept 50 \\
        --seconds 10 --out b.json       # submissions accepted per second, then no loss
    .venv/bin/python benchmarks/service/scale_out.py --render a.json b.json ... \\
        --md benchmarks/service/SCALE_OUT.md

Per configuration: a fresh PostgreSQL database (`tests/api/postgres.py`), the market
`matcher.market_samples.urban_market(N)` imported, `carematch serve` (embedded:
`CAREMATCH_WORKERS` job workers; celery: no embedded workers, `--workers` real
`carematch worker --concurrency C` processes, each its own process group, as separate
machines would be, and a throwaway `redis-server`), one untimed package to warm up.

*Rates* mode (the open-loop load of `run.py`, its `load` function): Mary's package at
each rate for `--seconds`, each polled until offered; per rate p50/p95 submission to
offers, and from the jobs table where the time went: queue wait (job created to
claimed) against the run (claimed to finished, the match itself).
*Accept* mode: `--accept R` submissions a second for `--seconds`, not polled: accepted
(`202`) per second, submit latency, errors; then every stored package must reach
its offers (no loss), and the time that takes is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.service.run import (  # noqa: E402  (the path above first)
    MARY,
    Server,
    _ts,
    carematch_command,
    cpu_model,
    database,
    git,
    job_table,
    load,
    package_copy,
    pct,
    run_cli,
    wait_idle,
    warm_up,
)


class Workers:
    """`carematch worker` processes, each in its own process group."""

    def __init__(self, env: dict[str, str], count: int, concurrency: int, log: Path) -> None:
        self.env, self.count, self.concurrency, self.log = env, count, concurrency, log
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Workers:
        for _ in range(self.count):
            with open(self.log, "ab") as out:
                self.processes.append(
                    subprocess.Popen(
                        [*carematch_command(), "worker", "--concurrency", str(self.concurrency)],
                        env=self.env,
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def where_time_went(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Queue wait and run time of the finished jobs, p50/p95 seconds."""
    waits, runs = [], []
    for job in jobs:
        created, started, finished = (
            _ts(job["created_at"]),
            _ts(job["started_at"]),
            _ts(job["finished_at"]),
        )
        if job["status"] == "done" and created and started and finished:
            waits.append(started - created)
            runs.append(finished - started)
    return {
        "queue_wait_p50": pct(waits, 0.5),
        "queue_wait_p95": pct(waits, 0.95),
        "run_p50": pct(runs, 0.5),
        "run_p95": pct(runs, 0.95),
    }


async def accept_burst(
    base: str, key: str, rate: float, seconds: float, first_n: int
) -> dict[str, Any]:
    """Submit at `rate` for `seconds` without polling; accepted per second and latency."""
    template = json.loads(MARY.read_text())
    latencies: list[float] = []
    errors: dict[str, int] = {}
    ids: list[str] = []
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        limits=httpx.Limits(max_connections=64),
    ) as client:

        async def one(n: int) -> None:
            sent = time.monotonic()
            try:
                response = await client.post(
                    "/v1/packages",
                    json=package_copy(template, n),
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            latencies.append(time.monotonic() - sent)
            if response.status_code == 202:
                ids.append(response.json()["id"])
            else:
                errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1

        start = time.monotonic()
        tasks = []
        count = round(rate * seconds)
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(first_n + i)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
    return {
        "offered_rate": rate,
        "due": count,
        "accepted": len(ids),
        "accepted_per_s": round(len(ids) / max(elapsed, seconds), 2),
        "submit_p50_ms": round(1000 * (pct(latencies, 0.5) or 0), 1),
        "submit_p95_ms": round(1000 * (pct(latencies, 0.95) or 0), 1),
        "errors": errors,
        "ids": ids,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    from matcher.market_samples import urban_market

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="carematch-scale-") as scratch_dir:
        scratch = Path(scratch_dir)
        market_file = scratch / "market.json"
        market_file.write_text(urban_market(args.agencies).model_dump_json())
        redis_server = None
        if args.backend == "celery":
            from tests.api.redis import ThrowawayRedis

            redis_server = ThrowawayRedis().start()
        try:
            with database("postgresql", scratch) as (url, _):
                env = {
                    **os.environ,
                    "CAREMATCH_DATABASE_URL": url,
                    "CAREMATCH_WORKERS": str(args.workers if args.backend == "embedded" else 0),
                    "CAREMATCH_LOG_LEVEL": os.environ.get("CAREMATCH_LOG_LEVEL", "WARNING"),
                }
                if redis_server is not None:
                    env["CAREMATCH_BROKER_URL"] = redis_server.url
                began = time.monotonic()
                run_cli(["import", str(market_file)], env, ROOT)
                import_s = time.monotonic() - began
                key = run_cli(["keys", "create", "--role", "broker"], env, ROOT).strip()
                workers = (
                    Workers(env, args.workers, args.concurrency, scratch / "workers.log")
                    if args.backend == "celery"
                    else contextlib.nullcontext()
                )
                with workers:
                    server = Server(env, ROOT, scratch / "serve.log").start()
                    try:
                        template = json.loads(MARY.read_text())
                        warm_up(server.base, key, template, timeout=300)
                        rows = []
                        n = 1
                        if args.accept:
                            burst = asyncio.run(
                                accept_burst(server.base, key, args.accept, args.seconds, n)
                            )
                            began = time.monotonic()
                            left = wait_idle(url, timeout=args.drain)
                            jobs = [j for j in job_table(url) if j["package_id"] in burst["ids"]]
                            burst.update(
                                all_offered_s=round(time.monotonic() - began, 1),
                                stored=len(jobs),
                                reached_offers=sum(
                                    j["package_status"] in ("offered", "no_offer") for j in jobs
                                ),
                                left_open=len(left),
                                lost=len(burst["ids"]) - len(jobs),
                            )
                            burst.pop("ids")
                            rows.append({"mode": "accept", **burst})
                        for rate in args.rate_list:
                            subs, tally, _marks = asyncio.run(
                                load(server.base, key, template, n, rate, args, rng)
                            )
                            n += len(subs)
                            wait_idle(url, timeout=120)
                            refs = {s.reference for s in subs if s.reference}
                            jobs = [j for j in job_table(url) if j["reference"] in refs]
                            to_offers = [
                                s.final_at - s.sent
                                for s in subs
                                if s.final_at and s.sent and s.status == "offered"
                            ]
                            rows.append(
                                {
                                    "mode": "rate",
                                    "offered_rate": rate,
                                    "due": len(subs),
                                    "skipped": tally.skipped,
                                    "errors": dict(tally.errors),
                                    "offered": len(to_offers),
                                    "to_offers_p50": pct(to_offers, 0.5),
                                    "to_offers_p95": pct(to_offers, 0.95),
                                    **where_time_went(jobs),
                                }
                            )
                            print(json.dumps(rows[-1]), flush=True)
                    finally:
                        server.stop()
        finally:
            if redis_server is not None:
                redis_server.stop()
    return {
        "backend": args.backend,
        "workers": args.workers,
        "concurrency": args.concurrency if args.backend == "celery" else None,
        "agencies": args.agencies,
        "import_s": round(import_s, 1),
        "rows": rows,
        "commit": git("rev-parse", "--short", "HEAD"),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/service/scale_out.py " + " ".join(sys.argv[1:]),
        "load_before": round(load_before, 1),
        "load_after": round(os.getloadavg()[0], 1),
        "machine": f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}",
    }


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def render(paths: list[Path], md: Path) -> None:
    runs = [json.loads(p.read_text()) for p in paths]
    lines = [
        "# Scale-out benchmark (Celery + Redis against the embedded backend)",
        "",
        "Generated by `benchmarks/service/scale_out.py --render`; see its docstring for "
        "what is measured. Each run with its command, commit and load average (the "
        "machine is shared: a load above 0 means other work shared the two cores).",
        "",
    ]
    for i, run in enumerate(runs, 1):
        lines.append(
            f"{i}. `{run['command']}`: {run['date']}, commit {run['commit']}, "
            f"{run['machine']}, load {run['load_before']} before, {run['load_after']} after; "
            f"market import {run['import_s']} s"
        )
    lines += [
        "",
        "## Submissions accepted (stored, answered 202), then every one to offers",
        "",
        "| run | backend | workers | agencies | offered /s | due | accepted /s | "
        "submit p50/p95 ms | errors | lost | all offered after s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for i, run in enumerate(runs, 1):
        for row in (r for r in run["rows"] if r["mode"] == "accept"):
            lines.append(
                f"| {i} | {run['backend']} | {run['workers']} | {run['agencies']} | "
                f"{row['offered_rate']} | {row['due']} | {row['accepted_per_s']} | "
                f"{row['submit_p50_ms']} / {row['submit_p95_ms']} | "
                f"{row['errors'] or 'none'} | {row['lost']} | {row['all_offered_s']} |"
            )
    lines += [
        "",
        "## Submission to offers at a fixed rate, and where the time goes",
        "",
        "| run | backend | workers x processes | agencies | offered /s | due | skipped | "
        "errors | to offers p50/p95 s | queue wait p50/p95 s | run p50/p95 s |",
        "|---:|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for i, run in enumerate(runs, 1):
        processes = run["concurrency"] or f"{run['machine'].split()[0]} (one per core)"
        shape = (
            f"{run['workers']} x {processes}"
            if run["backend"] == "celery"
            else f"{run['workers']} embedded (a process per core)"
        )
        for row in (r for r in run["rows"] if r["mode"] == "rate"):
            lines.append(
                f"| {i} | {run['backend']} | {shape} | {run['agencies']} | "
                f"{row['offered_rate']} | {row['due']} | {row['skipped']} | "
                f"{row['errors'] or 'none'} | "
                f"{fmt(row['to_offers_p50'])} / {fmt(row['to_offers_p95'])} | "
                f"{fmt(row['queue_wait_p50'])} / {fmt(row['queue_wait_p95'])} | "
                f"{fmt(row['run_p50'])} / {fmt(row['run_p95'])} |"
            )
    md.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("embedded", "celery"), default="celery")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=0, help="Per celery worker.")
    parser.add_argument("--agencies", type=int, default=20)
    parser.add_argument("--rates", default="", help="Packages per second, a list.")
    parser.add_argument("--accept", type=float, default=0.0, help="Accept-mode rate.")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll", type=float, default=0.2)
    parser.add_argument("--max-in-flight", type=int, default=48)
    parser.add_argument("--drain", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--arrivals", choices=("uniform", "poisson"), default="uniform")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--render", type=Path, nargs="*")
    parser.add_argument("--md", type=Path, default=HERE / "SCALE_OUT.md")
    args = parser.parse_args(argv)
    if args.render:
        render(args.render, args.md)
        return 0
    args.rate_list = [float(r) for r in args.rates.split(",") if r]
    result = measure(args)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)
    bad = any(r["errors"] or r.get("lost") for r in result["rows"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
