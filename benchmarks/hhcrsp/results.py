"""RESULTS.md: both HHCRSP families side by side, against issue 15's targets.

    .venv/bin/python benchmarks/hhcrsp/results.py

`run.py` writes one file per family run (MANKOWSKA.md, KUMMER.md: their command,
machine, date, per-size means with iterations per second and seed spread, and every
instance's row with its bound where one is known). This script reads them and writes
RESULTS.md: the targets with what each file measured, then each family's file whole.
`run.py` calls it after every family run, so RESULTS.md never lags its sources.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from matcher.hhcrsp.bench import BenchResult, results_from_markdown

HERE = Path(__file__).resolve().parent
FAMILY_FILES = (
    ("Mankowska et al. 2014", "MANKOWSKA.md"),
    # `run.py --seeds 1 2 --only <the 100-300 instances>`: with MANKOWSKA.md's seed 0,
    # the three seeds issue 15 asks the 100-300 target over.
    ("Mankowska 100-300, seeds 1 and 2", "MANKOWSKA_SEEDS.md"),
    # `run.py --seeds 1 2 --only <the 10-75 instances>`: the same for the 10-75 target,
    # where one seed's mean moves by a few tenths between runs (docs/hhcrsp.md).
    ("Mankowska 10-75, seeds 1 and 2", "MANKOWSKA_SEEDS_10_75.md"),
    ("Kummer family", "KUMMER.md"),
    # `run.py --family kummer --seeds 0 ... 9 --only NAME --out KUMMER_REPEATS.md`: one
    # instance run again and again, to tell whether the full run's figure would repeat.
    ("Kummer, repeated runs", "KUMMER_REPEATS.md"),
    ("Lower bounds", "BOUNDS.md"),  # `bounds.py`: every instance, both families
)
# The instances issue 15 names (its "eight"), with the OR-Tools routing gap it quotes.
NAMED_KUMMER = {
    "HHCRSP_25_5_22_1.0_C_C": None,
    "HHCRSP_25_5_26_0.8_C_C": None,
    "HHCRSP_25_5_37_0.8_R_RC": None,
    "HHCRSP_25_5_49_0.4_C_C": None,
    "HHCRSP_25_5_80_0.8_C_RC": None,
    "HHCRSP_50_10_2_1.0_C_R": 0.3,
    "HHCRSP_50_10_26_1.2_R_C": 1.1,
    "HHCRSP_75_15_32_1.2_R_RC": None,  # "tied" with routing: no figure quoted
}


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f}" if values else "n/a"


def _gaps(rows: list[BenchResult], low: int, high: int) -> list[float]:
    return [r.gap_pct for r in rows if low <= r.n_patients <= high and r.gap_pct is not None]


def _by_instance(rows: list[BenchResult], low: int, high: int) -> dict[str, dict[int, float]]:
    """Each instance of `low` to `high` patients: its gap per seed."""
    found: dict[str, dict[int, float]] = {}
    for r in rows:
        if low <= r.n_patients <= high and r.gap_pct is not None:
            found.setdefault(r.instance, {})[r.seed] = r.gap_pct
    return found


def _spread(rows: list[BenchResult], low: int, high: int) -> str:
    """Mean over instances of the largest minus the smallest gap over seeds."""
    gaps = [g.values() for g in _by_instance(rows, low, high).values() if len(g) > 1]
    seeded = [max(g) - min(g) for g in gaps]
    return f"{statistics.fmean(seeded):.2f} pp over {len(seeded)}" if seeded else "one seed"


def _seed_mean(rows: list[BenchResult], low: int, high: int) -> tuple[float, bool]:
    """The mean over instances of each instance's mean gap over its seeds (so every
    instance counts once, however many seeds it ran), and whether every instance ran
    at least three seeds."""
    by_instance = _by_instance(rows, low, high)
    means = [statistics.fmean(g.values()) for g in by_instance.values()]
    three = bool(by_instance) and all(len(g) >= 3 for g in by_instance.values())
    return (statistics.fmean(means) if means else float("nan")), three


def targets(
    mankowska: list[BenchResult], kummer: list[BenchResult], repeats: Sequence[BenchResult] = ()
) -> list[str]:
    """The issue's targets, each with what the files measured. `repeats` (Kummer runs
    beside the full one) hold "no instance above +5 %" to every run, not one draw."""
    lines = ["| target | measured | met |", "|---|---|---|"]
    if kummer:
        gaps = _gaps(kummer, 0, 10**6)
        above = sorted(r.instance for r in kummer if r.gap_pct is not None and r.gap_pct > 5)
        mean = statistics.fmean(gaps) if gaps else float("nan")
        lines.append(
            f"| Kummer, all at 30 s: mean gap <= 1 % | {mean:.2f} % over {len(gaps)} with a "
            f"best-known ({len(kummer)} runs) | {'yes' if mean <= 1 else 'no'} |"
        )
        repeated = _by_instance(list(repeats), 0, 10**6)
        again = [
            f"{name} above in {sum(g > 5 for g in gaps.values())} of {len(gaps)}"
            for name, gaps in sorted(repeated.items())
        ]
        unrepeatable = any(g > 5 for gaps in repeated.values() for g in gaps.values())
        lines.append(
            f"| Kummer: no instance above +5 % | {len(above)} above"
            + (f" ({', '.join(above[:6])}{', ...' if len(above) > 6 else ''})" if above else "")
            + (f" in the full run; its repeated runs: {'; '.join(again)}" if again else "")
            + f" | {'yes' if not above and not unrepeatable else 'no'} |"
        )
        for name, routing in NAMED_KUMMER.items():
            found = [r.gap_pct for r in kummer if r.instance == name and r.gap_pct is not None]
            if not found:
                continue
            ours = statistics.fmean(found)
            verdict = "n/a (no figure)" if routing is None else ("yes" if ours <= routing else "no")
            quoted = "" if routing is None else f" (routing {routing:+.1f} %)"
            lines.append(f"| {name}{quoted} | {ours:+.2f} % | {verdict} |")
    if mankowska:
        # Both Mankowska targets are judged over three seeds per instance: one run of
        # an instance moves by up to 3 points with the seed (docs/hhcrsp.md).
        for low, high, limit, most in ((100, 300, 60, 2.0), (10, 75, 30, 0.0)):
            runs = len(_gaps(mankowska, low, high))
            if not runs:
                continue
            mean, three = _seed_mean(mankowska, low, high)
            seeds = "over three seeds" if three else "not yet over three seeds"
            lines.append(
                f"| Mankowska {low}-{high} at {limit} s: mean gap <= {most:g} %, spread over "
                f"three seeds reported | {mean:.2f} % {seeds} ({runs} runs), spread "
                f"{_spread(mankowska, low, high)} | {'yes' if mean <= most and three else 'no'} |"
            )
    return lines


def _table_rows(lines: list[str], header_at: int) -> list[dict[str, str]]:
    """The rows of the markdown table whose header is `lines[header_at]`, by column."""
    header = [cell.strip() for cell in lines[header_at].strip("|").split("|")]
    rows = []
    for row in lines[header_at + 2 :]:  # past the header and the |---| row
        if not row.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in row.strip("|").split("|")), strict=True)))
    return rows


def bounds_target(text: str) -> list[str]:
    """Item 4's row from BOUNDS.md (`bounds.py`): how many instances have a bound and
    how much of the best-knowns it proves, per family table."""
    lines = text.splitlines()
    counted, bounded, shares = 0, 0, []
    for start, line in enumerate(lines):
        if not line.startswith("| instance |"):
            continue
        family: list[float] = []
        for cells in _table_rows(lines, start):
            counted += 1
            bounded += cells["bound"] != ""
            if cells["bound % of best-known"]:
                family.append(float(cells["bound % of best-known"]))
        shares.append(f"{statistics.fmean(family):.0f} %" if family else "n/a")
    return [
        f"| Bounds (item 4): a lower bound on every instance | {bounded} of {counted}; "
        f"on average {' and '.join(shares)} of the best-known (Mankowska and Kummer) | "
        f"{'yes' if counted and bounded == counted else 'no'} |"
    ]


# The engine's objective on the samples at 60 s when issue 15 was filed: commit ed6cdcd's
# benchmarks/engine/RESULTS.md (2026-11-24), the figures its last target is held to.
SAMPLES_AT_60_S_WHEN_FILED = {"urban": 13163.0, "rural": 12447.0}
ENGINE_RESULTS = HERE.parent / "engine" / "RESULTS.md"


def samples_target(text: str) -> list[str]:
    """The last target's rows from benchmarks/engine/RESULTS.md (`benchmarks/engine/run.py`):
    each sample's objective at 10 s against the issue's figure at 60 s."""
    lines = text.splitlines()
    date = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Date:")), "")
    header_at = next(i for i, line in enumerate(lines) if line.startswith("| sample |"))
    at_10_s = {
        cells["sample"]: float(cells["objective"])
        for cells in _table_rows(lines, header_at)
        if float(cells["limit s"]) == 10
    }
    return [
        f"| The {sample} sample: objective at 10 s no worse than {before:,.0f} (at 60 s "
        f"when the issue was filed) | {at_10_s[sample]:,.0f} "
        f"([`engine/RESULTS.md`](../engine/RESULTS.md), {date}) | "
        f"{'yes' if at_10_s[sample] <= before else 'no'} |"
        for sample, before in SAMPLES_AT_60_S_WHEN_FILED.items()
        if sample in at_10_s
    ]


def consolidate(folder: Path = HERE) -> str:
    texts = {
        name: (folder / name).read_text() for _, name in FAMILY_FILES if (folder / name).exists()
    }
    mankowska = [
        row
        for name in texts
        if name.startswith("MANKOWSKA")
        for row in results_from_markdown(texts[name])
    ]
    kummer = results_from_markdown(texts["KUMMER.md"]) if "KUMMER.md" in texts else []
    repeats = (
        results_from_markdown(texts["KUMMER_REPEATS.md"]) if "KUMMER_REPEATS.md" in texts else []
    )
    lines = [
        "# HHCRSP results: both families against issue 15's targets",
        "",
        "Written by `.venv/bin/python benchmarks/hhcrsp/results.py` from the family files "
        "below, which `benchmarks/hhcrsp/run.py` writes (each with its command, machine, "
        "load and date; `run.py` rewrites this file after each family run). Search "
        "throughput (iterations per second per size, before and after the compiled "
        "kernels): [`THROUGHPUT.md`](THROUGHPUT.md). Gaps are against the published "
        "best-known (negative: better); notes and history in docs/hhcrsp.md.",
        "",
        "## Targets",
        "",
        *targets(mankowska, kummer, repeats),
        *(bounds_target(texts["BOUNDS.md"]) if "BOUNDS.md" in texts else []),
        *(samples_target(ENGINE_RESULTS.read_text()) if ENGINE_RESULTS.exists() else []),
    ]
    for title, name in FAMILY_FILES:
        if name not in texts:
            continue
        body = texts[name].splitlines()
        lines += ["", f"## {title} ([`{name}`]({name}))", ""]
        lines += ["#" + line if line.startswith("#") else line for line in body[1:]]
    return "\n".join(lines) + "\n"


def main() -> None:
    (HERE / "RESULTS.md").write_text(consolidate())


if __name__ == "__main__":
    main()
