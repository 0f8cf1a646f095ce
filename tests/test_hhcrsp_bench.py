"""The HHCRSP results file (`bench.results_markdown`): one seed keeps the plain table;
several seeds give each run a row and each size its seed spread."""

from __future__ import annotations

from matcher.hhcrsp.bench import BenchResult, results_markdown


def result(instance: str, seed: int, gap: float, patients: int = 100) -> BenchResult:
    return BenchResult(
        instance=instance, n_patients=patients, cost=100 + gap, best_known=100.0, gap_pct=gap,
        feasible=True, time_s=60.0, distance=1.0, total_tardiness=0.0, max_tardiness=0.0,
        checker_violations=0, evaluator_violations=[], seed=seed,
    )  # fmt: skip


def size_row(text: str, size: int) -> list[str]:
    row = next(line for line in text.splitlines() if line.startswith(f"| {size} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_one_seed_has_no_seed_columns() -> None:
    text = results_markdown([result("a", 0, 1.0), result("b", 0, 3.0)], command="c",
                            machine="m", date="d")  # fmt: skip
    assert "seed" not in text
    assert size_row(text, 100) == ["100", "2", "2", "2.00", "3.00", "60.0"]


def test_seed_spread_is_each_instances_range_averaged_and_at_most() -> None:
    runs = [
        result("a", 0, 2.5), result("a", 1, 1.0), result("a", 2, 1.5),
        result("b", 0, 3.0), result("b", 1, 3.0), result("b", 2, 4.0),
    ]  # fmt: skip
    text = results_markdown(runs, command="c", machine="m", date="d")
    # mean gap over the six runs 2.50, max 4.00; spreads a 1.5, b 1.0
    assert size_row(text, 100) == ["100", "2", "6", "2.50", "4.00", "60.0", "1.25", "1.50"]
    assert "| a | 1 | 100 | 101.000 |" in text
