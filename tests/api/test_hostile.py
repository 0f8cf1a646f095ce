"""Hostile input at the API (issue 16, section 4): each input of the section that broke
the command line is, over HTTP, a 4xx `application/problem+json` naming the field (or
the body, for what is not JSON at all), answered at once; the 10,000-visit package is
refused with the limit it breaks; a bug that gets through is a 500 problem+json with
no traceback, and is logged.

One service on SQLite for the module, no job worker (nothing here is matched):
these are refusals at the edge, which do not depend on the database (`test_errors.py`
plays its catalogue on both).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from api.problems import PROBLEM_JSON
from matcher import limits
from tests.api.conftest import KeyedClient, keyed_client, mary, small_market


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedClient]:
    with keyed_client(tmp_path_factory.mktemp("hostile")) as api:
        yield api


AGENCY = small_market()["agencies"][0]


def edited(data: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    change(data)
    return data


def body(data: Any) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity as bare words."""
    return json.dumps(data).encode()


@dataclass(frozen=True)
class Hostile:
    name: str
    path: str
    content: bytes
    field: str
    status: int = 422


def package(name: str, change: Callable[[dict[str, Any]], None], field: str) -> Hostile:
    return Hostile(name, "/v1/packages", body(edited(mary(), change)), field)


def agency(name: str, change: Callable[[dict[str, Any]], None], field: str) -> Hostile:
    return Hostile(name, "/v1/agencies", body(edited(AGENCY, change)), field)


def travel(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda a: a.update(travel={name: {key: value}})


def first_line(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda p: p["visits"][0].update(fields)


MARY_BYTES = body(mary())
NESTING = 100_000
WEEK = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

HOSTILE = [
    Hostile(
        "bad UTF-8",
        "/v1/packages",
        MARY_BYTES.replace(b'"Mary', b'"\xff\xfeMary', 1),
        "not valid JSON: not UTF-8",
    ),
    Hostile(
        "deeply nested JSON",
        "/v1/packages",
        b'{"id": ' + b"[" * NESTING + b"]" * NESTING + b"}",
        "nested too deeply",
    ),
    agency(
        "Infinity as a speed", travel("speed_kmh", "car_urban", float("inf")), "body: not valid"
    ),
    agency("speed 0", travel("speed_kmh", "car_urban", 0), "body.travel.speed_kmh.car_urban"),
    agency("NaN as a speed", travel("speed_kmh", "car_urban", float("nan")), "body: not valid"),
    agency(
        "negative speed", travel("speed_kmh", "car_urban", -20), "body.travel.speed_kmh.car_urban"
    ),
    agency("negative fixed minutes", travel("fixed_min", "car", -5), "body.travel.fixed_min.car"),
    agency("unknown travel key", travel("speed_kmh", "bus_urban", 20), "body.travel.speed_kmh"),
    agency(
        "daily maximum of 10^20",
        lambda a: a["workers"][0].update(max_minutes_per_day=10**20),
        "body.workers[0].max_minutes_per_day",
    ),
    agency(
        "weekly maximum of 10^20",
        lambda a: a["workers"][0].update(max_minutes_per_week=10**20),
        "body.workers[0].max_minutes_per_week",
    ),
    agency(
        "hourly rate of 10^20",
        lambda a: a["agency"].update(hourly_rate_pence=10**20),
        "body.agency.hourly_rate_pence",
    ),
    agency(
        "weekday Monkey in a shift",
        lambda a: a["workers"][0].update(
            availability={"Monkey": [{"start": "07:00", "end": "12:00"}]}
        ),
        "body.workers[0].availability.Monkey",
    ),
    agency(
        "more visits a week than an agency may have",
        lambda a: a.update(
            roster=[],
            packages=[
                {
                    **a["packages"][0],
                    "id": f"p{i}",
                    "client": {**a["packages"][0]["client"], "id": f"c{i}"},
                    "links": [],
                    "visits": [
                        {**a["packages"][0]["visits"][0], "id": f"p{i}-l{k}", "weekdays": WEEK}
                        for k in range(20)
                    ],
                }
                for i in range(limits.MAX_PROBLEM_VISITS // 140 + 1)
            ],
        ),
        f"more than an agency may have ({limits.MAX_PROBLEM_VISITS:,})",
    ),
    package("budget of 10^20", lambda p: p.update(budget={"amount_pence": 10**20}), "body.budget"),
    package("30,000-character id", lambda p: p.update(id="x" * 30_000), "body.id"),
    package("weekday Monkey", first_line(weekdays=["Monkey"]), "body.visits[0].weekdays[0]"),
    package(
        "a number given as a string",
        first_line(duration_min="30"),
        "body.visits[0].duration_min: should be a number",
    ),
    package(
        "non-ASCII digits as a time",
        first_line(window={"start": "\u0660\u0667:00", "end": "09:00"}),
        "body.visits[0].window.start",
    ),
    package(
        "a package of 10,000 visits",
        lambda p: p.update(
            links=[],
            visits=[{**p["visits"][0], "id": f"l{i}", "weekdays": ["Mon"]} for i in range(10_000)],
        ),
        f"body.visits: List should have at most {limits.MAX_PACKAGE_LINES} items",
    ),
    package(
        "a package of 280 visits a week",
        lambda p: p.update(
            links=[],
            visits=[{**p["visits"][0], "id": f"l{i}", "weekdays": WEEK} for i in range(40)],
        ),
        f"more than a package may have ({limits.MAX_PACKAGE_VISITS})",
    ),
]


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_hostile_input_is_a_4xx_problem_naming_the_field(api: KeyedClient, case: Hostile) -> None:
    """Each hostile input of section 4: a 4xx problem+json at once, its `detail` naming
    the field; never a 500."""
    headers = {**(api.broker if case.path == "/v1/packages" else api.admin)}
    headers["Content-Type"] = "application/json"
    started = time.monotonic()
    response = api.client.post(case.path, content=case.content, headers=headers)
    assert time.monotonic() - started < 10
    assert response.status_code == case.status, response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["status"] == case.status
    assert case.field in problem["detail"], problem["detail"][:500]
    assert len(response.content) < 5_000
    assert "Traceback" not in response.text


def test_markup_in_ids_is_stored_as_given(api: KeyedClient) -> None:
    """Rich markup in an id is only text to the service: stored and answered as is."""
    sent = mary(id="[/]pkg", client={**mary()["client"], "id": "[bold]c-markup"})
    response = api.client.post("/v1/packages", json=sent, headers=api.broker)
    assert response.status_code == 202, response.text
    assert response.json()["package_id"] == "[/]pkg"


def test_internal_error_is_a_500_problem_without_traceback_and_logged(
    api: KeyedClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug past validation is a 500 problem+json that shows nothing of the code, and
    the traceback is in the log."""

    def broken(*_: object) -> None:
        raise RuntimeError("an internal detail that must not leak")

    monkeypatch.setattr("api.routes.packages._check_ids", broken)
    with caplog.at_level(logging.ERROR, logger="api.problems"):
        response = api.client.post("/v1/packages", json=mary(id="p-bug"), headers=api.broker)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert "internal detail" not in response.text and "Traceback" not in response.text
    assert response.json()["status"] == 500
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "internal detail" in str(logged[0].exc_info[1])
