"""The assignment bound (`matcher.hhcrsp.bound`): a bound on every published solution,
exact where the relaxation loses nothing."""

from __future__ import annotations

from typing import Any

import pytest

from matcher.hhcrsp.bound import assignment_bound
from matcher.hhcrsp.evaluate import evaluate
from matcher.hhcrsp.format import (
    Instance,
    Solution,
    load_best_known,
    load_instance,
    load_solution,
)
from tests.helpers import HHCRSP_DATA


def _instance(
    patients: list[dict[str, Any]], distance: float, caregivers: list[list[str]]
) -> Instance:
    """Patients all at one place `distance` from the office; services s1 and s2 take
    a minute; a caregiver per list of abilities."""
    size = len(patients) + 1
    distances = [
        [0.0 if (i == j or (i and j)) else distance for j in range(size)] for i in range(size)
    ]
    return Instance.model_validate(
        {
            "patients": patients,
            "services": [{"id": s, "default_duration": 1} for s in ("s1", "s2")],
            "caregivers": [{"id": f"c{k}", "abilities": a} for k, a in enumerate(caregivers)],
            "central_offices": [{"id": "d0"}],
            "distances": distances,
        }
    )


@pytest.mark.parametrize("family", ["mankowska", "kummer"])
def test_no_published_solution_beats_the_bound(family: str) -> None:
    """Below every best-known of both families (228 instances), and below the cost of
    every solution file published for an instance without one (Kummer's 10-patient
    ones); above zero wherever anyone must travel."""
    folder = HHCRSP_DATA / family
    best = load_best_known(folder / "best_known.md")
    published = {
        p.name.removeprefix("sol-").rsplit("-", 1)[0]: p
        for p in (folder / "solutions").glob("sol-*.json")
    }
    compared = 0
    for path in sorted((folder / "instances").glob("*.json")):
        instance = load_instance(path)
        bound = assignment_bound(instance)
        assert bound is not None and bound > 0, path.stem
        if path.stem in best:
            assert bound <= best[path.stem] + 1e-6, path.stem
            compared += 1
        if path.stem in published:
            scored = evaluate(instance, load_solution(published[path.stem]))
            assert bound <= scored.cost + 1e-6, path.stem
            compared += 1
    assert compared >= 70


def test_toy_bound_below_its_optimum() -> None:
    toy = load_instance(HHCRSP_DATA / "toy.json")
    optimum = evaluate(toy, load_solution(HHCRSP_DATA / "toy_solution_optimal.json")).cost
    bound = assignment_bound(toy)
    assert bound is not None and 0 < bound <= optimum + 1e-6


def test_lateness_no_route_can_avoid_is_counted() -> None:
    """One service whose window closes at 5, d = 10.0004 minutes from the office: any
    solution travels 2d and is d - 5 late, so the cost is (4d - 10) / 3; the bound is
    that, less at most a unit of `UNITS_PER_MINUTE` per arc (never more)."""
    d = 10.0004
    instance = _instance(
        [{"id": "p1", "time_window": [0, 5], "required_caregivers": [{"service": "s1"}]}],
        caregivers=[["s1", "s2"]],
        distance=d,
    )
    bound = assignment_bound(instance)
    assert bound is not None and (4 * d - 10) / 3 - 1e-3 <= bound <= (4 * d - 10) / 3


def test_the_halves_of_a_simultaneous_visit_never_follow_one_another() -> None:
    """A two-carer visit: both carers travel there and back (40), none of it late; the
    relaxation may not let one carer do both halves (20)."""
    instance = _instance(
        [
            {
                "id": "p1",
                "time_window": [0, 100],
                "required_caregivers": [{"service": "s1"}, {"service": "s2"}],
                "synchronization": {"type": "simultaneous"},
            }
        ],
        caregivers=[["s1", "s2"]] * 2,
        distance=10,
    )
    assert assignment_bound(instance) == pytest.approx(40 / 3)


def test_the_second_half_of_a_sequential_visit_waits_its_least_gap() -> None:
    """Two services at one patient, the second 30 to 40 minutes after the first, the
    window closing at 10, 10 from the office: the second is at least 30 late. The best
    is one carer doing both (travel 20, late 30 in total and at most): (20 + 30 + 30)
    / 3, and the bound is exactly that."""
    instance = _instance(
        [
            {
                "id": "p1",
                "time_window": [0, 10],
                "required_caregivers": [{"service": "s1"}, {"service": "s2"}],
                "synchronization": {"type": "sequential", "distance": [30, 40]},
            }
        ],
        caregivers=[["s1", "s2"]] * 2,
        distance=10,
    )
    visits = [
        {"patient": "p1", "service": "s1", "arrival_time": 10, "departure_time": 11},
        {"patient": "p1", "service": "s2", "arrival_time": 40, "departure_time": 41},
    ]
    routes = [{"caregiver_id": "c0", "locations": visits}, {"caregiver_id": "c1"}]
    scored = evaluate(instance, Solution.model_validate({"routes": routes}))
    assert scored.feasible, scored.violations
    assert scored.cost == pytest.approx(80 / 3)
    assert assignment_bound(instance) == pytest.approx(80 / 3)


def test_a_service_follows_another_only_where_one_carer_has_both_skills() -> None:
    """An s1 and an s2 service at one place, 10 from the office, a carer for each
    skill: each carer goes there and back (40). Without the skills the relaxation
    would close the two into a cycle that costs nothing."""
    instance = _instance(
        [
            {"id": "p1", "time_window": [0, 100], "required_caregivers": [{"service": "s1"}]},
            {"id": "p2", "time_window": [0, 100], "required_caregivers": [{"service": "s2"}]},
        ],
        distance=10,
        caregivers=[["s1"], ["s2"]],
    )
    assert assignment_bound(instance) == pytest.approx(40 / 3)


def test_no_bound_when_nobody_can_do_a_service() -> None:
    instance = _instance(
        [{"id": "p1", "time_window": [0, 100], "required_caregivers": [{"service": "s2"}]}],
        distance=10,
        caregivers=[["s1"]],
    )
    assert assignment_bound(instance) is None


def test_a_detour_may_be_shorter_than_the_direct_leg() -> None:
    """The office is 100 from p1 directly but 20 through p2; a route through p2 reaches
    p1 well inside its window, so the bound must not count p1 late (the matrix need not
    obey the triangle inequality)."""
    instance = Instance.model_validate(
        {
            "patients": [
                {"id": "p1", "time_window": [0, 30], "required_caregivers": [{"service": "s1"}]},
                {"id": "p2", "time_window": [0, 900], "required_caregivers": [{"service": "s1"}]},
            ],
            "services": [{"id": "s1", "default_duration": 1}],
            "caregivers": [{"id": "c1", "abilities": ["s1"]}],
            "central_offices": [{"id": "d0"}],
            "distances": [[0, 100, 10], [10, 0, 10], [10, 10, 0]],
        }
    )
    route = {
        "caregiver_id": "c1",
        "locations": [
            {"patient": "p2", "service": "s1", "arrival_time": 10, "departure_time": 11},
            {"patient": "p1", "service": "s1", "arrival_time": 21, "departure_time": 22},
        ],
    }
    scored = evaluate(instance, Solution.model_validate({"routes": [route]}))
    assert scored.feasible, scored.violations
    bound = assignment_bound(instance)
    assert bound is not None and 0 < bound <= scored.cost + 1e-9
