"""Hostile input at the command line (issue 16, section 4): every input a new user
tried that broke the CLI's promise gives exit 2 and one line naming the file and the
field, never a traceback, and quickly; nothing that was solved is lost; a bug that
still gets through is one line and exit 3.

The commands run in this process (`typer.testing.CliRunner`), which is what makes the
catalogue fast; `tests/test_cli.py` runs real processes for the rest of the promise.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from matcher import limits
from matcher.cli import EXIT_BAD_INPUT, EXIT_INTERNAL, app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
MARY = json.loads((SAMPLES / "mary.json").read_text())
MARY_PACKAGE = json.loads((SAMPLES / "packages" / "mary.json").read_text())
SMALL_MARKET = json.loads((SAMPLES / "market_rural.json").read_text())


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_exit_2(result: Result, field: str) -> None:
    """Exit 2 and one line on stderr that names `field`; no traceback anywhere."""
    assert result.exit_code == EXIT_BAD_INPUT, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert field in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def edit(data: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    change(data)
    return data


def with_matrix(value: float) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        ids = [w["id"] for w in d["workers"]] + [p["client"]["id"] for p in d["packages"]]
        minutes = [[0.0] * len(ids) for _ in ids]
        minutes[0][1] = value
        d["travel_matrix"] = {"ids": ids, "minutes": minutes}

    return change


def setting(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.update(travel={name: {key: value}})


def first_line(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["packages"][0]["visits"][0].update(fields)


@dataclass(frozen=True)
class Hostile:
    """One hostile problem file for `carematch solve` and the field its line must name."""

    name: str
    content: bytes
    field: str


def problem(name: str, change: Callable[[dict[str, Any]], None], field: str) -> Hostile:
    # json.dumps writes NaN and Infinity as the bare words, as a careless tool would.
    return Hostile(name, json.dumps(edit(MARY, change)).encode(), field)


MARY_BYTES = json.dumps(MARY).encode()
NESTING = 100_000

HOSTILE_PROBLEMS = [
    Hostile(
        "bad UTF-8",
        MARY_BYTES.replace(b'"Susan T."', b'"Susan \xff\xfe"'),
        "not UTF-8 (byte",
    ),
    Hostile(
        "deeply nested JSON",
        b'{"id": ' + b"[" * NESTING + b"]" * NESTING + b"}",
        "nested too deeply",
    ),
    problem(
        "Infinity in a travel matrix", with_matrix(float("inf")), "travel_matrix.minutes[0][1]"
    ),
    problem("NaN in a travel matrix", with_matrix(float("nan")), "travel_matrix.minutes[0][1]"),
    problem("speed 0", setting("speed_kmh", "car_urban", 0), "travel.speed_kmh.car_urban"),
    problem(
        "speed NaN", setting("speed_kmh", "car_urban", float("nan")), "travel.speed_kmh.car_urban"
    ),
    problem("negative speed", setting("speed_kmh", "car_urban", -20), "travel.speed_kmh.car_urban"),
    problem("negative fixed minutes", setting("fixed_min", "car", -5), "travel.fixed_min.car"),
    problem(
        "budget of 10^20",
        lambda d: d["packages"][0]["budget"].update(amount_pence=10**20),
        "packages[0].budget.amount_pence",
    ),
    problem(
        "daily maximum of 10^20",
        lambda d: d["workers"][0].update(max_minutes_per_day=10**20),
        "workers[0].max_minutes_per_day",
    ),
    problem(
        "weekly maximum of 10^20",
        lambda d: d["workers"][0].update(max_minutes_per_week=10**20),
        "workers[0].max_minutes_per_week",
    ),
    problem(
        "hourly rate of 10^20",
        lambda d: d["agency"].update(hourly_rate_pence=10**20),
        "agency.hourly_rate_pence",
    ),
    problem(
        "weight of 10^20",
        lambda d: d.update(weights={"unassigned_visit": 10**20}),
        "weights.unassigned_visit",
    ),
    problem("30,000-character problem id", lambda d: d.update(id="x" * 30_000), "id: "),
    problem(
        "weekday Monkey",
        lambda d: d["workers"][0]["availability"].update(
            Monkey=d["workers"][0]["availability"].pop("Mon")
        ),
        "workers[0].availability.Monkey: unknown weekday 'Monkey'",
    ),
    problem(
        "visit weekday Monkey",
        first_line(weekdays=["Monkey"]),
        "packages[0].visits[0].weekdays[0]",
    ),
    problem(
        "one day named twice",
        lambda d: d["workers"][0]["availability"].update(
            monday=d["workers"][0]["availability"]["Mon"]
        ),
        "workers[0].availability: Mon is given twice",
    ),
    problem(
        "a number given as a string",
        first_line(duration_min="30"),
        "packages[0].visits[0].duration_min: should be a number",
    ),
    problem(
        "a number given as a boolean",
        lambda d: d["workers"][0].update(max_minutes_per_day=True),
        "workers[0].max_minutes_per_day",
    ),
    problem(
        "unknown key inside travel settings",
        setting("speed_kmh", "bus_urban", 20),
        "travel.speed_kmh.bus_urban",
    ),
    problem(
        "misspelt key inside travel settings",
        setting("detour_factor", "carurban", 1.2),
        "travel.detour_factor.carurban",
    ),
    problem(
        "non-ASCII digits as a time",
        first_line(window={"start": "\u0660\u0667:00", "end": "09:00"}),
        "packages[0].visits[0].window.start",
    ),
    problem(
        "a package of 10,000 visits",
        lambda d: d["packages"][0].update(
            links=[],
            visits=[
                {**d["packages"][0]["visits"][0], "id": f"l{i}", "weekdays": ["Mon"]}
                for i in range(10_000)
            ],
        ),
        f"packages[0].visits: List should have at most {limits.MAX_PACKAGE_LINES} items",
    ),
    problem(
        "more visits a week than a problem may have",
        lambda d: d.update(
            packages=[
                {
                    **d["packages"][0],
                    "id": f"p{i}",
                    "client": {**d["packages"][0]["client"], "id": f"c{i}"},
                    "links": [],
                    "visits": [
                        {
                            **d["packages"][0]["visits"][0],
                            "id": f"p{i}-l{k}",
                            "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
                        }
                        for k in range(20)
                    ],
                }
                for i in range(limits.MAX_PROBLEM_VISITS // 140 + 1)
            ]
        ),
        f"visits a week is more than a problem may have ({limits.MAX_PROBLEM_VISITS:,})",
    ),
]


@pytest.mark.parametrize("case", HOSTILE_PROBLEMS, ids=lambda c: c.name)
def test_hostile_problem_is_one_line_and_exit_2(tmp_path: Path, case: Hostile) -> None:
    """`carematch solve` on each hostile input: exit 2 at once, one line naming the
    field; nothing is solved (so no time limit is waited for)."""
    path = tmp_path / "problem.json"
    path.write_bytes(case.content)
    started = time.monotonic()
    result = run("solve", path, "--time-limit", "30", "--out", tmp_path / "roster.json")
    one_line_exit_2(result, case.field)
    assert str(path) in result.stderr
    assert time.monotonic() - started < 10
    assert not (tmp_path / "roster.json").exists()


HOSTILE_PACKAGES = [
    (
        "a package of 10,000 visits",
        edit(
            MARY_PACKAGE,
            lambda p: p.update(
                visits=[
                    {**p["visits"][0], "id": f"l{i}", "weekdays": ["Mon"]} for i in range(10_000)
                ]
            ),
        ),
        f"visits: List should have at most {limits.MAX_PACKAGE_LINES} items",
    ),
    (
        "a package of 280 visits in 40 lines",
        edit(
            MARY_PACKAGE,
            lambda p: p.update(
                visits=[
                    {
                        **p["visits"][0],
                        "id": f"l{i}",
                        "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
                    }
                    for i in range(40)
                ]
            ),
        ),
        f"280 visits a week is more than a package may have ({limits.MAX_PACKAGE_VISITS})",
    ),
    (
        "budget of 10^20",
        edit(MARY_PACKAGE, lambda p: p.update(budget={"amount_pence": 10**20})),
        "budget.amount_pence",
    ),
    (
        "30,000-character package id",
        edit(MARY_PACKAGE, lambda p: p.update(id="p" * 30_000)),
        "id: String should have at most",
    ),
]


@pytest.mark.parametrize(("name", "package", "field"), HOSTILE_PACKAGES, ids=lambda v: str(v)[:40])
def test_hostile_package_to_match_is_one_line_and_exit_2(
    tmp_path: Path, name: str, package: dict[str, Any], field: str
) -> None:
    """`carematch match` refuses a hostile package at once, naming the limit it breaks,
    before any agency's model is built (the 10,000-visit package once built models for
    ten minutes at 9.5 GB per process)."""
    market = tmp_path / "market.json"
    market.write_text(json.dumps(SMALL_MARKET))
    path = tmp_path / "package.json"
    path.write_text(json.dumps(package))
    started = time.monotonic()
    result = run("match", market, path, "--json")
    one_line_exit_2(result, field)
    assert time.monotonic() - started < 10


def test_check_with_a_hostile_roster_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`carematch check` reads the roster with the same care: bad UTF-8 in it."""
    problem_path = tmp_path / "problem.json"
    problem_path.write_text(json.dumps(MARY))
    roster = tmp_path / "roster.json"
    roster.write_bytes(b'{"problem_id": "\xff", "assignments": []}')
    one_line_exit_2(run("check", problem_path, roster), "not UTF-8")


