"""The sample generator and the committed sample files (data/samples)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from geopy.distance import geodesic

from matcher.samples import (
    MIN_CANDIDATES,
    SAMPLES,
    SHROPSHIRE,
    capacity_report,
    mary_problem,
    rural_problem,
    to_json,
    urban_problem,
    visit_candidates,
    write_samples,
)
from matcher.schema import Gender, GenderPreference, Problem, TravelMode, expand_visits

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"


@cache
def generated(name: str) -> Problem:
    return SAMPLES[name]()


@cache
def report(name: str) -> dict:
    return capacity_report(generated(name))


def carer_minutes(problem: Problem, package_index: int = 0) -> int:
    package = problem.packages[package_index]
    return sum(v.duration_min * v.carers for v in expand_visits(package))


def week_visits(problem: Problem) -> list:
    return [v for p in problem.packages for v in expand_visits(p)]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_committed_file_equals_generator_output(name: str) -> None:
    """Each committed sample is exactly what the generator writes for the default seed."""
    committed = (SAMPLE_DIR / f"{name}.json").read_text(encoding="utf-8")
    assert committed == to_json(generated(name))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_committed_file_validates_and_round_trips(name: str) -> None:
    """Each committed sample loads as a Problem equal to the generated one."""
    text = (SAMPLE_DIR / f"{name}.json").read_text(encoding="utf-8")
    assert Problem.model_validate_json(text) == generated(name)


def test_generation_is_deterministic_per_seed() -> None:
    """The same seed gives the same problem; another seed gives another one."""
    assert to_json(rural_problem(3)) == to_json(rural_problem(3))
    assert to_json(rural_problem(3)) != to_json(generated("rural"))


def test_write_samples_writes_the_three_files(tmp_path: Path) -> None:
    """write_samples writes mary, urban and rural, identical to the committed files."""
    paths = write_samples(tmp_path)
    assert [p.name for p in paths] == ["mary.json", "urban.json", "rural.json"]
    for path in paths:
        assert path.read_text(encoding="utf-8") == (SAMPLE_DIR / path.name).read_text("utf-8")


def test_mary_weekly_minutes_are_405() -> None:
    """Mary's pattern is 3x60 + 4x30 + 7x15 = 405 carer minutes a week."""
    problem = mary_problem()
    assert carer_minutes(problem) == 405
    durations = sorted(v.duration_min for v in expand_visits(problem.packages[0]))
    assert durations == [15] * 7 + [30] * 4 + [60] * 3


def test_mary_annual_cost_equals_her_cap_exactly() -> None:
    """405 min at 1,250 p/h for 52 weeks is exactly her 438,750 p a year."""
    problem = mary_problem()
    package = problem.packages[0]
    rate = problem.agency.hourly_rate_pence
    assert rate == 1250
    assert package.budget is not None and package.budget.period == "year"
    assert package.budget.amount_pence == 438_750
    assert carer_minutes(problem) * rate * 52 == package.budget.amount_pence * 60
    assert (carer_minutes(problem) + 1) * rate * 52 > package.budget.amount_pence * 60


def test_mary_agency_can_serve_her() -> None:
    """Mary wants women; at least two female workers have her skills and cover every visit."""
    problem = mary_problem()
    client = problem.packages[0].client
    assert (problem.packages[0].id, client.id) == ("mary", "mary-client")
    assert client.gender_preference is GenderPreference.FEMALE and client.gender_preference_strict
    able = [
        w
        for w in problem.workers
        if w.gender is Gender.FEMALE and {"personal_care", "medication"} <= set(w.skills)
    ]
    assert len(able) >= 2 and 3 <= len(problem.workers) <= 4
    assert min(visit_candidates(problem).values()) >= 2


@pytest.mark.parametrize(
    ("name", "workers", "clients", "visits"),
    [("urban", (14, 16), (60, 60), (350, 450)), ("rural", (9, 11), (35, 35), (150, 300))],
)
def test_sample_sizes(
    name: str, workers: tuple[int, int], clients: tuple[int, int], visits: tuple[int, int]
) -> None:
    """Workers, clients and weekly visits are in the ranges the samples promise."""
    problem = generated(name)
    assert workers[0] <= len(problem.workers) <= workers[1]
    assert clients[0] <= len(problem.packages) <= clients[1]
    assert visits[0] <= len(week_visits(problem)) <= visits[1]


@pytest.mark.parametrize("name", ["urban", "rural"])
def test_preference_and_double_up_mix(name: str) -> None:
    """About a third of clients state a gender preference, mostly female; ~1 in 10 double-ups."""
    problem = generated(name)
    prefs = [p.client.gender_preference for p in problem.packages]
    stated = [g for g in prefs if g is not GenderPreference.NONE]
    assert 0.25 <= len(stated) / len(prefs) <= 0.42
    assert stated.count(GenderPreference.FEMALE) > len(stated) / 2
    double = [p for p in problem.packages if any(v.carers == 2 for v in p.visits)]
    assert 0.07 <= len(double) / len(problem.packages) <= 0.13
    assert all("hoist" in v.skills for p in double for v in p.visits if v.carers == 2)


