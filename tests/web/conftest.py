"""Fixtures of the browser tests: Debian's Chromium driven by Playwright against a real
`carematch serve` process.

- `site` (session): a SQLite database in a temporary directory with three agencies of
  the urban market (isl-agency at £12.50 an hour, where Mary fits; cam-agency at
  £13.00, over her budget; kgx-agency, another agency whose pages isl's key must not
  open), a broker key and two agency keys, served by `carematch serve` on a free
  loopback port with its job worker.
- `browser` (session): Chromium from Debian (`tests/debian.py` installs it when
  missing; Playwright's own browser download is not used), headless, launched by
  its path with background networking off and a fresh profile.
- `visit` (per test): a new browser context (no cookies) whose pages carry axe-core
  (added before any page script, so the pages' Content-Security-Policy, which
  allows only the site's own scripts, stays on); `visit.check(name)` runs axe,
  keeps a screenshot and asserts no console error so far.

Every page's screenshot is kept in a temporary directory (the test artefacts:
pytest's `screens0` under its basetemp, or `CAREMATCH_SCREENSHOTS` when set);
`CAREMATCH_DOCS_SCREENS=1` also copies the few the README shows to `docs/screens/`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import MARKET_URBAN
from tests.api.server import REPO, Server, carematch
from tests.debian import ensure_command

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
AGENCIES = ("isl-agency", "cam-agency", "kgx-agency")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The screenshots docs/web.md and the README show (CAREMATCH_DOCS_SCREENS=1 refreshes).
DOCS_SCREENS = ("broker-offers", "broker-new-package-error", "agency-roster-mary", "agency-map")
# axe-core impacts that fail a page (minor and moderate ones are reported only).
FAILING_IMPACTS = ("serious", "critical")


@dataclass
class Site:
    url: str
    broker: str
    agency: dict[str, str]
    database_url: str
    market: dict[str, Any]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("site")
    market = json.loads(MARKET_URBAN.read_text())
    market["agencies"] = [a for a in market["agencies"] if a["agency"]["id"] in AGENCIES]
    market_path = home / "market.json"
    market_path.write_text(json.dumps(market))
    database_url = f"sqlite:///{home / 'carematch.db'}"
    env = {
        "CAREMATCH_DATABASE_URL": database_url,
        "CAREMATCH_MATCH_PROCESSES": "1",
        "CAREMATCH_POLL_INTERVAL_S": "0.1",
        "CAREMATCH_HEARTBEAT_S": "0.5",
    }
    carematch("import", str(market_path), env=env)

    def key(*args: str) -> str:
        return carematch("keys", "create", *args, env=env).stdout.strip()

    broker = key("--role", "broker")
    agency = {a: key("--role", "agency", "--agency", a) for a in ("isl-agency", "kgx-agency")}
    with Server(env) as server:
        yield Site(server.url, broker, agency, database_url, market)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright import sync_api  # the test extra installs it: missing is a failure

    chromium = ensure_command("chromium", "chromium")
    with sync_api.sync_playwright() as playwright:
        launched = None
        for attempt in range(2):  # a machine busy with other work once left it hanging
            try:
                launched = playwright.chromium.launch(
                    executable_path=chromium, headless=True, args=CHROMIUM_ARGS, timeout=60_000
                )
                break
            except sync_api.TimeoutError:
                if attempt:
                    raise
        assert launched is not None
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("CAREMATCH_SCREENSHOTS")
    if chosen:
        path = Path(chosen)
        path = path if path.is_absolute() else REPO / path
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screens")


@dataclass
class Visit:
    """One browser context (one person): its page, and what went wrong in it."""

    page: Any
    site: Site
    screens: Path
    console_errors: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.site.url + path)

    def sign_in(self, key: str) -> None:
        self.goto("/")
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's violations on the page as it is now (WCAG 2.x A and AA rules and
        axe's best practices)."""
        return self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
                }));
            }"""
        )

    def check(self, name: str) -> None:
        """The page as it stands: no serious or critical accessibility fault, no
        console error so far; a screenshot kept as `<name>.png`."""
        shot = self.screens / f"{name}.png"
        self.page.screenshot(path=shot, full_page=True)
        if name in DOCS_SCREENS and os.environ.get("CAREMATCH_DOCS_SCREENS"):
            # the docs show one screenful, around the first error beside a field if any
            (REPO / "docs" / "screens").mkdir(exist_ok=True)
            beside = self.page.locator(".error[data-field]")
            if beside.count():
                beside.first.scroll_into_view_if_needed()
            self.page.screenshot(path=REPO / "docs" / "screens" / shot.name)
            self.page.evaluate("window.scrollTo(0, 0)")
        failing = [v for v in self.axe() if v["impact"] in FAILING_IMPACTS]
        assert failing == [], f"{name}: accessibility faults {failing}"
        assert self.console_errors == [], f"{name}: console errors {self.console_errors}"
        self.checked.append(name)


def open_visit(browser: Any, site: Site, screens: Path) -> Visit:
    """A new browser context (one person, no cookies) with axe-core on every page and
    console errors collected."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(path=str(AXE))
    context.set_default_timeout(15_000)
    page = context.new_page()
    visit = Visit(page=page, site=site, screens=screens)
    # A page answered 4xx on purpose (a refused form is 422, another agency's page
    # 404) makes Chromium log "Failed to load resource" for the document itself: the
    # tests assert those statuses; any other failed load and every script error count.
    refused_pages: set[str] = set()

    def on_response(response: Any) -> None:
        if response.status < 400:
            return
        if response.request.is_navigation_request():
            refused_pages.add(response.url)
        else:
            visit.console_errors.append(f"HTTP {response.status} {response.url}")

    def on_console(message: Any) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource") and (
            message.location.get("url") in refused_pages
        ):
            return
        visit.console_errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: visit.console_errors.append(f"uncaught: {error}"))
    return visit


@pytest.fixture
def visit(browser: Any, site: Site, screens: Path) -> Iterator[Visit]:
    visit = open_visit(browser, site, screens)
    try:
        yield visit
    finally:
        visit.page.context.close()