@pytest.mark.parametrize("worker_id", ["[/]", "[bold red]w1", "[link=x]w1[/link]", ":smile:"])
def test_bug_markup_in_ids_loses_no_roster(tmp_path: Path, worker_id: str) -> None:
    """An id that is rich markup ("[/]" once raised MarkupError after solving, and the
    roster was never written) is printed as it is, and the roster is written."""
    data = edit(MARY, lambda d: d["workers"][0].update(id=worker_id))
    data["id"] = f"{worker_id} problem"
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "roster.json"
    result = run("solve", path, "--time-limit", "1", "--out", out)
    assert result.exit_code == 0, (result.output, result.stderr)
    assert out.exists()
    assert f"{worker_id} problem" in result.stdout
    roster = json.loads(out.read_text())
    assert any(worker_id in a["workers"] for a in roster["assignments"])
    assert run("check", path, out).exit_code == 0


def test_bug_long_problem_id_is_refused_quickly(tmp_path: Path) -> None:
    """A 30,000-character problem id took seconds to render (longer ones hung): ids are
    limited to `limits.MAX_ID_CHARS`, and the error line quotes none of it."""
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(edit(MARY, lambda d: d.update(id="x" * 300_000))))
    started = time.monotonic()
    result = run("solve", path, "--time-limit", "1")
    one_line_exit_2(result, f"at most {limits.MAX_ID_CHARS} characters")
    assert len(result.stderr) < 500
    assert time.monotonic() - started < 5