@pytest.mark.parametrize("name", ["urban", "rural"])
def test_workforce_mix(name: str) -> None:
    """Mostly women; hoist workers of both genders, at least four of them."""
    problem = generated(name)
    women = [w for w in problem.workers if w.gender is Gender.FEMALE]
    assert len(women) / len(problem.workers) >= 0.7
    hoist = [w for w in problem.workers if "hoist" in w.skills]
    assert len(hoist) >= 4 and {w.gender for w in hoist} == {Gender.FEMALE, Gender.MALE}


def test_urban_has_walkers_and_rural_drives() -> None:
    """A few urban workers walk; every rural worker drives."""
    urban, rural = generated("urban"), generated("rural")
    walkers = [w for w in urban.workers if w.travel_mode is TravelMode.FOOT]
    assert 2 <= len(walkers) <= 4
    assert all(w.travel_mode is TravelMode.CAR for w in rural.workers)
    assert (urban.area_type.value, rural.area_type.value) == ("urban", "rural")


def test_urban_homes_within_the_borough() -> None:
    """Urban client homes lie within 2.5 km of the Islington centre."""
    centre = (51.546, -0.106)
    for package in generated("urban").packages:
        home = (package.client.location.lat, package.client.location.lon)
        assert geodesic(centre, home).km <= 2.5 + 0.01


def test_rural_homes_near_a_village() -> None:
    """Rural client homes lie within 1.5 km of one of the Shropshire places."""
    places = [(p.lat, p.lon) for p in SHROPSHIRE]
    for package in generated("rural").packages:
        home = (package.client.location.lat, package.client.location.lon)
        assert min(geodesic(place, home).km for place in places) <= 1.5 + 0.01


@pytest.mark.parametrize("name", ["urban", "rural"])
def test_rate_and_budgets(name: str) -> None:
    """Budgets are weekly cost x 52 rounded up to the penny plus at most 10 % headroom."""
    problem = generated(name)
    rate = problem.agency.hourly_rate_pence
    low, high = {"urban": (2300, 2600), "rural": (2250, 2450)}[name]
    assert low <= rate <= high
    for index, package in enumerate(problem.packages):
        assert package.budget is not None and package.budget.period == "year"
        exact = carer_minutes(problem, index) * rate * 52  # the cap times 60
        amount = package.budget.amount_pence
        assert amount * 60 >= exact
        assert amount * 6000 <= exact * 110 + 6000


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_visit_shapes(name: str) -> None:
    """Visits last 15/30/45/60 min, preferred windows are 30 min, no hard window is set."""
    for package in generated(name).packages:
        for pattern in package.visits:
            assert pattern.duration_min in (15, 30, 45, 60)
            assert pattern.window.end_min - pattern.window.start_min == 30
            assert pattern.hard_window is None


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_worker_caps_match_shifts(name: str) -> None:
    """Daily and weekly caps never exceed the hours on shift; part-timers work 20-30 h."""
    for worker in generated(name).workers:
        per_day = [
            sum(r.end_min - r.start_min for r in ranges) for ranges in worker.availability.values()
        ]
        assert worker.max_minutes_per_day <= min(per_day)
        assert worker.max_minutes_per_week <= sum(
            min(d, worker.max_minutes_per_day) for d in per_day
        )
        if worker.max_minutes_per_week < 35 * 60:
            assert 20 * 60 <= worker.max_minutes_per_week <= 30 * 60


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_visit_has_enough_candidates(name: str) -> None:
    """Each visit has 2 able, compatible, available workers (3 for two-carer visits)."""
    problem = generated(name)
    counts = visit_candidates(problem)
    for visit in week_visits(problem):
        assert counts[visit.id] >= MIN_CANDIDATES[visit.carers], visit.id


def test_men_cover_every_day_in_the_city() -> None:
    """At least two male workers are on shift every day, so male preferences can be met."""
    problem = generated("urban")
    days = {d for w in problem.workers for d in w.availability}
    for day in days:
        men = [w for w in problem.workers if w.gender is Gender.MALE and day in w.availability]
        assert len(men) >= 2, day


def test_peak_capacity_is_realistic_but_feasible() -> None:
    """Peak 07:00-10:00 demand with travel is about 60-75 % of supply; rural visit share lower."""
    urban, rural = report("urban"), report("rural")
    assert 55 <= urban["peak"]["mean_with_travel_pct"] <= 75
    assert urban["peak"]["max_with_travel_pct"] <= 80
    assert rural["peak"]["max_with_travel_pct"] <= 80
    assert rural["peak"]["max_visit_pct"] < urban["peak"]["max_visit_pct"]
    for name in ("urban", "rural"):
        assert report(name)["busiest_band_with_travel_pct"] <= 80
        assert report(name)["week"]["with_travel_pct"] <= 85
        assert report(name)["candidates"]["short"] == []


def test_other_seeds_still_build_valid_problems() -> None:
    """Other seeds also generate valid problems with enough candidates per visit."""
    for make in (urban_problem, rural_problem):
        problem = make(1)
        Problem.model_validate_json(to_json(problem))
        counts = visit_candidates(problem)
        assert all(counts[v.id] >= MIN_CANDIDATES[v.carers] for v in week_visits(problem))
