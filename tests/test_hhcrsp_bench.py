"""The HHCRSP benchmark runner (`matcher.hhcrsp.bench`): the results file (one seed
keeps the plain table; several seeds give each run a row and each size its seed
spread), and the capped and uncapped searches side by side."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from matcher.checker import check
from matcher.hhcrsp.adapter import to_problem
from matcher.hhcrsp.bench import (
    BenchResult,
    ResultsHeader,
    benchmark_cost,
    capped_and_uncapped,
    header_of,
    merge_runs,
    results_from_markdown,
    results_markdown,
    run_instance,
)
from matcher.hhcrsp.format import load_instance
from matcher.schema import Roster
from matcher.solver import SolveParams, solve
from tests.helpers import HHCRSP_DATA, load_script


def result(
    instance: str, seed: int, gap: float, patients: int = 100, rate: float | None = None
) -> BenchResult:
    return BenchResult(
        instance=instance, n_patients=patients, cost=100 + gap, best_known=100.0, gap_pct=gap,
        feasible=True, time_s=60.0, distance=1.0, total_tardiness=0.0, max_tardiness=0.0,
        checker_violations=0, evaluator_violations=[], seed=seed, iterations_per_s=rate,
    )  # fmt: skip


def size_row(text: str, size: int) -> list[str]:
    row = next(line for line in text.splitlines() if line.startswith(f"| {size} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_one_seed_has_no_seed_columns() -> None:
    """Without ruin and recreate (no rate) the iter/s cells are empty, not nan."""
    text = results_markdown([result("a", 0, 1.0), result("b", 0, 3.0)], command="c",
                            machine="m", date="d")  # fmt: skip
    assert "seed" not in text
    assert size_row(text, 100) == ["100", "2", "2", "2.00", "3.00", "60.0", ""]
    assert "| a | 100 | 101.000 | 100.0 | 1.0 | True |" in text
    assert text.count("|  |\n") == 3  # the size row and each instance's row


def test_iterations_per_second_per_run_and_their_mean_per_size() -> None:
    """Each run's iter/s is the last cell of its row; a size's mean is over the runs
    that have one (a run without ruin and recreate does not count as 0)."""
    runs = [result("a", 0, 1.0, rate=1000.4), result("b", 0, 3.0, rate=1500.0),
            result("c", 0, 2.0)]  # fmt: skip
    text = results_markdown(runs, command="c", machine="m", date="d")
    assert size_row(text, 100) == ["100", "3", "3", "2.00", "3.00", "60.0", "1250"]
    rows = [line for line in text.splitlines() if line.startswith(("| a |", "| b |", "| c |"))]
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == ["1000", "1500", ""]
    header = next(line for line in text.splitlines() if line.startswith("| instance |"))
    assert header.endswith("| gap to bound % | iter/s |")
    separator = text.splitlines()[text.splitlines().index(header) + 1]
    assert separator.count("---") == header.count("|") - 1


def test_seed_spread_is_each_instances_range_averaged_and_at_most() -> None:
    runs = [
        result("a", 0, 2.5), result("a", 1, 1.0), result("a", 2, 1.5),
        result("b", 0, 3.0), result("b", 1, 3.0), result("b", 2, 4.0),
    ]  # fmt: skip
    text = results_markdown(runs, command="c", machine="m", date="d")
    # mean gap over the six runs 2.50, max 4.00; spreads a 1.5, b 1.0
    assert size_row(text, 100) == ["100", "2", "6", "2.50", "4.00", "60.0", "1.25", "1.50", ""]
    assert "| a | 1 | 100 | 101.000 |" in text


def test_a_results_file_reads_back_as_its_runs() -> None:
    """Every column of the instance table comes back as written, with seeds or without
    (one seed: no seed column, every run seed 0), and so does the header."""
    runs = [
        replace(result("a", 0, 1.5, patients=25, rate=1234.0), bound=90.125,
                gap_to_bound_pct=12.5, distance=3.25, total_tardiness=7.5, max_tardiness=2.0),
        replace(result("b", 0, -0.25), best_known=None, gap_pct=None, feasible=False),
    ]  # fmt: skip
    for seeds in ([0, 0], [1, 2]):
        seeded = [replace(r, seed=s) for r, s in zip(runs, seeds, strict=True)]
        text = results_markdown(seeded, command="`c`", machine="m", date="d", title="T")
        assert results_from_markdown(text) == seeded
        assert header_of(text) == ResultsHeader("T", "`c`", "m", "d")
    with pytest.raises(ValueError, match=r"no '\| instance \|' table"):
        results_from_markdown("# nothing here\n")


def test_merge_puts_each_rerun_in_place_of_its_instance_and_seed() -> None:
    """A run replaces the first row of its instance and seed in the first file holding
    it, in place; other rows and files stay as they were; a run no file holds is an
    error naming it."""
    seed0 = [result("a", 0, 1.0), result("b", 0, 2.0)]
    seeds12 = [result("a", 1, 3.0), result("a", 2, 4.0), result("b", 1, 5.0)]
    rerun = [result("a", 0, -1.0), result("a", 2, -2.0)]
    merged = merge_runs([seed0, seeds12], rerun)
    assert merged == [
        [rerun[0], seed0[1]],
        [seeds12[0], rerun[1], seeds12[2]],
    ]
    with pytest.raises(ValueError, match="no results file holds c seed 0, c seed 1"):
        merge_runs([seed0, seeds12], [*rerun, result("c", 1, 0.0), result("c", 0, 0.0)])


KUMMER = HHCRSP_DATA / "kummer"
MANKOWSKA_25 = HHCRSP_DATA / "mankowska" / "instances" / "InstanzCPLEX_HCSRP_25_1.json"
# Fits under the cap, but its best-known is 340 minutes late (docs/hhcrsp.md).
LATE_50 = "HHCRSP_50_10_80_1.0_C_C"


def test_capped_and_uncapped_side_by_side_each_valid_and_the_empty_roster_last() -> None:
    """After a capped first solve that placed everything, the rest of the time goes to
    the capped problem and to the uncapped one side by side: each roster passes the
    checker for its own problem and the benchmark's evaluator, the uncapped problem's
    latest starts are later, and `benchmark_cost` ranks a roster that leaves services
    out after both (what `solve_instance` keeps is the least)."""
    instance = load_instance(KUMMER / "instances" / f"{LATE_50}.json")
    capped = to_problem(instance, LATE_50)
    first = solve(capped, params=SolveParams(time_limit_s=1, num_workers=1))
    assert not first.unassigned
    both = capped_and_uncapped(instance, LATE_50, capped, first, 3, 0, 2)
    assert both[0][0] is capped
    uncapped = both[1][0]
    ends = [
        [line.hard_window.end_min for p in problem.packages for line in p.visits]  # type: ignore[union-attr]
        for problem in (capped, uncapped)
    ]
    assert all(u >= c for c, u in zip(*ends, strict=True)) and ends[1] != ends[0]
    costs = []
    for problem, roster in both:
        assert check(problem, roster) == []
        costs.append(benchmark_cost(instance, problem, roster))
        assert costs[-1][0] is False  # feasible
    empty = Roster(problem_id=LATE_50, assignments=[])
    assert benchmark_cost(instance, capped, empty) > max(costs)


def test_run_instance_reports_the_searches_iterations_per_second_and_a_bound() -> None:
    """A 25-patient instance (one solve, ruin and recreate then the exact finish): the
    result carries the solve's ruin-and-recreate rate, as its row in RESULTS.md does,
    and a bound (Mankowska's fractional data give the engine's none: the assignment
    bound's)."""
    run = run_instance(MANKOWSKA_25, time_limit_s=1, best_known={}, workers=1)
    assert run.feasible
    assert run.bound is not None and 0 < run.bound <= run.cost
    assert run.gap_to_bound_pct is not None and run.gap_to_bound_pct >= 0
    assert run.iterations_per_s is not None and run.iterations_per_s > 0
    text = results_markdown([run], command="c", machine="m", date="d")
    assert size_row(text, 25)[-1] == f"{run.iterations_per_s:.0f}"


RUN_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "hhcrsp" / "run.py"
TEN_1, TEN_2 = "InstanzCPLEX_HCSRP_10_1", "InstanzCPLEX_HCSRP_10_2"


def test_run_merges_a_rerun_into_the_file_it_came_from(tmp_path: Path) -> None:
    """`run.py --merge-into FILE`: the rerun instance's row is solved again in place
    (a made-up cost becomes the solver's), another instance's row is kept, and the
    header names the rerun's command and commit before the earlier run's. An instance
    the file does not hold stops it before any solve, with the file untouched and exit
    status 2."""
    made_up = [
        replace(result(TEN_1, 0, 50.0, patients=10), cost=999.0),
        replace(result(TEN_2, 0, 60.0, patients=10), cost=888.0),
    ]
    home = tmp_path / "FAMILY.md"
    home.write_text(results_markdown(made_up, command="`first run`", machine="m0", date="d0"))
    done = subprocess.run(
        [sys.executable, str(RUN_PY), "--only", TEN_1, "--time-limit", "1", "--merge-into",
         str(home)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = results_from_markdown(home.read_text())
    assert [r.instance for r in after] == [TEN_1, TEN_2]
    assert after[0].cost < 999.0 and after[0].feasible
    assert after[1] == made_up[1]
    header = header_of(home.read_text())
    assert header.command.startswith(f"`.venv/bin/python benchmarks/hhcrsp/run.py --only {TEN_1}")
    assert " at commit " in header.command and header.command.endswith("`first run`")
    assert header.machine.endswith("; m0") and header.date.endswith("; d0")

    before = home.read_text()
    refused = subprocess.run(
        [sys.executable, str(RUN_PY), "--only", TEN_1, "--seeds", "1", "--merge-into",
         str(home)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert f"no results file holds {TEN_1} seed 1" in refused.stderr.splitlines()[-1]
    assert home.read_text() == before


def _results_py() -> ModuleType:
    """benchmarks/hhcrsp/results.py, a script rather than a package module."""
    return load_script(RUN_PY.parent / "results.py", "hhcrsp_results")


def test_samples_target_holds_each_sample_at_10_s_to_its_figure_at_60_s_when_filed() -> None:
    """Issue 15's last target, read from benchmarks/engine/RESULTS.md as `engine/run.py`
    writes it: a sample whose 10 s objective is above the filed 60 s figure is not met."""
    results = _results_py()
    engine = (RUN_PY.parents[1] / "engine" / "RESULTS.md").read_text()
    met = results.samples_target(engine)
    assert [row.split("|")[1].split()[1] for row in met] == ["urban", "rural"]
    assert all(row.endswith("| yes |") for row in met)  # the committed run meets it

    lines = engine.splitlines()
    (urban_10,) = [i for i, line in enumerate(lines) if line.startswith("| urban | 10 |")]
    cells = lines[urban_10].split("|")
    cells[4] = f" {results.SAMPLES_AT_60_S_WHEN_FILED['urban'] + 1} "
    lines[urban_10] = "|".join(cells)
    urban, rural = results.samples_target("\n".join(lines))
    assert urban.endswith("| no |") and rural.endswith("| yes |")


def test_a_results_file_names_the_commit_that_made_it(tmp_path: Path) -> None:
    """`run.py --out FILE` stamps the checkout's commit (as `--merge-into` does), marked
    "-dirty" only where the code that makes results differs from it: a results file or a
    page of docs edited while a run goes on is not the solver changed."""
    out = tmp_path / "RUN.md"
    done = subprocess.run(
        [sys.executable, str(RUN_PY), "--only", TEN_1, "--time-limit", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=RUN_PY.parents[2], capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    header = header_of(out.read_text())
    assert f"` at commit {head}" in header.command
    assert header.date.endswith(" UTC")  # the run's span, not only its day


def test_no_instance_above_5_percent_holds_for_the_repeated_runs_too() -> None:
    """No Kummer instance above +5 %, met only if no repeated run of an instance
    (KUMMER_REPEATS.md) is above it either: one lucky draw of the full run is not enough."""
    results = _results_py()
    full = [result("k1", 0, -0.5), result("k2", 0, 4.0)]

    def five_percent_row(repeats: list[BenchResult]) -> str:
        (row,) = [r for r in results.targets([], full, repeats) if "above +5 %" in r]
        return row

    assert five_percent_row([]).endswith("| yes |")
    assert five_percent_row([result("k1", s, 1.0) for s in range(3)]).endswith("| yes |")
    unlucky = [result("k1", 0, -0.5), result("k1", 1, 6.9), result("k1", 2, 6.8)]
    row = five_percent_row(unlucky)
    assert row.endswith("| no |") and "k1 above in 2 of 3" in row
