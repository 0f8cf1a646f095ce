"""The `carematch` command line as a user meets it: real processes, exit codes, and
one clear line (never a traceback) for bad input."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"

MINIMAL: dict[str, Any] = {
    "agency": {"id": "a", "name": "Agency", "hourly_rate_pence": 1250},
    "workers": [
        {
            "id": "w1",
            "name": "Ann",
            "gender": "female",
            "skills": ["personal_care"],
            "home": {"lat": 52.7, "lon": -2.75},
            "availability": {"Mon": [{"start": "07:00", "end": "12:00"}]},
        }
    ],
    "packages": [
        {
            "id": "p1",
            "client": {"id": "c1", "name": "Mary", "location": {"lat": 52.71, "lon": -2.75}},
            "visits": [
                {
                    "weekdays": ["Mon"],
                    "window": {"start": "08:00", "end": "08:30"},
                    "duration_min": 30,
                    "skills": ["personal_care"],
                }
            ],
        }
    ],
}


def carematch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def broken(change: str) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    visit = data["packages"][0]["visits"][0]
    if change == "missing field":
        del data["agency"]["hourly_rate_pence"]
    elif change == "end before start":
        visit["window"] = {"start": "08:00", "end": "07:00"}
    elif change == "unknown skill":
        visit["skills"] = ["hoists"]
    elif change == "negative duration":
        visit["duration_min"] = -30
    elif change == "unknown weekday":
        visit["weekdays"] = ["Funday"]
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("missing field", "agency.hourly_rate_pence: Field required"),
        ("end before start", "packages[0].visits[0].window: end 07:00 is before start 08:00"),
        ("unknown skill", "packages[0].visits[0].skills[0]: unknown skill 'hoists'"),
        ("negative duration", "packages[0].visits[0].duration_min: Input should be greater"),
        ("unknown weekday", "packages[0].visits[0].weekdays[0]: unknown weekday 'Funday'"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path: Path, change: str, expected: str) -> None:
    """Bad input: exit code 2, a single stderr line naming the field, no traceback."""
    path = tmp_path / "input.json"
    path.write_text(json.dumps(broken(change)))
    done = carematch("solve", path, "--time-limit", "1")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert expected in lines[0]


def test_not_json_and_missing_file_exit_2(tmp_path: Path) -> None:
    """Unreadable input (not JSON, or no such file) is also a one-line exit 2."""
    path = tmp_path / "input.json"
    path.write_text("{not json")
    for target in (path, tmp_path / "nope.json"):
        done = carematch("check", target, target)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.stderr


def test_solve_then_check_round_trip(tmp_path: Path) -> None:
    """`solve --out` writes a roster that `check` accepts (exit 0 both times)."""
    problem = tmp_path / "input.json"
    problem.write_text(json.dumps(MINIMAL))
    roster = tmp_path / "roster.json"
    done = carematch("solve", problem, "--time-limit", "2", "--out", roster)
    assert done.returncode == 0, done.stderr
    assert "checker: roster valid" in done.stdout
    assert carematch("check", problem, roster).returncode == 0


def test_check_rejects_broken_roster(tmp_path: Path) -> None:
    """`check` exits 1 and names the rule when a roster sends an unskilled worker."""
    data = copy.deepcopy(MINIMAL)
    data["workers"].append({**data["workers"][0], "id": "w2", "skills": []})
    problem = tmp_path / "input.json"
    problem.write_text(json.dumps(data))
    roster = {
        "problem_id": "problem",
        "assignments": [
            {
                "visit_id": "p1-v1-Mon",
                "package_id": "p1",
                "client_id": "c1",
                "weekday": "Mon",
                "start": "08:00",
                "end": "08:30",
                "workers": ["w2"],
            }
        ],
    }
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster))
    done = carematch("check", problem, path)
    assert done.returncode == 1
    assert "[skills]" in done.stdout


def test_schema_prints_json_schema() -> None:
    """`schema` prints the input's JSON Schema, naming the top-level fields."""
    done = carematch("schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert {"agency", "workers", "packages"} <= set(schema["properties"])


def test_a_reader_that_leaves_is_not_an_internal_error() -> None:
    """`carematch schema | head -1`: the reader closes the pipe (here before a byte
    is written, so that the write fails whatever the timing); the command stops
    quietly with 141 (128 + SIGPIPE, as a shell reports it), not the internal-error
    line and exit 3."""
    process = subprocess.Popen(
        [sys.executable, "-m", "matcher", "schema"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        bufsize=0,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


def test_schema_match_prints_the_match_output_schema() -> None:
    """`schema --match` prints the match output's JSON Schema (`match_json_schema`):
    the six top-level keys, and every offer key required."""
    from matcher.brokerage.offer import OFFER_KEYS
    from matcher.matching import match_json_schema

    done = carematch("schema", "--match")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema == match_json_schema()
    assert set(schema["required"]) == {
        "package_id",
        "elapsed_s",
        "offers",
        "suggestions",
        "changes",
        "splits",
    }
    offer = schema["$defs"]["Offer"]
    assert set(OFFER_KEYS) <= set(offer["required"]) == set(offer["properties"])


@pytest.mark.parametrize("name", ["mary", "urban", "rural"])
def test_samples_solve_and_check(tmp_path: Path, name: str) -> None:
    """Acceptance: each sample solves, its roster passes `check`; Mary is fully placed."""
    roster = tmp_path / "r.json"
    done = carematch("solve", SAMPLES / f"{name}.json", "--time-limit", "10", "--out", roster)
    assert done.returncode == 0, done.stderr
    assert carematch("check", SAMPLES / f"{name}.json", roster).returncode == 0
    if name == "mary":
        assert json.loads(roster.read_text())["unassigned"] == []


# The research code's heavy dependencies (the `bench` extra), which a service install
# of carematch leaves out.
BENCH_MODULES = ("matplotlib", "reverse_geocoder")


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def run_cli_then_list_bench_modules(*args: str) -> str:
    """Python code that runs the CLI in-process, then prints which bench modules it
    loaded (a subprocess, so nothing this test process imported counts)."""
    return (
        "import sys\n"
        "from matcher.cli import app\n"
        "try:\n"
        f"    app({list(args)!r})\n"
        "except SystemExit as exit:\n"
        "    print('EXIT', exit.code)\n"
        f"print('LOADED', [m for m in {BENCH_MODULES!r} if m in sys.modules])\n"
    )


def test_engine_imports_leave_out_the_bench_extra() -> None:
    """Importing the engine the service uses, `carematch --help` and `carematch match`
    load neither matplotlib nor reverse_geocoder (only the bench commands need them)."""
    done = python(
        "import sys\n"
        "import matcher.cli, matcher.matching, matcher.slots, matcher.solver\n"
        "import matcher.control, matcher.checker, matcher.kpis\n"
        f"print('LOADED', [m for m in {BENCH_MODULES!r} if m in sys.modules])\n"
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    for args in (
        ["--help"],
        [
            "match",
            str(SAMPLES / "market_rural.json"),
            str(SAMPLES / "packages" / "rural_double_up.json"),
            "--json",
            "--time-limit",
            "0.1",
        ],
    ):
        done = python(run_cli_then_list_bench_modules(*args))
        assert "EXIT 0" in done.stdout, done.stderr
        assert "LOADED []" in done.stdout, (args, done.stdout[-300:])
    assert '"offers"' in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["bench", "regions", "--size", "small"],
        ["bench", "hhcrsp", "instances", "--best-known", "best_known.md", "--out", "R.md"],
    ],
)
def test_bench_without_the_extra_is_one_line_and_exit_2(args: list[str]) -> None:
    """Without the `bench` extra a research command says so in one line on stderr and
    exits 2, before any work; never a traceback."""
    hide = "".join(f"sys.modules[{m!r}] = None\n" for m in BENCH_MODULES)
    done = python(f"import sys\n{hide}from matcher.cli import app\napp({args!r})\n")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "needs the bench extra: pip install 'carematch[bench]'" in lines[0]
