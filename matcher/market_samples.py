"""Seeded sample markets for broker matching: agencies with live rosters, and packages.

``python -m matcher.market_samples data/samples`` (re)writes ``market_urban.json``,
``market_rural.json`` and ``packages/*.json``. Output depends only on the seeds.

How an agency is made (``make_agency``)
    Workers as in `matcher.samples` (contracts ``SHIFTS``, the same rota, skills and
    four in five women), scaled to the agency's size; clients drawn with the same
    package kinds and mix (tasks left out, to keep the files small). The committed
    roster is the engine's greedy construction
    (`matcher.construct`, no CP-SAT, so the files are deterministic), inserting
    packages in the order drawn; packages are kept, in that order, while the agency's
    *fill* stays under a seeded target, and a package the greedy could not place
    whole is dropped with its visits. Dropping visits from routes only shortens them
    (travel minutes keep the triangle inequality), so the roster stays valid; the
    checker proves it for every agency when the files are written and in the tests.

Fill
    Worked minutes (visits plus travel, home legs included) over the workers' weekly
    contracted maximum (``max_minutes_per_week``): how much of what the agency can sell
    is already sold. The issue asks for 70-90 %; targets are drawn in 72-86 %.

Urban market (``URBAN_MARKET``): eight agencies of inner north London whose service
    areas overlap around Islington, 25-32 workers each, London framework rates
    (2,300-2,600 p/h) except two agencies pinned at 1,250 and 1,300 p/h, so that
    DOMAIN.md's Mary (whose ISF buys exactly 6.75 h a week at £12.50/h) has one agency
    she can afford and one, 50 p dearer, she cannot.
Rural market (``RURAL_MARKET``): four south-west Shropshire agencies, 10-16 workers
    each, all drivers, clients in their own villages, 15-25 km service radii.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from matcher.brokerage.policy import ContractType, CqcRating, QualityRating
from matcher.checker import check
from matcher.construct import Placement, construct, hardest_first
from matcher.instance import build_instance
from matcher.jsonfmt import pretty_json
from matcher.market import Market, MarketAgency
from matcher.samples import (
    KINDS,
    RURAL,
    SHROPSHIRE,
    URBAN,
    AreaMix,
    Place,
    _names,
    _package,
    _reach,
    _scatter,
    _Spread,
    _workers,
)
from matcher.schema import (
    Agency,
    Budget,
    CarePackage,
    Client,
    Gender,
    GenderPreference,
    Location,
    Roster,
    ServiceArea,
    TimeRange,
    TravelMode,
    VisitPattern,
)
from matcher.solver.placements import assignment_of
from matcher.solver.solve import roster_state
from matcher.timeutil import WEEKDAYS, Weekday

MARKET_SEED = 2026
FILL_TARGET_PCT = (72, 86)
CLIENTS_PER_WORKER = 6  # drawn before filling: more than any agency can take

WorkforceShare = tuple[tuple[str, str, str, float], ...]
# (contract, gender, mode, share of the workforce), as the single-agency samples.
URBAN_SHARES: WorkforceShare = (
    ("full_split", "male", "car", 0.2),
    ("full_split", "female", "car", 0.2),
    ("morning_5", "female", "car", 0.2),
    ("morning_4", "female", "car", 0.07),
    ("morning_5", "female", "foot", 0.13),
    ("short_split", "female", "car", 0.2),
)
RURAL_SHARES: WorkforceShare = (
    ("full_split", "male", "car", 0.2),
    ("full_split", "female", "car", 0.4),
    ("morning_5", "female", "car", 0.2),
    ("morning_4", "female", "car", 0.1),
    ("short_split", "female", "car", 0.1),
)


@dataclass(frozen=True)
class AgencySpec:
    key: str
    name: str
    base: Place
    workers: int
    radius_km: float
    rate_pence: int | None = None  # None: drawn from the area's range
    # The council's view of it, for its ranking policy (`COUNCIL_TERMS`).
    contract: ContractType | None = None
    quality: QualityRating | None = None


BLOCK, FRAMEWORK, SPOT = ContractType.BLOCK, ContractType.FRAMEWORK, ContractType.SPOT
OUTSTANDING, GOOD, REQUIRES_IMPROVEMENT = (
    QualityRating(cqc=rating)
    for rating in (CqcRating.OUTSTANDING, CqcRating.GOOD, CqcRating.REQUIRES_IMPROVEMENT)
)
# Each agency's contract with the council and quality rating. Neither changes a
# roster, so the default ranking (the care score) is what it was; under a policy that
# orders by contract the block agencies (hac, hol; chs) come first, and 60 % quality /
# 40 % price reorders the offers (docs/matching.md, "The council's ranking policy").
# shd is new on the framework and not yet rated; har's 82 is the council's own
# monitoring score on top of its CQC Good; wen has no contract on record.
COUNCIL_TERMS: dict[str, tuple[ContractType | None, QualityRating | None]] = {
    "isl": (FRAMEWORK, GOOD),
    "cam": (SPOT, REQUIRES_IMPROVEMENT),
    "hac": (BLOCK, GOOD),
    "har": (FRAMEWORK, QualityRating(cqc=CqcRating.GOOD, points=82)),
    "kgx": (FRAMEWORK, OUTSTANDING),
    "hol": (BLOCK, GOOD),
    "sto": (SPOT, GOOD),
    "shd": (FRAMEWORK, None),
    "chs": (BLOCK, GOOD),
    "lud": (FRAMEWORK, GOOD),
    "bis": (SPOT, OUTSTANDING),
    "wen": (None, REQUIRES_IMPROVEMENT),
}


def _with_terms(specs: tuple[AgencySpec, ...]) -> tuple[AgencySpec, ...]:
    return tuple(
        replace(s, contract=COUNCIL_TERMS[s.key][0], quality=COUNCIL_TERMS[s.key][1]) for s in specs
    )


INNER_NORTH_LONDON: tuple[AgencySpec, ...] = _with_terms(
    (
        AgencySpec("isl", "Highbury Home Care", Place("Highbury", 51.546, -0.106), 28, 3.0, 1250),
        AgencySpec("cam", "Camden Town Care", Place("Camden Town", 51.539, -0.142), 25, 3.0, 1300),
        AgencySpec("hac", "Hackney Carers", Place("Dalston", 51.546, -0.075), 32, 3.0),
        AgencySpec("har", "Haringey Homecare", Place("Crouch End", 51.579, -0.123), 25, 3.5),
        AgencySpec("kgx", "King's Cross Care", Place("King's Cross", 51.531, -0.124), 27, 3.0),
        AgencySpec("hol", "Holloway Helping Hands", Place("Holloway", 51.556, -0.118), 30, 3.0),
        AgencySpec(
            "sto", "Stoke Newington Care", Place("Stoke Newington", 51.562, -0.078), 25, 3.0
        ),
        AgencySpec("shd", "Shoreditch Support", Place("Shoreditch", 51.526, -0.079), 26, 3.0),
    )
)
SOUTH_WEST_SHROPSHIRE: tuple[AgencySpec, ...] = _with_terms(
    (
        AgencySpec("chs", "Stretton Valley Care", SHROPSHIRE[0], 14, 20.0),
        AgencySpec("lud", "Ludlow Home Support", SHROPSHIRE[3], 16, 18.0),
        AgencySpec("bis", "Clun Forest Carers", SHROPSHIRE[4], 10, 15.0),
        AgencySpec("wen", "Wenlock Edge Care", SHROPSHIRE[7], 12, 15.0),
    )
)


def make_agency(spec: AgencySpec, mix: AreaMix, shares: WorkforceShare, seed: int) -> MarketAgency:
    """One agency with its committed roster, filled to a seeded target (module doc)."""
    rng = random.Random(seed)
    rate = spec.rate_pence or rng.randrange(mix.rate_pence[0], mix.rate_pence[1] + 1, 10)
    counts = [round(share * spec.workers) for *_, share in shares]
    counts[1] += spec.workers - sum(counts)
    workforce = tuple(
        (contract, Gender(gender), TravelMode(mode), n)
        for (contract, gender, mode, _), n in zip(shares, counts, strict=True)
        if n
    )
    places = _places(spec, mix)
    names = {g: tuple(pool) * 4 for g, pool in mix.carer_names.items()}
    local = replace(
        mix,
        key=spec.key,
        workforce=workforce,
        worker_places=tuple(replace(p, workers=w) for p, w in places["workers"]),
        carer_names=names,
    )
    workers = _workers(local, rng)
    homes = [p for p, n in places["clients"] for _ in range(n)]
    n_clients = spec.workers * CLIENTS_PER_WORKER
    rng.shuffle(homes)
    kinds = [kind for kind, count in mix.quota for _ in range(count)]
    spread = _Spread(rng)
    packages: list[CarePackage] = []
    for i, (name, female) in enumerate(_names(rng, n_clients), 1):
        place = homes[(i - 1) % len(homes)]
        location = _scatter(rng, place, local.client_radius_km)
        reach = _reach(workers, f"{spec.key}-c{i:02d}", location, mix.area_type)
        kind = KINDS[rng.choice(kinds)]
        package = _package(spread, local, rate, i, kind, name, female, location, workers, reach)
        lines = [line.model_copy(update={"tasks": []}) for line in package.visits]
        packages.append(package.model_copy(update={"visits": lines}))
    entry = MarketAgency(
        agency=Agency(
            id=f"{spec.key}-agency",
            name=spec.name,
            hourly_rate_pence=rate,
            service_area=ServiceArea(
                centre=Location(lat=spec.base.lat, lon=spec.base.lon), radius_km=spec.radius_km
            ),
        ),
        area_type=mix.area_type,
        workers=workers,
        packages=packages,
        contract=spec.contract,
        quality=spec.quality,
    )
    target = rng.randint(*FILL_TARGET_PCT)
    return _fill(entry, target)


def _places(spec: AgencySpec, mix: AreaMix) -> dict[str, list[tuple[Place, int]]]:
    """Where this agency's workers and clients live: its base (urban) or nearby villages."""
    if mix.area_type.value == "urban":
        return {"workers": [(spec.base, spec.workers)], "clients": [(spec.base, 1)]}
    near = [p for p in SHROPSHIRE if _km(p, spec.base) <= spec.radius_km * 0.8]
    per = max(1, spec.workers // len(near))
    workers = [(p, per) for p in near]
    workers[0] = (workers[0][0], spec.workers - per * (len(near) - 1))
    return {"workers": workers, "clients": [(p, 1) for p in near]}


def _km(a: Place, b: Place) -> float:
    from geopy.distance import geodesic

    return geodesic((a.lat, a.lon), (b.lat, b.lon)).km


def _fill(entry: MarketAgency, target_pct: int) -> MarketAgency:
    """Keep whole packages, in order, while the fill stays under target (module doc)."""
    problem = entry.problem()
    inst = build_instance(problem)
    rng = random.Random(0)
    rank = {v.index: r for r, v in enumerate(hardest_first(inst, rng))}
    order = sorted(inst.visits, key=lambda v: (v.package, rank[v.index]))
    _, placements = construct(inst, order)
    by_package: dict[int, list[Placement]] = {}
    for p in placements:
        by_package.setdefault(inst.visits[p.visit].package, []).append(p)
    capacity = sum(w.max_minutes_per_week for w in problem.workers)
    kept: list[int] = []
    chosen: list[Placement] = []
    for package, visits in enumerate(inst.visits_of_package):
        mine = by_package.get(package, [])
        if len(mine) != len(visits):
            continue
        trial = chosen + mine
        state = roster_state(inst, trial)
        if 100 * sum(state.week_minutes) > target_pct * capacity:
            break
        kept.append(package)
        chosen = trial
    assignments = [assignment_of(inst, p) for p in sorted(chosen, key=lambda p: (p.start, p.visit))]
    result = entry.model_copy(
        update={"packages": [problem.packages[i] for i in kept], "roster": assignments}
    )
    violations = check(result.problem(), Roster(problem_id=entry.id, assignments=assignments))
    if violations:
        raise RuntimeError(f"{entry.id}: generated roster breaks a rule: {violations[0]}")
    return result


def fill_pct(entry: MarketAgency) -> float:
    """Worked minutes of the committed roster over the weekly contracted maximum."""
    problem = entry.problem()
    inst = build_instance(problem)
    from matcher.solver.insert import placements_of

    state = roster_state(inst, placements_of(inst, entry.roster))
    capacity = sum(w.max_minutes_per_week for w in problem.workers)
    return round(100 * sum(state.week_minutes) / capacity, 1)


def urban_market(agencies: int = len(INNER_NORTH_LONDON), seed: int = MARKET_SEED) -> Market:
    """Inner north London; more agencies than the nine named repeat their bases."""
    specs = [_nth(INNER_NORTH_LONDON, i) for i in range(agencies)]
    return Market(
        id=f"market-urban-{agencies}",
        agencies=[make_agency(s, URBAN, URBAN_SHARES, seed + i) for i, s in enumerate(specs)],
    )


def rural_market(seed: int = MARKET_SEED) -> Market:
    return Market(
        id="market-rural",
        agencies=[
            make_agency(s, RURAL, RURAL_SHARES, seed + 100 + i)
            for i, s in enumerate(SOUTH_WEST_SHROPSHIRE)
        ],
    )


def _nth(specs: tuple[AgencySpec, ...], i: int) -> AgencySpec:
    spec = specs[i % len(specs)]
    if i < len(specs):
        return spec
    lap = i // len(specs)
    return replace(
        spec, key=f"{spec.key}{lap + 1}", name=f"{spec.name} ({lap + 1})", rate_pence=None
    )


# ----------------------------------------------------------------------- packages

ISLINGTON_HOME = Location(lat=51.5465, lon=-0.1035)
CLUN_HOME = Location(lat=52.4230, lon=-3.0290)


def mary_package() -> CarePackage:
    """DOMAIN.md's Mary (data/samples/mary.json), her home moved to Islington."""
    from matcher.samples import mary_problem

    package = mary_problem().packages[0]
    client = package.client.model_copy(update={"location": ISLINGTON_HOME})
    return package.model_copy(update={"client": client})


def mary_council_funded() -> CarePackage:
    """Mary's package as the council commissions it (`council-mary`): no personal
    budget to cap it (the council pays its contracted rates), so six of the eight urban
    agencies can take it, and the council's ranking policy decides the order. By the
    care score Highbury (isl) comes first; by contract, the block agencies Holloway
    (hol) and Hackney (hac) do; by 60 % quality and 40 % price, Highbury (the cheapest)
    then King's Cross (kgx, Outstanding), and the dearest agencies fall."""
    package = mary_package()
    return package.model_copy(update={"id": "council-mary", "budget": None})


def rural_double_up() -> CarePackage:
    """A man near Clun needing a two-carer hoist transfer morning and evening."""
    return CarePackage(
        id="clun-hoist",
        client=Client(id="clun-hoist-client", name="Arthur P.", location=CLUN_HOME),
        visits=[
            VisitPattern(
                id="clun-hoist-am",
                weekdays=list(WEEKDAYS),
                window=TimeRange(start="08:30", end="09:00"),
                duration_min=45,
                carers=2,
                skills=["personal_care", "hoist"],
                tasks=["hoist transfer", "wash and dress"],
            ),
            VisitPattern(
                id="clun-hoist-pm",
                weekdays=list(WEEKDAYS),
                window=TimeRange(start="19:30", end="20:00"),
                duration_min=30,
                carers=2,
                skills=["personal_care", "hoist"],
                tasks=["hoist transfer", "settle to bed"],
            ),
        ],
        budget=Budget(amount_pence=2_600_000, period="year"),
    )


def impossible_package() -> CarePackage:
    """PEG feeding, a skill no sample worker has: every agency refuses, naming it."""
    return CarePackage(
        id="peg-feed",
        client=Client(
            id="peg-feed-client",
            name="Edna W.",
            location=ISLINGTON_HOME,
            gender_preference=GenderPreference.FEMALE,
        ),
        visits=[
            VisitPattern(
                id="peg-feed-v1",
                weekdays=list(WEEKDAYS),
                window=TimeRange(start="09:00", end="09:30"),
                duration_min=30,
                skills=["personal_care", "peg_feeding"],
                tasks=["PEG feed", "mouth care"],
            )
        ],
        budget=Budget(amount_pence=800_000, period="year"),
    )


def early_riser() -> CarePackage:
    """An early riser who wants 06:30 on the dot: nobody starts before 07:00, but a
    start a little after seven reaches the first shifts."""
    return CarePackage(
        id="early-riser",
        client=Client(id="early-riser-client", name="Harold B.", location=ISLINGTON_HOME),
        visits=[
            VisitPattern(
                id="early-riser-v1",
                weekdays=[Weekday.MON, Weekday.WED, Weekday.FRI],
                window=TimeRange(start="06:30", end="06:45"),
                hard_window=TimeRange(start="06:30", end="06:45"),
                duration_min=30,
                skills=["personal_care"],
                tasks=["wash and dress", "breakfast"],
            )
        ],
        budget=Budget(amount_pence=300_000, period="year"),
    )


PACKAGES = {
    "mary": mary_package,
    "council_mary": mary_council_funded,
    "rural_double_up": rural_double_up,
    "impossible": impossible_package,
    "early_riser": early_riser,
}


JSON_WIDTH = 180  # an assignment fits on one line


def market_json(model: Market | CarePackage) -> str:
    """Readable JSON: anything that fits in `JSON_WIDTH` on one line (an assignment,
    a worker's availability) is written on one line; defaults are left out."""
    data = model.model_dump(mode="json", exclude_defaults=True)
    if isinstance(model, Market):
        data = {"id": model.id, **data}
    return pretty_json(data, width=JSON_WIDTH, step=1, compact=True) + "\n"


def write_market_samples(out_dir: Path) -> list[Path]:
    """Write market_urban.json, market_rural.json and packages/*.json into out_dir."""
    (out_dir / "packages").mkdir(parents=True, exist_ok=True)
    written = []
    for name, market in (("market_urban", urban_market()), ("market_rural", rural_market())):
        path = out_dir / f"{name}.json"
        path.write_text(market_json(market), encoding="utf-8")
        written.append(path)
    for name, make in PACKAGES.items():
        path = out_dir / "packages" / f"{name}.json"
        path.write_text(market_json(make()), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/samples")
    for path in write_market_samples(target):
        if path.name.startswith("market"):
            market = Market.model_validate_json(path.read_text(encoding="utf-8"))
            figures = ", ".join(
                f"{a.id} {len(a.workers)}w/{len(a.packages)}c/{fill_pct(a)}%"
                for a in market.agencies
            )
            print(f"{path} ({path.stat().st_size // 1024} KB): {figures}")
        else:
            print(path)
