"""The `carematch` command: the engine's commands (`matcher.cli`) plus the service's:
`serve`, `keys create`, `import` and `demo`.

The service's commands live here rather than in `matcher.cli` so that the engine has
no web or database code; the console script points at this module's `app`.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from api.security import Role
from api.settings import Settings, get_settings
from matcher.cli import app, describe_validation_error, fail, load_or_exit

keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DEMO_MARKET = Path("data/samples/market_urban.json")
DEMO_PACKAGE = Path("data/samples/packages/mary.json")


def _settings() -> Settings:
    """The service's settings; a bad `CAREMATCH_*` variable (a ranking policy whose
    JSON does not validate, say) is one line naming it and exit 2, not a traceback."""
    try:
        return get_settings()
    except ValidationError as exc:
        variable = f"CAREMATCH_{str(exc.errors()[0]['loc'][0]).upper()}"
        fail(f"{variable}: {describe_validation_error(exc)}")
    except SettingsError as exc:  # a JSON-valued variable that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        variable = f"CAREMATCH_{field.group(1).upper()}" if field else "settings"
        fail(f"{variable}: not valid JSON ({exc})")


def _migrated(settings: Settings) -> None:
    from api.db import migrate

    try:
        migrate(settings.database_url)
    except Exception as exc:  # an unreachable or unusable database: one line, exit 2
        fail(f"CAREMATCH_DATABASE_URL: cannot use the database ({type(exc).__name__}: {exc})")


def _sessions(settings: Settings):
    from api.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database_url))


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option("--role", help="broker, agency or admin.")],
    agency: Annotated[
        str | None, typer.Option("--agency", help="The agency an agency key is bound to.")
    ] = None,
    label: Annotated[str, typer.Option("--label", help="A note on whose key it is.")] = "",
) -> None:
    """Print a new API key, once, on a line of its own (only its hash is stored)."""
    from api.db import transaction
    from api.security import create_key

    settings = _settings()
    _migrated(settings)
    try:
        with transaction(_sessions(settings)) as session:
            key = create_key(session, role=role, agency_id=agency, label=label)
    except ValueError as exc:
        fail(f"--agency: {exc}")
    print(key)


@app.command("import")
def import_market(
    market_path: Annotated[Path, typer.Argument(metavar="MARKET.json", help="Market JSON.")],
) -> None:
    """Load a market file's agencies, workers, clients, packages and committed rosters
    into the database, checked; idempotent by ids."""
    from api import agencies
    from api.db import transaction
    from api.problems import Problem
    from matcher.market import Market

    settings = _settings()
    market = load_or_exit(market_path, Market)
    _migrated(settings)
    try:
        with transaction(_sessions(settings)) as session:
            outcome = agencies.import_market(session, market)
    except Problem as exc:
        fail(f"{market_path}: {exc.detail}")
    except ValueError as exc:
        fail(f"{market_path}: {exc}")
    for agency_id, what in outcome.items():
        print(f"{agency_id}: {what}")
    if market.ranking_policy != settings.ranking_policy:
        # The agencies are the database's; the council's policy is the service's setting.
        print("ranking_policy: not imported (the service ranks by CAREMATCH_RANKING_POLICY)")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
) -> None:
    """Start the API and its job workers (`CAREMATCH_WORKERS`, default 1)."""
    settings = _settings()
    _migrated(settings)
    run_service(settings, host=host, port=port)


def run_service(settings: Settings, *, host: str, port: int) -> None:
    """Job worker processes, then the web server until it is stopped; then the workers
    are told to stop (their running jobs go back to the queue)."""
    import uvicorn

    from api.main import create_app

    logging.basicConfig(
        level=os.environ.get("CAREMATCH_LOG_LEVEL", "INFO"),
        format="%(asctime)s api[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    # With a broker the jobs run on `carematch worker`s (api.celery_app), not here.
    embedded = 0 if settings.broker_url else settings.workers
    workers = [
        subprocess.Popen([sys.executable, "-m", "api.worker", "--parent", str(os.getpid())])
        for _ in range(embedded)
    ]
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the
    # handler it found: make that handler an exit, so the `finally` below still stops
    # the workers (whose running jobs then go back to the queue).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@app.command()
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", min=0, help="Processes evaluating agencies (0: one per core)."
        ),
    ] = 0,
) -> None:
    """Run jobs from the Celery broker (CAREMATCH_BROKER_URL) until stopped: start one
    on each machine that should solve (docs/scale-out.md)."""
    settings = _settings()
    if not settings.broker_url:
        fail("CAREMATCH_BROKER_URL is not set: `carematch serve` runs jobs itself without it")
    _migrated(settings)
    from api.celery_app import run_worker

    logging.basicConfig(
        level=os.environ.get("CAREMATCH_LOG_LEVEL", "INFO"),
        format="%(asctime)s worker[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    raise typer.Exit(run_worker(settings, concurrency=concurrency))


@app.command()
def demo(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    serve_too: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Set up the demo: migrate, load the urban market, make a broker and an agency
    key, print `curl` commands that use them, then serve."""
    from api import agencies
    from api.db import transaction
    from api.security import create_key
    from matcher.market import Market

    settings = _settings()
    _migrated(settings)
    market = load_or_exit(DEMO_MARKET, Market)
    factory = _sessions(settings)
    with transaction(factory) as session:
        outcome = agencies.import_market(session, market)
        broker = create_key(session, role=Role.BROKER, label="demo broker")
        agency_id = "isl-agency"
        agency = create_key(session, role=Role.AGENCY, agency_id=agency_id, label="demo agency")
    created = sum(1 for v in outcome.values() if v != "unchanged")
    print(f"demo market: {len(outcome)} agencies ({created} loaded now) in {settings.database_url}")
    print(demo_instructions(f"http://{host}:{port}", broker, agency, agency_id))
    sys.stdout.flush()
    if serve_too:
        run_service(settings, host=host, port=port)


