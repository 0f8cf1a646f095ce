"""RosterState keeps what it works out from a route (options, latest starts, early
minutes) for the route's version: after any change, what it answers is what a state
built afresh from the same routes works out."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import astuple, replace
from itertools import product
from pathlib import Path

import pytest

from matcher.construct import construct, place
from matcher.hhcrsp.adapter import to_problem
from matcher.hhcrsp.format import load_instance
from matcher.insertion import RosterState, Stop
from matcher.instance import Instance, build_instance
from matcher.schema import Problem
from matcher.solver.ruin import RuinParams, _Search
from matcher.solver.solve import roster_state
from matcher.timeutil import MINUTES_PER_DAY
from tests.helpers import HHCRSP_DATA

ROOT = Path(__file__).resolve().parents[1]
LINKED = HHCRSP_DATA / "mankowska" / "instances"
URBAN = ROOT / "data" / "samples" / "urban.json"


def instance_named(name: str) -> Instance:
    if name == "urban":
        return build_instance(Problem.model_validate_json(URBAN.read_text()))
    # ../shared is beside the repository in CI: missing, this fails rather than skips.
    return build_instance(to_problem(load_instance(LINKED / f"{name}.json"), name))


def afresh(state: RosterState) -> RosterState:
    """A new state with the same routes and minutes, nothing worked out yet."""
    fresh = RosterState(state.instance)
    for s, route in enumerate(state.routes):
        fresh.set_route(s, list(route))
    fresh.day_minutes = [list(days) for days in state.day_minutes]
    fresh.week_minutes = list(state.week_minutes)
    fresh.package_minutes = list(state.package_minutes)
    fresh.workers_of_client = [set(workers) for workers in state.workers_of_client]
    return fresh


def answers(ask: Callable[[], RosterState], visits: list[int]) -> list:
    """Everything a state works out from its routes for these visits, the questions
    about each visit (and each of its variants) put to `ask()` (the same state each
    time, or a new one each time)."""
    found: list = []
    for v in visits:
        original = ask().instance.visits[v]
        # The same visit asked about later in its range, and on the next day, as the
        # nearest fits ask: nothing kept for one may answer another.
        later = replace(original, earliest=min(original.earliest + 60, original.latest))
        next_day = replace(
            original,
            day=original.day + 1,
            earliest=original.earliest + MINUTES_PER_DAY,
            latest=original.latest + MINUTES_PER_DAY,
            preferred_start=original.preferred_start + MINUTES_PER_DAY,
            preferred_end=original.preferred_end + MINUTES_PER_DAY,
        )
        for info, push in product((original, later, next_day), (False, True)):
            state = ask()
            found.append(state.option_tuples(info, push=push))
            shifts = list(state.candidate_shifts(info))
            found.append(shifts)
            for s in shifts:
                for limits, travel in ((True, True), (False, True), (True, False)):
                    options = state.options(info, s, limits=limits, push=push, travel=travel)
                    found.append(list(options))
                found += [state.latest_starts(s), state.early_minutes(s)]
    return found


@pytest.mark.parametrize("name", ["InstanzCPLEX_HCSRP_25_1", "urban"])
def test_kept_answers_are_those_of_a_fresh_state(name: str) -> None:
    """Random inserts (with pushes), removals, pulls of what removals or a later start
    left, and routes put back with the version they had, each followed by the questions
    the search asks about the same few visits (which fills what is kept): every answer
    equals that of a state built afresh from the routes as they stand, a new one for
    each visit asked about."""
    inst = instance_named(name)
    state, _ = construct(inst)
    rng = random.Random(5)
    saved: dict[int, tuple[list[Stop], int]] = {}
    # The same few visits of one day each time (kept answers come back), and changes on
    # that day (they touch the routes asked about).
    day = inst.visits[0].day
    today = [v.index for v in inst.visits if v.day == day]
    asked = rng.sample(today, 6)
    pulls: list[int] = []  # the shifts a removal cut, pulled next (as the search does)
    for _ in range(80):
        placed = {stop.visit for route in state.routes for stop in route}
        busy = [s for s, route in enumerate(state.routes) if route and inst.shifts[s].day == day]
        move = rng.random()
        if pulls:
            for s in pulls:
                state.pull(s)
            pulls = []
        elif move < 0.3 and placed.intersection(today):
            pulls = list(state.remove(inst.visits[rng.choice(sorted(placed.intersection(today)))]))
        elif move < 0.4 and busy:  # a last stop put later by hand, for a pull to undo
            s = rng.choice(busy)
            route = list(state.routes[s])
            last = route[-1]
            if state.movable(last):
                start = last.start + 30
                route[-1] = Stop(last.visit, start, start + last.end - last.start, last.place)
                state.set_route(s, route)
                pulls = [s]
        elif move < 0.8:
            waiting = [v for v in today if v not in placed]
            if waiting:
                info = inst.visits[rng.choice(waiting)]
                place(state, info, placed, push=True, push_first=rng.random() < 0.5)
        elif move < 0.9 and busy:
            s = rng.choice(busy)
            saved[s] = (list(state.routes[s]), state.route_version(s))
        elif saved:
            s = rng.choice(sorted(saved))
            stops, version = saved.pop(s)
            state.set_route(s, stops, version)
        assert answers(lambda: state, asked) == answers(lambda: afresh(state), asked)


@pytest.mark.parametrize("name", ["InstanzCPLEX_HCSRP_25_1", "urban"])
def test_option_tuples_are_the_options_of_each_shift(name: str) -> None:
    """`option_tuples`, which works the options of a push out in a loop of its own (the
    search's fast path), answers exactly as `options` over the candidate shifts does:
    the same options in the same order, with and without push, for every visit of the
    rosters a short search passes through (pushed and pulled routes, gaps at the start,
    between stops and at the end) and for the variants of a visit `answers` asks."""
    inst = instance_named(name)
    _, start = construct(inst)
    search = _Search(inst, start, random.Random(3), RuinParams())
    for _ in range(4):
        search.run(None, 25)
        state = roster_state(inst, search.current())
        for v in range(len(inst.visits)):
            original = inst.visits[v]
            later = replace(original, earliest=min(original.earliest + 60, original.latest))
            for info, push in product((original, later), (False, True)):
                expected = [
                    astuple(option)
                    for s in state.candidate_shifts(info)
                    for option in state.options(info, s, push=push)
                ]
                assert state.option_tuples(info, push=push) == expected, (v, push)
