"""Fuzzing the command line's edge (issue 16, section 4): real inputs, mutated by
`tests.mutations` (types, bounds, unicode, nesting, sizes), through `carematch solve`,
`check` and `match` in this process. Whatever the input, the exit code is 0, 1 or 2,
a 2 comes with exactly one line on stderr, and nothing is an internal error (3) or a
traceback. Seeded (`derandomize`) and bounded, so `make test` runs the same examples
every time, in about half a minute.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from matcher.cli import EXIT_BAD_INPUT, app
from tests.mutations import hostile_bytes

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
MARY = json.loads((SAMPLES / "mary.json").read_text())
PACKAGE = json.loads((SAMPLES / "packages" / "mary.json").read_text())
# One agency of the rural market, two of its workers: matching a valid mutant is quick.
_RURAL = json.loads((SAMPLES / "market_rural.json").read_text())
TINY_MARKET = {
    "id": "tiny",
    "agencies": [{**_RURAL["agencies"][0], "packages": [], "roster": []}],
}

FUZZ = settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def kept_promise(result: Result) -> None:
    """Exit 0, 1 or 2; a 2 is one line; never an internal error or a traceback."""
    assert result.exit_code in (0, 1, EXIT_BAD_INPUT), (result.exit_code, result.stderr[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == EXIT_BAD_INPUT:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
        assert len(lines[0]) < 2_000


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mary's problem, a roster of it (solved once), the tiny market and Mary's package."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "mary.json").write_text(json.dumps(MARY))
    (folder / "market.json").write_text(json.dumps(TINY_MARKET))
    (folder / "package.json").write_text(json.dumps(PACKAGE))
    solved = CliRunner().invoke(
        app, ["solve", str(folder / "mary.json"), "--time-limit", "1", "--out",
              str(folder / "roster.json")]
    )  # fmt: skip
    assert solved.exit_code == 0, solved.stderr
    return folder


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@FUZZ
@given(data=hostile_bytes(MARY))
def test_fuzz_solve(workdir: Path, data: bytes) -> None:
    """`carematch solve` on a mutated problem keeps the promise."""
    path = workdir / "fuzz_problem.json"
    path.write_bytes(data)
    kept_promise(run("solve", path, "--time-limit", "0.1", "--out", workdir / "fuzz_out.json"))


@FUZZ
@given(data=st.data(), roster_side=st.booleans())
def test_fuzz_check(workdir: Path, data: st.DataObject, roster_side: bool) -> None:
    """`carematch check` with a mutated roster, or a mutated problem, keeps the promise."""
    problem, roster = workdir / "mary.json", workdir / "roster.json"
    if roster_side:
        mutant = workdir / "fuzz_roster.json"
        mutant.write_bytes(data.draw(hostile_bytes(json.loads(roster.read_text()))))
        kept_promise(run("check", problem, mutant))
    else:
        mutant = workdir / "fuzz_problem_check.json"
        mutant.write_bytes(data.draw(hostile_bytes(MARY)))
        kept_promise(run("check", mutant, roster))


@FUZZ
@given(data=hostile_bytes(PACKAGE))
def test_fuzz_match(workdir: Path, data: bytes) -> None:
    """`carematch match` with a mutated package keeps the promise."""
    path = workdir / "fuzz_package.json"
    path.write_bytes(data)
    kept_promise(run("match", workdir / "market.json", path, "--time-limit", "0.05", "--json"))