def test_input_over_the_size_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file larger than `limits.MAX_INPUT_BYTES` is refused by its size, unread."""
    monkeypatch.setattr("matcher.cli.MAX_INPUT_BYTES", 1000)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(MARY))
    one_line_exit_2(run("solve", path), "bytes is more than an input may have (1,000)")


def test_internal_error_is_one_line_and_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that gets past validation (here: the checker raising) is one line on
    stderr and exit 3, distinct from 1 (a roster breaks a rule) and 2 (bad input); the
    roster already computed has been written."""

    def broken(*_: object) -> None:
        raise KeyError("something the engine did not expect")

    monkeypatch.setattr("matcher.cli.check_roster", broken)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(MARY))
    out = tmp_path / "roster.json"
    result = run("solve", path, "--time-limit", "1", "--out", out)
    assert result.exit_code == EXIT_INTERNAL, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error"), result.stderr
    assert "KeyError" in lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert json.loads(out.read_text())["assignments"]


def test_recursion_inside_the_engine_is_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """A RecursionError from deep inside a command is an internal error too (exit 3,
    one line), not a traceback."""

    def deep() -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("matcher.cli.Problem.model_json_schema", deep)
    result = run("schema")
    assert result.exit_code == EXIT_INTERNAL
    assert result.stderr.count("\n") == 1 and "nested too deeply" in result.stderr
