"""The compiled kernels answer exactly as the Python that defines each rule.

The search's moves are pinned (tests/test_ruin.py: `test_same_moves_as_before_the_
speed_ups`); these tests say *which* piece differs when a pin breaks, and cover states
and draws the pins do not: the random stream against `random.Random`, the set order
the linked-pair search copies from CPython, and every visit's placement against
`construct.place` on rosters a search passes through.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.construct import construct, place
from matcher.fast import kernels
from matcher.fast.roster import RandomStream
from matcher.hhcrsp.adapter import to_problem
from matcher.hhcrsp.format import load_instance
from matcher.insertion import RosterState
from matcher.instance import Instance, build_instance
from matcher.schema import Problem
from matcher.solver.ruin import RuinParams, _Search
from matcher.solver.solve import roster_state
from tests.helpers import HHCRSP_DATA

# `../shared` is beside the repository in CI: without it these tests fail, not skip.
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def instance_named(name: str) -> Instance:
    if name.startswith("Instanz"):
        path = HHCRSP_DATA / "mankowska" / "instances" / f"{name}.json"
        return build_instance(to_problem(load_instance(path), name))
    return build_instance(Problem.model_validate_json((SAMPLES / f"{name}.json").read_text()))


# ------------------------------------------------------------------ random stream


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**64), skip=st.integers(0, 700), below=st.integers(1, 2**32 - 1))
def test_the_stream_draws_as_random_random(seed: int, skip: int, below: int) -> None:
    """From any state (including one about to twist): `random`, `_below` (randrange,
    choice, randint, shuffle) and `_uniform` give what `random.Random` gives, and the
    state handed back goes on as the Python stream would."""
    python = random.Random(seed)
    for _ in range(skip):
        python.random()
    copy = random.Random()
    copy.setstate(python.getstate())
    stream = RandomStream(copy)
    for _ in range(5):
        assert kernels.random(stream.mt, stream.index) == python.random()
        assert kernels._below(stream.mt, stream.index, below) == python._randbelow(below)
        assert kernels._uniform(stream.mt, stream.index, 1.0, 7.25) == python.uniform(1.0, 7.25)
    stream.close()
    assert copy.random() == python.random()
    assert copy.getstate() == python.getstate()


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.integers(0, 40), st.integers(0, 2**20), st.integers(0, 2**61 - 2)),
        min_size=4,
        max_size=4,
    )
)
def test_set_order_is_cpythons(values: list[int]) -> None:
    """The linked-pair search tries its four starts in the order CPython iterates the
    set literal of them (ties between starts go to the first): small values collide in
    the 8-slot table, large ones probe with their high bits."""
    ordered, count = kernels.set_order(np.array(values, dtype=np.int64))
    assert ordered[:count].tolist() == list({values[0], values[1], values[2], values[3]})


# ------------------------------------------------------------------ placements


def pulled_state(inst: Instance, placements: list) -> RosterState:
    """The `RosterState` a search starts from: the routes loaded, then pulled."""
    state = roster_state(inst, placements)
    for s in {s for p in placements for s in p.shifts}:
        state.pull(s)
    return state


@pytest.mark.parametrize("name", ["InstanzCPLEX_HCSRP_25_1", "urban", "rural", "mary"])
@pytest.mark.parametrize("blinks", [False, True])
def test_each_visit_goes_where_construct_place_puts_it(name: str, blinks: bool) -> None:
    """On rosters a short search passes through, with a few visits taken out: every
    visit put back on its own goes where `construct.place` (push first, the search's
    mode) puts it in the Python `RosterState`, with its partner for a linked one and
    both carers for a two-carer one, and the minutes follow; with blinks, both draw the
    same number of times from the same stream (HHCRSP: linked pairs; the samples:
    two-carer visits, budgets, hours, seven days)."""
    inst = instance_named(name)
    _, start = construct(inst)
    search = _Search(inst, start, random.Random(4), RuinParams())
    rng = random.Random(6)
    compared = 0
    for _ in range(3):
        search.run(None, 30)
        current = search.current()
        out = set(rng.sample(range(len(current)), min(6, len(current))))
        kept = [p for i, p in enumerate(current) if i not in out]
        partners = {inst.partner.get(p.visit) for p in current if p not in kept}
        kept = [p for p in kept if p.visit not in partners]  # linked visits leave together
        placed_visits = {p.visit for p in kept}
        for visit in inst.visits:
            if visit.index in placed_visits:
                continue
            state = pulled_state(inst, kept)
            fresh = _Search(inst, kept, random.Random(0), RuinParams(blink_rate=0.3))
            python_rng, kernel_rng = random.Random(visit.index), random.Random(visit.index)
            blink = (lambda rng=python_rng: rng.random() < 0.3) if blinks else None
            expected = place(
                state, visit, set(placed_visits), push=True, push_first=True, blink=blink
            )
            stream = RandomStream(kernel_rng) if blinks else None
            found = fresh.roster.recreate([visit.index], stream)
            if stream is not None:
                stream.close()
            assert found == expected, (name, visit.index)
            assert kernel_rng.getstate() == python_rng.getstate()
            assert fresh.roster.day_minutes.tolist() == state.day_minutes
            assert fresh.roster.week_minutes.tolist() == state.week_minutes
            assert fresh.roster.package_minutes.tolist() == state.package_minutes
            compared += len(expected)
    assert compared > 10  # the comparison had placements to compare


# ------------------------------------------------------------------ route ruin


@pytest.mark.parametrize("name", ["InstanzCPLEX_HCSRP_25_1", "urban"])
def test_a_route_ruin_takes_one_whole_route_and_its_partners(name: str) -> None:
    """With `route_share` 1 every ruin is the latest route's removable visits, all of
    them, with the partner of each linked visit on it (wherever that partner is), and
    no other visit; with `route_share` 0, or with no route late, the ruin is strings
    that are not (HHCRSP: linked pairs across routes; urban: two-carer visits on two
    routes); of two routes equally late, the first (lower index) is the one taken."""
    inst = instance_named(name)
    _, start = construct(inst)
    search = _Search(inst, start, random.Random(2), RuinParams())
    search.run(None, 20)
    roster = search.roster
    n_visits, n_shifts = len(roster.placed), len(roster.n_stops)

    def ruin(
        share: float, seed: int, *, late: bool = True, route_late: np.ndarray | None = None
    ) -> tuple[set[int], int]:
        removed = np.zeros(n_visits, dtype=np.int64)
        in_removed = np.zeros(n_visits, dtype=np.int64)
        ruined = np.zeros(n_shifts, dtype=np.int64)
        stream = RandomStream(random.Random(seed))
        n, whole = kernels.choose_strings(
            roster.rows, roster.n_stops, roster.visit_facts, roster.placed,
            roster.where_a, roster.where_b, roster.removable, roster.is_removable,
            roster.related_start, roster.related, 10.0, 10, share,
            (roster.route_late if route_late is None else route_late)
            if late else np.zeros_like(roster.route_late),
            stream.mt, stream.index, removed, in_removed, ruined,
        )  # fmt: skip
        assert whole == (share == 1.0 and late)
        return set(removed[:n].tolist()), int(ruined[0])

    whole_routes = 0
    for seed in range(12):
        removed, s = ruin(1.0, seed)
        on_route = {
            v
            for v in roster.rows[s, kernels.VISIT, : roster.n_stops[s]].tolist()
            if roster.is_removable[v]
        }
        partners = {inst.partner[v] for v in on_route if v in inst.partner}
        assert on_route and removed == on_route | partners, (seed, s)
        assert roster.route_late[s] == roster.route_late.max() > 0
        strings, _ = ruin(0.0, seed)
        ruin(1.0, seed, late=False)  # no route late: strings (asserted inside)
        whole_routes += strings == removed
    assert whole_routes < 12  # strings are not whole routes
    busy = [s for s in range(n_shifts) if roster.n_stops[s]]
    first, second = busy[0], busy[-1]
    tied = np.zeros_like(roster.route_late)
    tied[first] = tied[second] = 7
    assert ruin(1.0, 0, route_late=tied)[1] == first
