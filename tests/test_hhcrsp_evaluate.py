"""The HHCRSP benchmark evaluator and file format, on the published data and broken copies.

The data lives beside the repository (`../shared/benchmarks/hhcrsp`, the same layout in
CI) and is never copied in. The validator figures below were printed by the public
validator of iolab-uniud/hhcrsp (commit bb345cc, `validator.py check-solution`, see
docs/hhcrsp.md); the published table rounds them to 6 significant digits.

The broken copies start from two feasible solutions:

    InstanzCPLEX_HCSRP_10_1  c1 (s1 s2 s3): p10/s3 148, p3/s2 247 (window opens 247, single
                                            service, 30 min of slack before it), p5, p9/s1, p7
                             c2 (s5 s6):    p8/s6 46 (its only visit)
                             c3 (s4 s5 s6): p8/s5 46, p10/s6 159.161 (travel-tight, gap 11.161
                                            in [8, 16]), p6, p2, p1/s4, p9/s4, p4/s4
                             p8 simultaneous s5+s6; p9, p10 sequential
    toy optimum              c2: p4/s3 120, p2/s3 178, p6/s3 420; c1 does p6/s1 at 360,
                             p6 sequential s1 -> s3 with gap [60, 90] (used: 60)
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from matcher.hhcrsp import (
    RULES,
    Evaluation,
    Instance,
    Route,
    Solution,
    Visit,
    evaluate,
    load_best_known,
    load_instance,
    load_solution,
    write_solution,
)
from matcher.hhcrsp.facts import instance_facts, solution_facts
from tests.helpers import HHCRSP_DATA

MANKOWSKA = HHCRSP_DATA / "mankowska"
SMALL = "InstanzCPLEX_HCSRP_10_1"

# (distance, total tardiness, max tardiness, total cost) as the public validator prints them
# (floats like 654.5959999999999 shortened to the exact thousandths they stand for).
VALIDATOR = {
    "InstanzCPLEX_HCSRP_10_1": (654.596, 0.0, 0.0, 218.198666667),
    "InstanzCPLEX_HCSRP_10_3": (741.137, 99.304, 77.134, 305.858333333),
    "InstanzCPLEX_HCSRP_25_6": (947.294, 328.909, 117.663, 464.622),
    "InstanzCPLEX_HCSRP_50_1": (1669.89, 970.476, 190.818, 943.728),
    "InstanzCPLEX_HCSRP_75_2": (1889.755, 38.692, 28.231, 652.226),
    "InstanzVNS_HCSRP_100_10": (2342.063, 16.111, 6.053, 788.075666667),
}


@cache
def _instance(name: str) -> Instance:
    if name == "toy":
        return load_instance(HHCRSP_DATA / "toy.json")
    return load_instance(MANKOWSKA / "instances" / f"{name}.json")


def _solution_path(name: str) -> Path:
    if name == "toy":
        return HHCRSP_DATA / "toy_solution_optimal.json"
    (path,) = (MANKOWSKA / "solutions").glob(f"sol-{name}-*.json")
    return path


def _solution_json(name: str) -> dict[str, Any]:
    """A fresh, mutable copy of a published solution, to break by hand."""
    return json.loads(_solution_path(name).read_text())


def _visits(document: dict[str, Any], caregiver_id: str) -> list[dict[str, Any]]:
    route = next(r for r in document["routes"] if r["caregiver_id"] == caregiver_id)
    return route.setdefault("locations", [])


def _shift(visit: dict[str, Any], minutes: float) -> None:
    visit["arrival_time"] += minutes
    visit["departure_time"] += minutes


def _evaluate(name: str, document: dict[str, Any]) -> Evaluation:
    return evaluate(_instance(name), Solution.model_validate(document))


def _rules(evaluation: Evaluation) -> set[str]:
    return {violation[1 : violation.index("]")] for violation in evaluation.violations}


# --- costs of the published solutions ---------------------------------------------------


def test_toy_optimum_costs_334_over_3() -> None:
    """The toy optimum is feasible and costs 334/3, as the validator's README reports."""
    evaluation = evaluate(_instance("toy"), load_solution(_solution_path("toy")))
    assert evaluation.violations == []
    assert evaluation.feasible
    assert evaluation.distance == 334.0
    assert (evaluation.total_tardiness, evaluation.max_tardiness) == (0.0, 0.0)
    assert evaluation.cost == pytest.approx(334 / 3, abs=1e-12)


