"""Agency slots are exact: every slot returned passes the checker once inserted, and
every start the checker would accept (brute force over workers) is returned."""

from __future__ import annotations

from itertools import combinations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.checker import check
from matcher.construct import construct
from matcher.instance import build_instance
from matcher.market import MarketAgency
from matcher.schema import (
    Agency,
    Assignment,
    CarePackage,
    Client,
    Location,
    Roster,
    TimeRange,
    VisitPattern,
    Worker,
)
from matcher.slots import SlotRequest, find_slots, probe_problem, slot_assignment
from matcher.solver.placements import assignment_of
from matcher.timeutil import Weekday, format_hhmm

GRANULARITY = 30
BASE = (51.54, -0.10)


def _near(dx: int, dy: int) -> Location:
    return Location(lat=BASE[0] + dy * 0.004, lon=BASE[1] + dx * 0.006)


@st.composite
def agencies(draw: st.DrawFn) -> MarketAgency:
    """2-3 workers on Monday, 1-4 clients placed greedily: a small live roster."""
    workers = []
    for i in range(draw(st.integers(2, 3))):
        start = draw(st.sampled_from([7, 8, 9]))
        end = draw(st.integers(start + 2, 14))
        workers.append(
            Worker(
                id=f"w{i}",
                name=f"w{i}",
                gender=draw(st.sampled_from(["female", "male"])),
                skills=draw(st.sampled_from([["hoist"], []])),
                home=_near(draw(st.integers(-3, 3)), draw(st.integers(-3, 3))),
                availability={"Mon": [TimeRange.of_minutes(start * 60, end * 60)]},
                max_minutes_per_day=draw(st.sampled_from([120, 240, 480])),
            )
        )
    packages = []
    for i in range(draw(st.integers(1, 4))):
        start = draw(st.integers(14, 26)) * 30
        packages.append(
            CarePackage(
                id=f"p{i}",
                client=Client(
                    id=f"c{i}",
                    name=f"c{i}",
                    location=_near(draw(st.integers(-3, 3)), draw(st.integers(-3, 3))),
                ),
                visits=[
                    VisitPattern(
                        weekdays=["Mon"],
                        window=TimeRange.of_minutes(start, start + 30),
                        duration_min=draw(st.sampled_from([15, 30, 45, 60])),
                        carers=draw(st.sampled_from([1, 1, 2])),
                    )
                ],
            )
        )
    entry = MarketAgency(
        agency=Agency(id="a", name="A", hourly_rate_pence=2000), workers=workers, packages=packages
    )
    inst = build_instance(entry.problem())
    _, placements = construct(inst)
    placed = {inst.visits[p.visit].visit.package_id for p in placements}
    unplaced = {v.visit.package_id for v in inst.visits} - placed
    kept = [p for p in placements if inst.visits[p.visit].visit.package_id not in unplaced]
    return entry.model_copy(
        update={
            "packages": [p for p in packages if p.id not in unplaced],
            "roster": [assignment_of(inst, p) for p in kept],
        }
    )


requests = st.builds(
    SlotRequest,
    weekdays=st.just([Weekday.MON]),
    duration_min=st.sampled_from([15, 30, 60]),
    carers=st.sampled_from([1, 2]),
    skills=st.sampled_from([[], ["hoist"]]),
    gender_preference=st.sampled_from(["none", "female"]),
    location=st.builds(_near, st.integers(-3, 3), st.integers(-3, 3)),
    between=st.just(TimeRange(start="06:00", end="15:00")),
)


def _fits(entry: MarketAgency, request: SlotRequest, assignment: Assignment) -> bool:
    problem = probe_problem(entry, request)
    roster = Roster(problem_id=problem.id, assignments=[*entry.roster, assignment])
    return check(problem, roster) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry=agencies(), request=requests)
def test_slots_match_brute_force(entry: MarketAgency, request: SlotRequest) -> None:
    """Slots == the starts where some worker (pair) passes the checker; each slot passes."""
    assert check(entry.problem(), Roster(problem_id="a", assignments=entry.roster)) == []
    found = find_slots(entry, request, granularity_min=GRANULARITY)
    for slot in found:
        assert _fits(entry, request, slot_assignment(slot, request)), slot
    ids = [w.id for w in entry.workers]
    brute = set()
    low, high = request.start_range()
    for minute in range(-(-low // GRANULARITY) * GRANULARITY, high + 1, GRANULARITY):
        for team in combinations(ids, request.carers):
            candidate = Assignment(
                visit_id="slot-request-Mon",
                package_id="slot-request",
                client_id="slot-request-client",
                weekday="Mon",
                start=format_hhmm(minute),
                end=format_hhmm(minute + request.duration_min),
                workers=list(team),
            )
            if _fits(entry, request, candidate):
                brute.add(format_hhmm(minute))
                break
    assert {s.start for s in found} == brute
    assert found == sorted(found, key=lambda s: (s.added_travel_min, s.start))


def test_urban_sample_slots_are_sorted_best_first() -> None:
    """On a sample agency, slots come least added travel first and name one worker."""
    from pathlib import Path

    from matcher.market import Market

    market = Market.model_validate_json(
        (Path(__file__).resolve().parents[1] / "data/samples/market_urban.json").read_text()
    )
    request = SlotRequest(
        weekdays=["Tue"], duration_min=30, skills=["personal_care"], location=_near(0, 0)
    )
    found = find_slots(market.agency("isl-agency"), request)
    assert found and all(len(s.workers) == 1 for s in found)
    travel = [s.added_travel_min for s in found]
    assert travel == sorted(travel)
