"""The service's commands: `keys create`, `import`, `serve` on a bad database, and
`carematch demo` (what `make run` runs), whose printed `curl` commands work as printed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.api.conftest import MARKET_URBAN
from tests.api.postgres import free_port
from tests.api.server import CAREMATCH, REPO, carematch


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"CAREMATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}


def test_keys_create_prints_one_url_safe_key(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    out = carematch("keys", "create", "--role", "admin", env=env).stdout
    assert out.count("\n") == 1
    assert re.fullmatch(r"[A-Za-z0-9_.\-]{40,}\n", out)
    second = carematch("keys", "create", "--role", "broker", env=env).stdout
    assert second != out


def test_keys_create_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    no_agency = carematch("keys", "create", "--role", "agency", env=env, check=False)
    assert no_agency.returncode == 2
    assert len(no_agency.stderr.strip().splitlines()) == 1
    unknown = carematch(
        "keys", "create", "--role", "agency", "--agency", "nope", env=env, check=False
    )
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_worker_without_a_broker_is_one_line_exit_2(tmp_path: Path) -> None:
    """`carematch worker` needs CAREMATCH_BROKER_URL; without it, one line, exit 2."""
    env = {**env_for(tmp_path), "CAREMATCH_BROKER_URL": ""}
    done = carematch("worker", env=env, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: CAREMATCH_BROKER_URL is not set: `carematch serve` runs jobs itself without it"
    ]


def test_import_bad_file_and_bad_database(tmp_path: Path) -> None:
    """A market that breaks the schema names the field; a database that cannot be
    reached is one line; both exit 2 without a traceback."""
    env = env_for(tmp_path)
    market = json.loads(MARKET_URBAN.read_text())
    market["agencies"][0]["workers"][0]["max_minutes_per_day"] = "lots"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(market))
    refused = carematch("import", str(bad), env=env, check=False)
    assert refused.returncode == 2
    assert "max_minutes_per_day" in refused.stderr and "Traceback" not in refused.stderr
    unreachable = {"CAREMATCH_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/x"}
    down = carematch("import", str(MARKET_URBAN), env=unreachable, check=False)
    assert down.returncode == 2
    assert "CAREMATCH_DATABASE_URL" in down.stderr and "Traceback" not in down.stderr


def test_demo_commands_work_as_printed(tmp_path: Path) -> None:
    """`carematch demo` (what `make run` runs) loads the urban market, prints keys and
    `curl` commands, and serves; the commands, run as printed in bash from the
    repository's root, submit Mary's package, accept the best offer and read the
    agency's events."""
    port = free_port()
    env = {**os.environ, **env_for(tmp_path), "CAREMATCH_LOG_LEVEL": "WARNING"}
    demo = subprocess.Popen(
        [*CAREMATCH, "demo", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 120
        while not any("/events" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(demo.stdout.readline())
        printed = "".join(lines)
        script = printed[printed.index("PKG=") :]
        time.sleep(3)  # the server comes up after printing
        pages = f"http://127.0.0.1:{port}/"
        assert f"open {pages} in a browser" in printed
        assert 'id="key"' in httpx.get(pages, timeout=10).text  # the sign-in page
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stderr
        outputs = [line for line in ran.stdout.splitlines() if line.startswith("{")]
        accepted, feed = json.loads(outputs[-2]), json.loads(outputs[-1])
        assert accepted["status"] == "accepted"
        assert [e["type"] for e in feed["events"]] == ["package.won"]
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=30)