def test_distance_runs_row_to_column_with_both_depot_legs() -> None:
    """Legs are d[from][to] from depot back to depot: the asymmetric toy matrix tells."""
    toy = _instance("toy")
    d = toy.distances
    # c1: depot p4 p5 p6 depot; c2: depot p4 p2 p6 depot; c3: depot p3 p1 p5 depot.
    legs = [(0, 4), (4, 5), (5, 6), (6, 0), (0, 4), (4, 2), (2, 6), (6, 0)]
    legs += [(0, 3), (3, 1), (1, 5), (5, 0)]
    assert sum(d[i][j] for i, j in legs) == 334.0
    assert sum(d[j][i] for i, j in legs) != 334.0  # the transposed reading would differ
    assert evaluate(toy, load_solution(_solution_path("toy"))).distance == 334.0


@pytest.mark.parametrize("name", sorted(VALIDATOR))
def test_matches_the_public_validator_and_the_published_cost(name: str) -> None:
    """Sizes 10-100 (all with sequential sync): validator figures to 1e-8, table to 1e-3."""
    instance = _instance(name)
    assert any(
        p.synchronization is not None and p.synchronization.type == "sequential"
        for p in instance.patients
    )
    evaluation = evaluate(instance, load_solution(_solution_path(name)))
    assert evaluation.violations == []
    distance, total, worst, cost = VALIDATOR[name]
    assert evaluation.distance == pytest.approx(distance, abs=1e-8)
    assert evaluation.total_tardiness == pytest.approx(total, abs=1e-8)
    assert evaluation.max_tardiness == pytest.approx(worst, abs=1e-8)
    assert evaluation.cost == pytest.approx(cost, abs=1e-8)
    assert evaluation.cost == pytest.approx(
        load_best_known(MANKOWSKA / "best_known.md")[name], abs=1e-3
    )


def test_every_published_best_solution_is_feasible_at_its_printed_cost() -> None:
    """All 70 best-known solutions pass and match the table to its 6 significant digits."""
    best = load_best_known(MANKOWSKA / "best_known.md")
    assert len(best) == 70
    for name, published in best.items():
        evaluation = evaluate(_instance(name), load_solution(_solution_path(name)))
        assert evaluation.violations == [], name
        printed = 0.5 * 10 ** (math.floor(math.log10(published)) - 5)
        assert abs(evaluation.cost - published) <= printed + 1e-9, name


# --- hand-broken copies: each breaks one rule and is reported under that rule only ---------


def test_missing_service_is_a_coverage_violation() -> None:
    """Dropping p8/s6 (p8 still visited for s5) is caught, unlike in the public validator."""
    document = _solution_json(SMALL)
    _visits(document, "c2").clear()
    evaluation = _evaluate(SMALL, document)
    assert evaluation.violations == ["[coverage] p8/s6: done 0 times (nobody)"]
    assert not evaluation.feasible


def test_service_done_twice_is_a_coverage_violation() -> None:
    """A second caregiver repeating p2/s3 later is reported, with both caregivers named."""
    document = _solution_json("toy")
    late = {"patient_id": "p2", "service_id": "s3", "arrival_time": 500, "departure_time": 520}
    _visits(document, "c3").append(late)
    assert _evaluate("toy", document).violations == ["[coverage] p2/s3: done 2 times (c2, c3)"]


def test_caregiver_without_the_ability_is_an_ability_violation() -> None:
    """Swapping c2's and c3's routes makes c2 (s5, s6) do the three s4 visits."""
    document = _solution_json(SMALL)
    for route in document["routes"]:
        route["caregiver_id"] = {"c2": "c3", "c3": "c2"}.get(route["caregiver_id"], "c1")
    evaluation = _evaluate(SMALL, document)
    assert _rules(evaluation) == {"ability"}
    assert [v.split(":")[0] for v in evaluation.violations] == [
        "[ability] caregiver c2, p1/s4",
        "[ability] caregiver c2, p9/s4",
        "[ability] caregiver c2, p4/s4",
    ]


def test_simultaneous_services_a_minute_apart_break_sync() -> None:
    """p8's s6 starting one minute after its s5 breaks the simultaneous synchronisation."""
    document = _solution_json(SMALL)
    _shift(_visits(document, "c2")[0], 1)
    assert _evaluate(SMALL, document).violations == [
        "[sync] p8: simultaneous s5->s6 needs start(s6) - start(s5) in [0, 0], got 1"
    ]


def test_sequential_gap_below_its_minimum_breaks_sync() -> None:
    """p6's s3 one minute earlier leaves a 59-minute gap where [60, 90] is required."""
    document = _solution_json("toy")
    _shift(_visits(document, "c2")[2], -1)
    assert _evaluate("toy", document).violations == [
        "[sync] p6: sequential s1->s3 needs start(s3) - start(s1) in [60, 90], got 59"
    ]


