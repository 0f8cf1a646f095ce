"""The `carematch` command line (Typer + rich).

Exit codes are a contract: 0 success, 1 a roster that breaks a rule, 2 bad input (one
line on stderr naming the file and the field, never a traceback), 3 an internal error
(a bug: one line on stderr, never a traceback; output already written stays written),
141 when the reader of its output went away (`| head`), quietly, as other tools do.

Whatever came from an input file (ids, names, reasons quoting them) is printed as
plain text, never as rich markup: an id such as "[/]" once raised a markup error
after the roster was solved, and the roster was lost.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

if TYPE_CHECKING:
    from rich.progress import Progress

from matcher.checker import check as check_roster
from matcher.limits import MAX_INPUT_BYTES
from matcher.schema import Problem, Roster
from matcher.timeutil import shorten

M = TypeVar("M", bound=BaseModel)

# `solve` returns by twice its time limit plus this (its first greedy roster aside,
# which cannot be interrupted and is bounded by the input's size limits).
SOLVE_GRACE_S = 5.0

EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, as a shell reports a tool whose reader left

log = logging.getLogger(__name__)
# No emoji codes: ":smile:" in an id is an id, not a face.
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)


class GuardedGroup(TyperGroup):
    """The edge of every command: an exception nobody expected (a bug) becomes one
    line on stderr and exit code 3, never a traceback, and never exit 1 ("the roster
    breaks a rule") or 2 ("bad input"), which mean something else. Set
    CAREMATCH_TRACEBACK=1 to see the traceback (logged at ERROR)."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # exit codes and usage errors: Typer's business
        except BrokenPipeError:
            # The reader went away (`carematch schema | head`): not a bug. Stop quietly,
            # with stdout pointed at nothing so the interpreter's last flush cannot fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(EXIT_PIPE_CLOSED) from None
        except RecursionError:
            _internal("input nested too deeply for the engine (RecursionError)")
        except MemoryError:
            _internal("out of memory")
        except Exception as exc:
            _internal(f"{type(exc).__name__}: {exc}")


def _internal(what: str) -> NoReturn:
    if os.environ.get("CAREMATCH_TRACEBACK"):
        log.exception("internal error")
    message = shorten(what.splitlines()[0] if what.strip() else what, 300)
    err.print(
        f"internal error (a bug in carematch, please report it): {message}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(EXIT_INTERNAL)


app = typer.Typer(
    cls=GuardedGroup,
    help="carematch: schedule home-care visits and match care packages to agencies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

TimeLimit = Annotated[
    float, typer.Option("--time-limit", min=0.1, help="Solver time limit in seconds.")
]


class InputError(Exception):
    """Bad input: shown as one line, exit code 2."""


def fail(message: str) -> NoReturn:
    """Bad input: one line on stderr (plain text, whatever it quotes), exit 2."""
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first bad field, e.g. "packages[0].visits[1].duration_min: ...".

    Keys from the input (a dict's keys are part of the path) and the message are cut
    short, so that the line stays a line whatever the input holds."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    path = ""
    for part in first["loc"]:
        if part == "[key]":  # pydantic's marker for an error in a dict's key
            continue
        name = shorten(str(part))
        path += f"[{part}]" if isinstance(part, int) else (f".{name}" if path else name)
    message = shorten(first["msg"].removeprefix("Value error, "), 500).replace("\n", " ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {message}{more}" if path else f"{message}{more}"


def read_json(path: Path) -> Any:
    """The JSON value in the file, or `InputError` saying why not in one line: too big
    (`limits.MAX_INPUT_BYTES`), not UTF-8, not JSON, nested too deeply for the parser,
    or an integer too long to read. `NaN` and `Infinity` are read as numbers so that
    the schema, which refuses them, can name the field that holds one."""
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError(
                f"{path}: {size:,} bytes is more than an input may have ({MAX_INPUT_BYTES:,})"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_INPUT_BYTES:  # a pipe or a file that grew
        raise InputError(f"{path}: more than {MAX_INPUT_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start}: {exc.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise InputError(f"{path}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise InputError(f"{path}: not valid JSON ({shorten(str(exc), 200)})") from None


def load(path: Path, model: type[M]) -> M:
    """The file validated as `model`, or `InputError` naming the file and the field."""
    data = read_json(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{path}: {describe_validation_error(exc)}") from None
    except RecursionError:  # pydantic's own guard against cycles and depth
        raise InputError(f"{path}: nested too deeply") from None


def load_or_exit(path: Path, model: type[M]) -> M:
    try:
        return load(path, model)
    except InputError as exc:
        fail(str(exc))


def require_bench_extra(command: str, *modules: str) -> None:
    """Exit 2 with one line if a module of the `bench` extra is missing.

    The research commands need matplotlib (plots) and reverse-geocoder (real places),
    which a service install leaves out (`pip install carematch` without `[bench]`).
    Looked up without importing them, before any work starts.
    """
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        fail(
            f"carematch {command} needs the bench extra: pip install 'carematch[bench]' "
            f"({', '.join(missing)} is not installed)"
        )


def exit_with_violations(console: Console, headline: str, violations: list) -> NoReturn:
    """Print the headline and one line per violation, then exit 1."""
    console.print(headline)
    for v in violations:
        console.print(f"  {v}", markup=False, highlight=False)
    raise typer.Exit(EXIT_VIOLATIONS)


def progress_bar(console: Console, *, transient: bool) -> Progress:
    """The bar long benchmark runs show on stderr (gone at the end with --json)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@app.command()
def solve(
    input: Annotated[Path, typer.Argument(help="Problem JSON (see `carematch schema`).")],
    time_limit: TimeLimit = 10.0,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write the roster JSON here.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the search.")] = 0,
) -> None:
    """Schedule one agency's week, check the roster independently, print the KPIs."""
    from matcher.control import RunControl
    from matcher.solver import SolveParams
    from matcher.solver import solve as run_solver

    problem = load_or_exit(input, Problem)
    try:
        params = SolveParams(time_limit_s=time_limit, seed=seed)
    except ValueError as exc:
        fail(f"--time-limit: {exc}")
    # A wall-clock deadline as well as the limit: with one, the solver skips building a
    # full model that could not be built in the time left (a build cannot be stopped
    # half-way), which the limit alone does not do. The grace leaves the stages their
    # shares of the limit and the results of ordinary inputs unchanged.
    deadline = RunControl.within(2 * time_limit + SOLVE_GRACE_S)
    roster = run_solver(problem, params=params, control=deadline)
    # Written before anything is shown: printing must never lose a computed roster.
    if out_path is not None:
        out_path.write_text(roster.model_dump_json(indent=2) + "\n", encoding="utf-8")
    violations = check_roster(problem, roster)
    print_roster(problem, roster)
    if out_path is not None:
        out.print(f"roster written to {out_path}", markup=False, highlight=False)
    if violations:
        exit_with_violations(
            err, f"checker: {len(violations)} violation(s) in the solver's roster", violations
        )
    out.print("[green]checker: roster valid[/green]")


@app.command()
def check(
    input: Annotated[Path, typer.Argument(help="Problem JSON.")],
    roster: Annotated[Path, typer.Argument(help="Roster JSON to check.")],
) -> None:
    """Check a roster against every hard rule; exit 1 listing violations."""
    problem = load_or_exit(input, Problem)
    parsed = load_or_exit(roster, Roster)
    violations = check_roster(problem, parsed)
    if violations:
        exit_with_violations(out, f"[red]{len(violations)} violation(s)[/red]", violations)
    out.print(
        f"[green]roster valid[/green]: {len(parsed.assignments)} visits assigned, "
        f"{len(parsed.unassigned)} unassigned"
    )


@app.command()
def schema(
    match_output: Annotated[
        bool,
        typer.Option("--match", help="The schema of `carematch match --json` instead."),
    ] = False,
) -> None:
    """Print the JSON Schema of the input (or, with --match, of the match output)."""
    if match_output:
        from matcher.matching import match_json_schema

        print(json.dumps(match_json_schema(), indent=2))
        return
    print(json.dumps(Problem.model_json_schema(), indent=2))


# --------------------------------------------------------------------------- output


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "-" if value is None else str(value)


def print_roster(problem: Problem, roster: Roster) -> None:
    report = roster.solver
    if report is not None:
        bound = _fmt(report.best_bound)
        out.print(
            f"[bold]{escape(problem.id)}[/bold]: solver {escape(report.status)}, objective "
            f"{_fmt(report.objective)}, bound {bound}, {report.wall_time_s:.1f} s "
            f"on {report.num_workers} cores"
        )
        if report.objective_breakdown:
            parts = ", ".join(f"{k} {_fmt(v)}" for k, v in report.objective_breakdown.items())
            out.print(f"objective by rule: {parts}", markup=False)
    total = len(roster.assignments) + len(roster.unassigned)
    out.print(f"visits assigned: {len(roster.assignments)} of {total}")

    workers = Table(title="Workers", show_lines=False)
    for column in ("worker", "days", "visits", "visit min", "travel min"):
        workers.add_column(column, justify="right" if column != "worker" else "left")
    per_worker: dict[str, list[int]] = {}
    for day in roster.worker_days:
        row = per_worker.setdefault(day.worker_id, [0, 0, 0, 0])
        row[0] += 1
        row[1] += sum(1 for item in day.items if item.kind == "visit")
        row[2] += day.visit_minutes
        row[3] += day.travel_minutes
    for worker_id, row in per_worker.items():
        workers.add_row(escape(worker_id), *(_fmt(v) for v in row))
    out.print(workers)

    if roster.kpis is not None:
        kpis = Table(title="KPIs (overall)")
        kpis.add_column("KPI")
        kpis.add_column("value", justify="right")
        for key, value in roster.kpis.overall.model_dump().items():
            if not isinstance(value, dict | list):
                kpis.add_row(key, _fmt(value))
        out.print(kpis)

    for package_id, reasons in roster.package_reasons.items():
        for reason in reasons:
            out.print(
                f"[yellow]package {escape(package_id)}[/yellow]: {escape(reason)}",
                highlight=False,
            )
    for item in roster.unassigned:
        out.print(
            f"[yellow]unassigned[/yellow] {escape(item.visit_id)} ({item.weekday.value} "
            f"{escape(item.window)}): {escape('; '.join(item.reasons))}",
            highlight=False,
        )


# --------------------------------------------------------------------------- bench

bench_app = typer.Typer(help="Benchmarks: public research instances.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("hhcrsp")
def bench_hhcrsp(
    paths: Annotated[list[Path], typer.Argument(help="Instance files or folders of them.")],
    best_known: Annotated[
        Path, typer.Option("--best-known", help="best_known.md with the published costs.")
    ],
    time_limit: TimeLimit = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write RESULTS.md (and a gap plot) here.")
    ] = None,
    solutions: Annotated[
        Path | None, typer.Option("--solutions", help="Write each solution here.")
    ] = None,
) -> None:
    """Solve HHCRSP instances (Mankowska et al. 2014) and compare with the best known."""
    import datetime as dt
    import platform
    import shlex
    import sys

    from matcher.hhcrsp.bench import instance_files, results_markdown, run_all
    from matcher.hhcrsp.format import load_best_known, load_instance

    if out_path is not None:
        require_bench_extra("bench hhcrsp --out", "matplotlib")
    missing = [p for p in [*paths, best_known] if not p.exists()]
    if missing:
        fail(f"{missing[0]}: no such file or folder")
    files = instance_files(paths)
    if not files:
        fail("no .json instances found in " + ", ".join(map(str, paths)))
    try:
        costs = load_best_known(best_known)
    except (OSError, ValueError) as exc:
        fail(f"{best_known}: {exc}")
    try:
        for f in files:  # all valid before minutes of solving start
            load_instance(f)
    except ValidationError as exc:
        fail(f"{f}: {describe_validation_error(exc)}")
    except (OSError, ValueError) as exc:
        fail(f"{f}: {exc}")

    progress = progress_bar(err, transient=as_json)
    with progress:
        task = progress.add_task("solving", total=len(files))
        results = run_all(
            files,
            time_limit_s=time_limit,
            best_known=costs,
            solutions_dir=solutions,
            on_done=lambda r: progress.update(task, advance=1, description=r.instance),
        )

    if as_json:
        print(json.dumps([r.as_json() for r in results], indent=2))
    else:
        table = Table(title="HHCRSP")
        for column in ("instance", "patients", "cost", "best known", "gap %", "feasible", "time s"):
            if column == "instance":
                table.add_column(column, no_wrap=True, min_width=max(len(f.stem) for f in files))
            else:
                table.add_column(column, justify="right")
        for r in results:
            table.add_row(
                escape(r.instance),
                str(r.n_patients),
                f"{r.cost:.2f}",
                _fmt(r.best_known),
                _fmt(r.gap_pct),
                "yes" if r.feasible else "[red]NO[/red]",
                f"{r.time_s:.1f}",
            )
        out.print(table)
    if out_path is not None:
        command = "carematch " + shlex.join(sys.argv[1:])
        machine = (
            f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {platform.platform()}"
        )
        out_path.write_text(
            results_markdown(
                results, command=command, machine=machine, date=dt.date.today().isoformat()
            )
        )
        from matcher.hhcrsp.plot import plot_gaps

        plot_gaps(results, out_path.with_name("gap_vs_size.png"))
    if not all(r.feasible for r in results):
        raise typer.Exit(1)


REGION_CHOICES = ("rural", "urban", "both")
SIZE_CHOICES = ("small", "medium", "large")


@bench_app.command("regions")
def bench_regions(
    region: Annotated[
        str, typer.Option("--region", help="rural, urban or both.", show_default=True)
    ] = "both",
    size: Annotated[str, typer.Option("--size", help="small, medium or large.")] = "small",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the regional datasets.")] = 6,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write the rows (JSON) and comparison plots (PNG) here."),
    ] = None,
    time_limit: Annotated[
        float,
        typer.Option("--time-limit", min=0.05, help="carematch: search limit per agency (s)."),
    ] = 0.5,
    allow_moves: Annotated[
        int,
        typer.Option(
            "--allow-moves",
            min=0,
            help="carematch: existing visits may move this many minutes, within their window.",
        ),
    ] = 30,
) -> None:
    """Rural versus urban: today's email round against carematch on the same arrivals."""
    require_bench_extra(
        "bench regions", "reverse_geocoder", *(["matplotlib"] if out_dir is not None else [])
    )
    from matcher.regions.bench import TABLE_ROWS, run_regions
    from matcher.regions.simulate import SimulationParams

    if region not in REGION_CHOICES:
        fail(f"--region: expected one of {', '.join(REGION_CHOICES)}, not {region!r}")
    if size not in SIZE_CHOICES:
        fail(f"--size: expected one of {', '.join(SIZE_CHOICES)}, not {size!r}")
    if seed < 0:
        fail(f"--seed: expected a non-negative integer, not {seed}")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir}: not a folder")
    regions = ["urban", "rural"] if region == "both" else [region]
    progress = progress_bar(err, transient=as_json)

    def started(name: str, method: str, days: int):
        task = progress.add_task(f"{name} {size} {method} (days)", total=days)
        return lambda day: progress.update(task, completed=day + 1)

    with progress:
        rows = run_regions(
            regions,
            size,  # type: ignore[arg-type]
            seed=seed,
            params=SimulationParams(time_limit_s=time_limit, allow_moves_min=allow_moves),
            on_start=started,  # type: ignore[arg-type]
        )
    if out_dir is not None:
        from matcher.regions.plot import plot_comparison

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"regions_{size}.json").write_text(json.dumps(rows, indent=2) + "\n")
        for name in regions:
            mine = [r for r in rows if r["region"] == name]
            plot_comparison(mine, out_dir / f"regions_{size}_{name}.png")
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Rural and urban regions, {size}, seed {seed}")
    table.add_column("arrived packages")
    for row in rows:
        table.add_column(f"{row['region']}\n{row['method']}", justify="right")
    for key, heading in TABLE_ROWS:
        table.add_row(heading, *(_fmt(row[key]) for row in rows))
    out.print(table)
    if out_dir is not None:
        out.print(f"rows and plots written to {out_dir}", markup=False, highlight=False)


# --------------------------------------------------------------------------- market


def _load_market_and_package(market_path: Path, package_path: Path) -> tuple[Any, Any]:
    from matcher.market import Market
    from matcher.schema import CarePackage

    market = load_or_exit(market_path, Market)
    package = load_or_exit(package_path, CarePackage)
    known = set(market.skills)
    for i, line in enumerate(package.visits):
        for k, skill in enumerate(line.skills):
            if skill not in known:
                fail(f"{package_path}: visits[{i}].skills[{k}]: unknown skill {skill!r}")
    return market, package


@app.command()
def match(
    market_path: Annotated[Path, typer.Argument(metavar="MARKET.json", help="Market JSON.")],
    package_path: Annotated[
        Path, typer.Argument(metavar="PACKAGE.json", help="Care package JSON.")
    ],
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.05, help="Search time limit per agency (s).")
    ] = 0.3,
    allow_moves: Annotated[
        int,
        typer.Option("--allow-moves", min=0, help="Existing visits may move this many minutes."),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    policy_path: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            metavar="POLICY.json",
            help="The council's ranking policy, instead of the market's ranking_policy.",
        ),
    ] = None,
) -> None:
    """Ranked offers for a care package from every agency's live roster, with reasons."""
    from matcher.brokerage.policy import DEFAULT_POLICY, RankingPolicy
    from matcher.matching import MatchParams, PackageClash
    from matcher.matching import match as run_match

    market, package = _load_market_and_package(market_path, package_path)
    if policy_path is not None:
        policy = load_or_exit(policy_path, RankingPolicy)
        market = market.model_copy(update={"ranking_policy": policy})
    try:
        params = MatchParams(time_limit_s=time_limit, allow_moves_min=allow_moves)
    except ValueError as exc:
        fail(f"--time-limit: {exc}")
    try:
        result = run_match(market, package, params)
    except PackageClash as exc:
        fail(f"{package_path}: {exc}")
    if as_json:
        # One definition of the contract (`MatchResult.to_json`), shared with the service.
        print(json.dumps(result.to_json(), indent=2))
        return
    from matcher.timeutil import format_pounds

    table = Table(title=f"Offers for {escape(result.package_id)} ({result.elapsed_s:.1f} s)")
    for column in ("rank", "agency", "£/h", "£ a year", "in window %", "carers", "score"):
        table.add_column(column, justify="left" if column == "agency" else "right")
    for offer in result.offers:
        if not offer.feasible:
            continue
        score = offer.score
        table.add_row(
            str(offer.rank),
            escape(f"{offer.agency_name} ({offer.agency_id})"),
            format_pounds(offer.hourly_rate_pence).lstrip("£"),
            format_pounds(offer.annual_cost_pence).lstrip("£"),
            _fmt(offer.in_window_pct),
            escape(f"{offer.distinct_carers}: {', '.join(offer.carers)}"),
            escape(
                f"{score.total} (" + ", ".join(f"{k} {v}" for k, v in score.breakdown.items()) + ")"
                if score
                else "-"
            ),
        )
    out.print(table)
    if market.ranking_policy != DEFAULT_POLICY:
        for offer in result.offers:
            if offer.feasible:
                line = f"{offer.rank}. {offer.agency_id}: {offer.placement.explanation}"
                out.print(escape(line), highlight=False)
    for offer in result.offers:
        if offer.feasible:
            continue
        out.print(
            f"[yellow]{escape(offer.agency_id)}[/yellow] cannot take it: "
            + escape("; ".join(offer.reasons[:4]))
            + (f" (+{len(offer.reasons) - 4} more)" if len(offer.reasons) > 4 else ""),
            highlight=False,
        )
        for fits in offer.nearest_fits:
            if fits.fits:
                out.print(f"  nearest fit: {escape(fits.summary)}", highlight=False)
    for line in result.suggestions:
        out.print(f"[cyan]suggestion[/cyan]: {escape(line)}", highlight=False)
    for split in result.splits:
        score = split.score.total
        out.print(
            f"[green]split {split.rank}[/green]: {escape(split.summary)} (score {score})",
            highlight=False,
        )


@app.command()
def slots(
    market_path: Annotated[Path, typer.Argument(metavar="MARKET.json", help="Market JSON.")],
    agency_id: Annotated[str, typer.Argument(metavar="AGENCY_ID")],
    request_path: Annotated[
        Path, typer.Argument(metavar="REQUEST.json", help="Visit request JSON.")
    ],
    granularity: Annotated[
        int, typer.Option("--granularity", min=1, help="Minutes between candidate starts.")
    ] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Every start where a new visit fits an agency's roster without moving anyone."""
    from matcher.market import Market
    from matcher.slots import SlotRequest, find_slots

    market = load_or_exit(market_path, Market)
    request = load_or_exit(request_path, SlotRequest)
    unknown = sorted(set(request.skills) - set(market.skills))
    if unknown:
        fail(f"{request_path}: skills: unknown skill {unknown[0]!r}")
    try:
        entry = market.agency(agency_id)
    except KeyError as exc:
        fail(f"{market_path}: {exc.args[0]}")
    found = find_slots(entry, request, granularity_min=granularity, skills=market.skills)
    if as_json:
        print(json.dumps([s.model_dump(mode="json") for s in found], indent=2))
        return
    table = Table(title=f"Slots at {escape(agency_id)}: {len(found)}")
    for column in ("day", "start", "workers", "added travel min"):
        table.add_column(column)
    for slot in found:
        table.add_row(
            slot.weekday.value,
            slot.start,
            escape(", ".join(slot.workers)),
            str(slot.added_travel_min),
        )
    out.print(table)


@app.command()
def accept(
    market_path: Annotated[Path, typer.Argument(metavar="MARKET.json", help="Market JSON.")],
    package_path: Annotated[
        Path, typer.Argument(metavar="PACKAGE.json", help="Care package JSON.")
    ],
    agency_id: Annotated[str, typer.Argument(metavar="AGENCY_ID")],
    out_path: Annotated[Path, typer.Option("--out", help="Write the new market JSON here.")],
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.05, help="Search time limit (s).")
    ] = 1.0,
    allow_moves: Annotated[int, typer.Option("--allow-moves", min=0)] = 0,
) -> None:
    """Place the package in the agency's roster (checked) and write the new market."""
    from matcher.matching import MatchParams, PackageClash, roster_violations
    from matcher.matching import accept as run_accept

    market, package = _load_market_and_package(market_path, package_path)
    try:
        market.agency(agency_id)
    except KeyError as exc:
        fail(f"{market_path}: {exc.args[0]}")
    try:
        params = MatchParams(time_limit_s=time_limit, allow_moves_min=allow_moves, processes=1)
    except ValueError as exc:
        fail(f"--time-limit: {exc}")
    try:
        grown, offer = run_accept(market, package, agency_id, params)
    except PackageClash as exc:
        fail(f"{package_path}: {exc}")
    except ValueError as exc:
        err.print(f"refused: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    violations = roster_violations(grown, agency_id)
    if violations:
        exit_with_violations(
            err, f"checker: {len(violations)} violation(s); market not written", violations
        )
    from matcher.market_samples import market_json

    out_path.write_text(market_json(grown), encoding="utf-8")
    out.print(
        f"[green]{escape(package.id)} placed at {escape(agency_id)}[/green] (checked): "
        + escape(
            f"{offer.visits} visits, carers {', '.join(offer.carers)}; market written to {out_path}"
        ),
        highlight=False,
    )


# --------------------------------------------------------------------------- living week


@app.command()
def replan(
    input: Annotated[Path, typer.Argument(metavar="INPUT.json", help="Problem JSON.")],
    roster_path: Annotated[
        Path, typer.Argument(metavar="ROSTER.json", help="The committed roster (`solve --out`).")
    ],
    absent: Annotated[
        list[str],
        typer.Option(
            "--absent",
            metavar="WORKER:DAY[:HH:MM-HH:MM]",
            help="A carer away (repeatable): w03:Tue, w03:Tue:06:30-24:00; in a dated week "
            "also w03:2026-12-01.",
        ),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Write the new roster JSON here.")],
    now: Annotated[
        str | None,
        typer.Option("--now", metavar="DAY:HH:MM", help="Visits starting before it stay."),
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.05, help="The re-plan's time budget (s).")
    ] = 1.5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Cover absent carers' visits with the least disruption; write the checked roster."""
    from matcher.living import ReplanError, ReplanParams, parse_absence, parse_now
    from matcher.living import replan as run_replan

    problem = load_or_exit(input, Problem)
    committed = load_or_exit(roster_path, Roster)
    absences = []
    for text in absent:
        try:
            absences.append(parse_absence(text, week_start=problem.week_start))
        except ValueError as exc:
            fail(f"--absent: {exc}")
    try:
        at = None if now is None else parse_now(now, week_start=problem.week_start)
    except ValueError as exc:
        fail(f"--now: {exc}")
    try:
        result = run_replan(
            problem, committed, absences, now=at, params=ReplanParams(time_limit_s=time_limit)
        )
    except ReplanError as exc:
        fail(f"{roster_path}: {exc}" if str(exc).startswith("roster") else str(exc))
    out_path.write_text(result.roster.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    out.print(
        f"re-planned around {', '.join(map(str, absences))} in {result.elapsed_s:.2f} s "
        f"({result.status}): {len(result.changes)} change(s), {len(result.uncovered)} "
        f"uncovered; roster (checked) written to {out_path}",
        highlight=False,
        markup=False,
        emoji=False,
    )
    for change in result.changes:
        b, a = change.before, change.after
        out.print(
            f"  {change.visit_id} ({change.weekday.value}): {', '.join(b.workers) or '-'} "
            f"{b.start or ''} -> {', '.join(a.workers) or 'nobody'} {a.start or ''}",
            markup=False,
            highlight=False,
        )
    for item in result.uncovered:
        reasons = escape("; ".join(item.reasons))
        out.print(f"[yellow]uncovered[/yellow] {escape(item.visit_id)}: {reasons}", highlight=False)
        for option in item.options:
            out.print(f"  option: {option}", markup=False, highlight=False)
    out.print(
        f"tell clients {', '.join(result.notify_clients) or '-'}; "
        f"workers {', '.join(result.notify_workers) or '-'}",
        markup=False,
        highlight=False,
    )


@app.command()
def change(
    input: Annotated[Path, typer.Argument(metavar="INPUT.json", help="Problem JSON.")],
    roster_path: Annotated[
        Path, typer.Argument(metavar="ROSTER.json", help="The committed roster (`solve --out`).")
    ],
    change_path: Annotated[
        Path, typer.Argument(metavar="CHANGE.json", help="The change (docs/living.md).")
    ],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write the new roster JSON here (if it fits).")
    ] = None,
    out_input: Annotated[
        Path | None,
        typer.Option("--out-input", help="Write the changed input JSON here (if it fits)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Whether an ISF change fits the roster and the budget: exit 0 fits (no approval),
    1 needs approval (over budget or does not fit the roster), 2 bad input."""
    from matcher.living.change import ChangeError, ChangeRequest, propose_change

    problem = load_or_exit(input, Problem)
    committed = load_or_exit(roster_path, Roster)
    request = load_or_exit(change_path, ChangeRequest)
    try:
        verdict = propose_change(problem, committed, request)
    except ChangeError as exc:
        text = str(exc)
        fail(f"{roster_path}: {text}" if text.startswith("roster") else f"{change_path}: {text}")
    if verdict.roster is not None and not verdict.approval_needed:
        if out_path is not None:
            out_path.write_text(verdict.roster.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if out_input is not None:
            data = verdict.problem.model_dump(mode="json", exclude_defaults=True)
            out_input.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        _print_verdict(verdict)
    if verdict.approval_needed:
        raise typer.Exit(1)


def _print_verdict(verdict: Any) -> None:
    from matcher.living.money import pence_text
    from matcher.timeutil import WEEKS_PER_YEAR

    quiet = {"markup": False, "highlight": False, "emoji": False, "soft_wrap": True}
    before, after = verdict.before, verdict.after
    headline = {
        "fits": "fits the roster and the budget: no approval needed",
        "over_budget": "fits the roster but is over the budget: needs approval",
        "does_not_fit": "does not fit the roster",
    }[verdict.verdict]
    out.print(f"{verdict.package_id}: {'; '.join(verdict.described)}: {headline}", **quiet)
    out.print(
        f"  {before.weekly_minutes} -> {after.weekly_minutes} carer minutes a week: "
        f"{pence_text(after.weekly_pence)} a week, {pence_text(after.annual_pence)} a year"
        + ("" if after.cap_pence is None else f" (cap {pence_text(after.cap_pence)} a year)"),
        **quiet,
    )
    if after.cap_pence is not None and after.within:
        out.print(
            f"  budget after: {pence_text(after.left_per_week * WEEKS_PER_YEAR)} a year left",
            **quiet,
        )
    if not after.within:
        out.print(
            f"  over by {pence_text(after.over_per_week)} a week, "
            f"{pence_text(after.over_per_week * WEEKS_PER_YEAR)} a year "
            f"({verdict.over_minutes_per_week} carer minutes a week)",
            **quiet,
        )
    for c in verdict.roster_changes:
        out.print(
            f"  {c.visit_id}: {', '.join(c.before.workers) or '-'} {c.before.start or ''} "
            f"{c.duration_before or '-'} min -> {', '.join(c.after.workers) or 'nobody'} "
            f"{c.after.start or ''} {c.duration_after or '-'} min",
            **quiet,
        )
    for visit_id, reasons in verdict.reasons.items():
        out.print(f"  {visit_id}: {'; '.join(reasons)}", **quiet)
        for near in verdict.nearest.get(visit_id, []):
            out.print(f"    would fit at {near.start} ({', '.join(near.workers)})", **quiet)
    for line in verdict.suggestions:
        out.print(f"  suggestion: {line}", **quiet)


@app.command()
def budget(
    input: Annotated[Path, typer.Argument(metavar="INPUT.json", help="Problem JSON.")],
    ledger_path: Annotated[
        Path, typer.Argument(metavar="LEDGER.json", help="The package's ledger (docs/living.md).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A package's budget year as a person and their family read it: spent, left,
    banked, the next review. Exit 1 when an entry breaks the package's rules (the bank
    never negative, a week over the average without approval)."""
    from matcher.living.ledger import Ledger, LedgerError, statement

    problem = load_or_exit(input, Problem)
    ledger = load_or_exit(ledger_path, Ledger)
    try:
        result = statement(problem, ledger)
    except LedgerError as exc:
        fail(f"{ledger_path}: {exc}")
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for line in result.lines():
            out.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
    if result.refused or result.approvals_needed or not result.within_cap:
        raise typer.Exit(1)


@app.command()
def week(
    input: Annotated[Path, typer.Argument(metavar="INPUT.json", help="The weekly template.")],
    week_path: Annotated[
        Path, typer.Argument(metavar="WEEK.json", help="The real week and its exceptions.")
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Write the dated input JSON here.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the week day by day.")] = False,
) -> None:
    """Lay the weekly template onto a real week (ISO week or its Monday) with its
    exceptions (carers away, clients away, extra and changed visits, bank holidays);
    the dated input it writes is what `solve`, `check` and `replan` take."""
    from matcher.living.dated import DatedError, DatedWeek, dated_problem, week_summary

    problem = load_or_exit(input, Problem)
    dated_week = load_or_exit(week_path, DatedWeek)
    try:
        dated = dated_problem(problem, dated_week)
    except DatedError as exc:
        fail(f"{week_path}: {exc}")
    data = dated.model_dump(mode="json", exclude_defaults=True)
    out_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    summary = week_summary(problem, dated_week, dated)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    quiet = {"markup": False, "highlight": False, "emoji": False, "soft_wrap": True}
    out.print(
        f"week {summary['week_start']} to {summary['week_end']}; dated input written to {out_path}",
        **quiet,
    )
    for day in summary["days"]:
        extra = " (bank holiday)" if day["bank_holiday"] else ""
        away = ", ".join(f"{a['worker_id']} away {a['from']}-{a['to']}" for a in day["carers_away"])
        out.print(
            f"  {day['date']} {day['weekday']}{extra}: {len(day['visits'])} visits"
            + (f"; {away}" if away else ""),
            **quiet,
        )
    for item in summary["left_out"]:
        out.print(f"  left out: {item['visit_id']} on {item['date']} ({item['reason']})", **quiet)