def demo_instructions(base: str, broker: str, agency: str, agency_id: str) -> str:
    """The demo's keys, the address of the pages (`api/web/`) and `curl` commands,
    runnable as printed in bash from the repository's root (the package's id and the
    best agency are read from the answers with Python, which is there wherever
    carematch is)."""
    field = 'python3 -c "import json,sys; print(json.load(sys.stdin){})"'
    b = shlex.quote(f"Authorization: Bearer {broker}")
    a = shlex.quote(f"Authorization: Bearer {agency}")
    json_type = "-H 'Content-Type: application/json'"
    return f"""
broker key: {broker}
agency key ({agency_id}): {agency}

# the pages: open {base}/ in a browser and sign in with one of the keys above
#   broker: New package (Fill in Mary's package), Submit, compare the offers, Accept
#   agency: its roster as a Gantt, map, where does it fit?, inbox, workers, clients

# 1. submit Mary's package (202: stored, matching queued)
PKG=$(curl -s -H {b} {json_type} --data @{DEMO_PACKAGE} \\
  {base}/v1/packages | {field.format("['id']")})
# 2. wait while it is queued or matching (a minute at most), then read the offers
for i in $(seq 60); do S=$(curl -s -H {b} {base}/v1/packages/$PKG | {field.format("['status']")})
  [ "$S" = queued ] || [ "$S" = matching ] || break; sleep 1; done
curl -s -w '\\n' -H {b} {base}/v1/packages/$PKG
# 3. accept the best offer
BEST=$(curl -s -H {b} {base}/v1/packages/$PKG | {field.format("['offers'][0]['agency_id']")})
curl -s -w '\\n' -H {b} {json_type} -d "{{\\"agency_id\\": \\"$BEST\\"}}" \\
  {base}/v1/packages/$PKG/accept
# 4. the agency's events (an agency key reads its own; {agency_id} hears whether it won)
curl -s -w '\\n' -H {a} {base}/v1/agencies/{agency_id}/events
"""


__all__ = ["app"]