def test_sequential_first_service_is_the_first_in_required_caregivers() -> None:
    """Listing p5's services the other way round turns its +45 gap into -45: infeasible."""
    document = json.loads((HHCRSP_DATA / "toy.json").read_text())
    p5 = next(p for p in document["patients"] if p["id"] == "p5")
    p5["required_caregivers"].reverse()
    evaluation = evaluate(Instance.model_validate(document), load_solution(_solution_path("toy")))
    assert evaluation.violations == [
        "[sync] p5: sequential s3->s1 needs start(s1) - start(s3) in [30, 45], got -45"
    ]


def test_start_before_the_window_opens_is_a_window_violation() -> None:
    """p3/s2 a minute before 247 is refused even for a single-service patient."""
    document = _solution_json(SMALL)
    visit = _visits(document, "c1")[1]
    assert visit["patient"] == "p3"
    _shift(visit, -1)
    assert _evaluate(SMALL, document).violations == [
        "[window] caregiver c1, p3/s2: starts at 246, before the window opens at 247"
    ]


def test_start_before_the_travel_allows_is_a_travel_violation() -> None:
    """c3 cannot reach p10 (from p8, departure 60 + 99.161) a minute sooner."""
    document = _solution_json(SMALL)
    _shift(_visits(document, "c3")[1], -1)
    assert _evaluate(SMALL, document).violations == [
        "[travel] caregiver c3, p10/s6: starts at 158.161, before 60 + travel 99.161 = 159.161"
    ]


def test_first_visit_must_allow_travel_from_the_depot_at_time_zero() -> None:
    """A route leaves the depot no earlier than 0: c2 cannot start p8 before 13.038."""
    document = _solution_json(SMALL)
    for caregiver_id in ("c2", "c3"):  # keep p8 simultaneous
        _shift(_visits(document, caregiver_id)[0], -40)
    assert _rules(_evaluate(SMALL, document)) == {"travel", "window"}


def test_wrong_duration_is_a_duration_violation() -> None:
    """A p2/s3 visit ending 5 minutes early (15 of its 20 minutes) breaks the duration."""
    document = _solution_json("toy")
    _visits(document, "c2")[1]["departure_time"] -= 5
    assert _evaluate("toy", document).violations == [
        "[duration] caregiver c2, p2/s3: takes 15, not 20"
    ]


def test_missing_and_unknown_routes_are_route_violations() -> None:
    """Every caregiver needs a route entry (the validator counts them); strangers none."""
    document = _solution_json("toy")
    document["routes"] = [r for r in document["routes"] if r["caregiver_id"] != "c2"]
    document["routes"].append({"caregiver_id": "c9"})
    evaluation = _evaluate("toy", document)
    assert "[route] caregiver c9: not in the instance" in evaluation.violations
    assert "[route] caregiver c2: no route (an empty one is fine)" in evaluation.violations
    assert _rules(evaluation) == {"route", "coverage"}


def test_unknown_patient_or_unrequired_service_is_a_visit_violation() -> None:
    """Visits naming p99, or a service p1 does not need, are findings, not exceptions."""
    document = _solution_json("toy")
    extra = [
        {"patient_id": "p99", "service_id": "s2", "arrival_time": 500, "departure_time": 530},
        {"patient_id": "p1", "service_id": "s3", "arrival_time": 600, "departure_time": 630},
    ]
    _visits(document, "c3").extend(extra)
    evaluation = _evaluate("toy", document)
    assert evaluation.violations == [
        "[visit] caregiver c3, p99/s2: no such patient",
        "[visit] caregiver c3, p1/s3: p1 does not require it",
    ]


def test_every_rule_has_a_description() -> None:
    """The rule ids used in violation strings are exactly the documented ones."""
    assert set(RULES) == {
        "route", "visit", "coverage", "ability", "duration", "travel", "window", "sync"
    }  # fmt: skip


# --- format ------------------------------------------------------------------------------


def test_both_visit_key_spellings_load_and_we_write_the_published_one(tmp_path: Path) -> None:
    """`patient_id` (toy) and `patient` (published) both read; the writer round-trips."""
    toy = load_solution(_solution_path("toy"))
    assert toy.routes[0].locations[0].patient_id == "p4"
    published = load_solution(_solution_path(SMALL))
    out = tmp_path / "solution.json"
    write_solution(published, out)
    written = json.loads(out.read_text())
    assert set(written["routes"][0]["locations"][0]) == {
        "patient", "service", "arrival_time", "departure_time"
    }  # fmt: skip
    assert load_solution(out) == published


