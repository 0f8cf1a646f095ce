"""`matcher.control.RunControl` honoured by `solve` and `match`: a cancel from another
thread raises `Cancelled` promptly (forked searches stop too), a deadline returns a
valid roster (or the offers so far) whatever the time limit says, progress only ever
goes down. Speed is not what is tested: the bounds are generous, only the control is."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from matcher.checker import check
from matcher.control import Cancelled, ProgressReporter, RunControl
from matcher.instance import build_instance
from matcher.market import Market
from matcher.market_samples import mary_package
from matcher.matching import NOT_EVALUATED, MatchParams, match
from matcher.schema import CarePackage, Problem
from matcher.solver import SolveParams, solve
from matcher.solver.model import build_model, make_solver, run_solver

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
# Generous: what is asserted is that the control is honoured, not how fast.
SLACK_S = 5.0


@pytest.fixture(scope="module")
def urban() -> Problem:
    return Problem.model_validate_json((SAMPLES / "urban.json").read_text())


@pytest.fixture(scope="module")
def urban_market() -> Market:
    return Market.model_validate_json((SAMPLES / "market_urban.json").read_text())


def cancel_after(seconds: float) -> threading.Event:
    """An event another thread sets `seconds` from now."""
    event = threading.Event()
    timer = threading.Timer(seconds, event.set)
    timer.daemon = True
    timer.start()
    return event


def test_run_control_defaults_change_nothing() -> None:
    """`RunControl()` never stops a run; a deadline counts down; `earlier` moves it."""
    control = RunControl()
    assert not control.should_stop() and control.seconds_left() == math.inf
    soon = RunControl.within(10.0)
    assert 9.0 < soon.seconds_left() <= 10.0 and not soon.expired()
    assert soon.earlier(2.0).seconds_left() < soon.seconds_left() - 1.9
    assert RunControl(deadline=time.monotonic() - 1).should_stop()
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        RunControl(cancel=event).raise_if_cancelled()


def test_progress_reporter_passes_on_improvements_only() -> None:
    """Worse or equal objectives are never reported; a flush reports the best."""
    seen: list[float] = []
    reporter = ProgressReporter(RunControl(progress=seen.append), min_interval_s=0.0)
    for value in (10.0, 12.0, 9.0, 9.0, 11.0, 4.0):
        reporter.improved(value)
    reporter.flush()
    assert seen == [10.0, 9.0, 4.0]


@pytest.mark.parametrize("value", [math.inf, math.nan, 0.0, -1.0])
def test_time_limit_must_be_finite_and_positive(value: float) -> None:
    """inf made a solve that never ended; nan, 0 and negative limits are as wrong."""
    with pytest.raises(ValueError, match="time_limit_s"):
        SolveParams(time_limit_s=value)
    with pytest.raises(ValueError, match="time_limit_s"):
        MatchParams(time_limit_s=value)


def test_cancel_from_another_thread_stops_a_solve(urban: Problem) -> None:
    """Cancelled a second into a 30 s solve of the urban sample (ruin and recreate is
    running, with its forked searches): `Cancelled` comes soon, no child is left."""
    cancel = cancel_after(1.0)
    began = time.monotonic()
    with pytest.raises(Cancelled):
        solve(urban, params=SolveParams(time_limit_s=30), control=RunControl(cancel=cancel))
    assert time.monotonic() - began < 1.0 + SLACK_S
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("carematch-ruin")]


def test_cancel_stops_cp_sat(urban: Problem) -> None:
    """CP-SAT on the urban sample's full model with a 30 s limit stops at a cancel."""
    inst = build_instance(urban)
    model = build_model(inst).model
    solver = make_solver(time_limit_s=30, num_workers=2, seed=0)
    cancel = cancel_after(0.5)
    began = time.monotonic()
    with pytest.raises(Cancelled):
        run_solver(solver, model, RunControl(cancel=cancel))
    assert time.monotonic() - began < 0.5 + SLACK_S


@pytest.mark.parametrize("deterministic", [False, True])
def test_deadline_returns_a_valid_roster_and_progress_only_improves(
    urban: Problem, deterministic: bool
) -> None:
    """A deadline 2 s away on a 30 s limit: a roster that passes the checker comes back
    in time. Progress is heard in this process and thread, never increasing, and ends
    at the roster's objective."""
    heard: list[tuple[float, int, int]] = []
    control = RunControl.within(
        2.0, progress=lambda v: heard.append((v, os.getpid(), threading.get_ident()))
    )
    began = time.monotonic()
    params = SolveParams(time_limit_s=30, deterministic=deterministic)
    roster = solve(urban, params=params, control=control)
    assert time.monotonic() - began < 2.0 + SLACK_S
    assert check(urban, roster) == []
    values = [v for v, _, _ in heard]
    assert len(values) >= 2
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert roster.solver is not None and values[-1] == roster.solver.objective
    assert {(pid, thread) for _, pid, thread in heard} == {(os.getpid(), threading.get_ident())}


def test_a_deadline_already_past_still_gives_a_valid_roster(urban: Problem) -> None:
    """Past its deadline a solve returns the greedy roster, checked valid."""
    roster = solve(
        urban,
        params=SolveParams(time_limit_s=30),
        control=RunControl(deadline=time.monotonic() - 1.0),
    )
    assert check(urban, roster) == []


# Mary without her budget, existing visits movable by 30 minutes, up to 5 s of search
# per agency: about 5 s over the urban market's 8 agencies, in one process.
SLOW_MATCH = {"time_limit_s": 5.0, "allow_moves_min": 30}


def unbounded_mary() -> CarePackage:
    return mary_package().model_copy(update={"budget": None})


@pytest.mark.parametrize("processes", [1, 2])
def test_cancel_from_another_thread_stops_a_match(urban_market: Market, processes: int) -> None:
    """A match over the urban market's 8 agencies raises `Cancelled` soon after a
    cancel (CP-SAT searching), in this process or with worker processes."""
    cancel = cancel_after(1.5)
    began = time.monotonic()
    params = MatchParams(processes=processes, **SLOW_MATCH)
    with pytest.raises(Cancelled):
        match(urban_market, unbounded_mary(), params, control=RunControl(cancel=cancel))
    assert time.monotonic() - began < 1.5 + SLACK_S


@pytest.mark.parametrize("processes", [1, 2])
def test_deadline_returns_the_offers_so_far(urban_market: Market, processes: int) -> None:
    """With 1.5 s to go a match returns in time: every agency has an offer, each either
    checked by the checker or refused as not evaluated."""
    began = time.monotonic()
    params = MatchParams(processes=processes, **SLOW_MATCH)
    result = match(urban_market, unbounded_mary(), params, control=RunControl.within(1.5))
    assert time.monotonic() - began < 1.5 + SLACK_S
    assert {o.agency_id for o in result.offers} == {a.id for a in urban_market.agencies}
    for offer in result.offers:
        assert offer.checked or offer.reasons == [NOT_EVALUATED] or not offer.feasible
        if offer.feasible:
            assert offer.checked and offer.assignments