def test_writer_keeps_empty_routes_and_orders_patients_when_not_given(tmp_path: Path) -> None:
    """A solution built by field name writes idle caregivers and a by-start global order."""
    solution = Solution(
        routes=[
            Route(
                caregiver_id="c1",
                locations=[
                    Visit(patient_id="p2", service_id="s1", arrival_time=50, departure_time=60),
                    Visit(patient_id="p1", service_id="s1", arrival_time=70, departure_time=80),
                ],
            ),
            Route(caregiver_id="c2"),
        ]
    )
    out = tmp_path / "solution.json"
    write_solution(solution, out)
    written = json.loads(out.read_text())
    assert written["routes"][1] == {"caregiver_id": "c2", "locations": []}
    assert written["global_ordering"] == ["p2", "p1"]


def test_published_solution_with_a_route_lacking_locations_loads() -> None:
    """75_8's idle caregiver c6 is `{"caregiver_id": "c6"}` with no locations key."""
    solution = load_solution(_solution_path("InstanzCPLEX_HCSRP_75_8"))
    idle = next(r for r in solution.routes if r.caregiver_id == "c6")
    assert idle.locations == []


def test_best_known_names_drop_json_and_costs_are_read() -> None:
    """best_known.md gives 70 names without `.json`, e.g. 10_1 at 218.199."""
    best = load_best_known(MANKOWSKA / "best_known.md")
    assert best[SMALL] == 218.199
    assert best["InstanzVNS_HCSRP_300_9"] == 1742.76
    assert not any(name.endswith(".json") for name in best)


def test_missing_duration_falls_back_to_the_service_default() -> None:
    """A required service without `duration` lasts its service's `default_duration`."""
    document = json.loads((HHCRSP_DATA / "toy.json").read_text())
    del document["patients"][0]["required_caregivers"][0]["duration"]  # p1/s2, default 30
    instance = Instance.model_validate(document)
    assert instance.duration(instance.patients[0], "s2") == 30.0
    assert evaluate(instance, load_solution(_solution_path("toy"))).feasible


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["distances"].pop(), "distances must be 7x7"),
        (lambda d: d["caregivers"][0]["abilities"].append("s9"), "unknown abilities"),
        (lambda d: d["patients"][3].pop("synchronization"), "need a synchronization"),
    ],
)
def test_malformed_instances_are_refused(change: Any, message: str) -> None:
    """A wrong matrix size, an unknown ability or an unsynchronised pair fails to load."""
    document = json.loads((HHCRSP_DATA / "toy.json").read_text())
    change(document)
    with pytest.raises(ValidationError, match=message):
        Instance.model_validate(document)


# --- facts -------------------------------------------------------------------------------


def test_facts_of_the_toy_and_a_published_instance() -> None:
    """The toy matrix is asymmetric; Mankowska's are Euclidean, rounded to thousandths."""
    toy = instance_facts(_instance("toy"))
    assert toy.max_asymmetry == 5.0
    assert toy.max_euclidean_error is None
    small = instance_facts(_instance(SMALL))
    assert small.max_asymmetry == 0.0
    assert small.max_euclidean_error is not None and small.max_euclidean_error <= 0.0005
    assert small.max_triangle_excess <= 0.0015
    assert (small.caregivers, small.durations, small.window_widths) == (3, (14.0,), (120.0,))
    assert small.sequential_gaps == ((8.0, 16.0), (51.0, 102.0))
    solved = solution_facts(_instance(SMALL), load_solution(_solution_path(SMALL)))
    assert (solved.caregivers_used, solved.same_caregiver_pairs) == (3, 0)


def test_the_benchmark_package_imports_neither_solver_nor_ortools() -> None:
    """matcher.hhcrsp stays independent of the model it judges (checked in a fresh process)."""
    code = (
        "import sys, matcher.hhcrsp, matcher.hhcrsp.__main__; "
        "print(sorted(m for m in sys.modules if m.startswith(('ortools', 'matcher.solver'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_command_line_evaluate_exits_1_on_a_broken_solution(tmp_path: Path) -> None:
    """`python -m matcher.hhcrsp evaluate` prints the validator's keys and exits 0 / 1."""
    document = _solution_json("toy")
    _visits(document, "c2").clear()
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    command = [sys.executable, "-m", "matcher.hhcrsp", "evaluate", str(HHCRSP_DATA / "toy.json")]
    good = subprocess.run([*command, str(_solution_path("toy"))], capture_output=True, text=True)
    bad = subprocess.run([*command, str(broken)], capture_output=True, text=True)
    assert (good.returncode, bad.returncode) == (0, 1)
    assert json.loads(good.stdout)["total_cost"] == pytest.approx(334 / 3)
    assert not json.loads(bad.stdout)["feasible"]
