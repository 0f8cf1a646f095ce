"""Seeded sample problems: DOMAIN.md's Mary, an inner-London agency and a Shropshire one.

``python -m matcher.samples data/samples`` (re)writes ``mary.json``, ``urban.json`` and
``rural.json`` and prints each one's capacity figures. The output depends only on the seed
(stdlib ``random.Random``), so the tests compare the committed files with a fresh run.

Every figure of the mix is a named constant below; this is where each comes from.

Mary (``mary_problem``): exactly DOMAIN.md's worked example
    Package ``mary``, client ``mary-client``, strict female preference. One hour on
    Mon/Wed/Fri (help to shower, as in the case study), half an hour on Tue/Thu/Sat and
    Sunday (Sunday half an hour later, to get ready for church, which the case study
    mentions), 15 minutes every evening: 3x60 + 4x30 + 7x15 = 405 carer minutes a week.
    Rate 1,250 p/h and budget 438,750 p a year, so ``405 * 1250 * 52 == 438750 * 60``:
    she is exactly at her cap and one more minute is over it. Windows 08:00-08:30
    (Sunday 08:30-09:00) and 19:00-19:30. The agency is a small one in Kendal, a Cumbrian
    market town (area "urban": town driving speeds): three women on staggered five-day
    split shifts, so at least two of them work every morning and evening, and a man on
    weekday mornings; all have personal care and medication.

Geography
    Urban: homes uniform in a disc of ``client_radius_km`` = 2.5 km around 51.546, -0.106
    (Highbury Corner, Islington). Drivers live up to 4.5 km out (carers seldom afford to
    live where they work in inner London); walkers within 1.2 km of the centre, since at
    4.5 km/h nobody walks across the borough between visits. Rural: homes within 1.5 km
    of real town and village centres in south-west Shropshire (``SHROPSHIRE``,
    coordinates approximate), 3-38 km apart, with fixed numbers of clients and workers
    per place (more in the market towns); the agency is based in Church Stretton with a
    25 km service radius, and carers live locally and all drive.

Workforce (``URBAN_WORKFORCE`` 15, ``RURAL_WORKFORCE`` 10)
    - About four in five women (Skills for Care: the domiciliary care workforce is
      overwhelmingly female): 12 women and 3 men in the city, 8 and 2 in the country.
      Two city walkers (travel mode foot), everyone else drives.
    - Contracts (``SHIFTS``): full-time split shifts 07:00-14:00 and 16:30-22:00 five
      days a week (37.5 h, at most 9 h worked a day); part-time mornings 07:00-13:00 on
      five or four days (30 h or 24 h); a short split 07:00-11:00 and 17:00-21:00 on five
      days (28 h). The caps (``max_minutes_per_day``/``_per_week``) are the contract
      and never exceed the hours on shift. City: 6 full-timers (the 3 men among them),
      6 part-time mornings (the 2 walkers among them), 3 short splits. Country: 6
      full-timers (2 men), 3 part-time mornings, 1 short split: more full-timers there,
      so that the tea and bed runs, long drives between few visits, have enough people.
      Everyone works mornings, the biggest round of the day.
    - Rota (``_Rota``): each worker's days off are one block, placed where most people of
      the same kind work; men's days off never coincide, so two men work every day in
      the city.
    - Skills: everyone has personal care, meal preparation, domestic and companionship.
      Full-timers, the experienced core and all the men, always have medication,
      dementia and hoist (moving-and-handling sign-off); part-timers medication 80 %,
      dementia 50 %, hoist 50 %; specialist skills are rarer (catheter 30 %, diabetes
      25 %, end of life 20 %, stoma 15 %). So hoist workers of both genders exist.

Clients (60 urban, 35 rural, one package each)
    - Two thirds women (older people receiving home care are mostly women). A woman asks
      for female carers with probability 0.45, a man for male carers with 0.15 and for
      female ones with 0.08; after the feasibility redraws below this leaves about a
      third of clients with a preference, mostly "female". One preference in six is
      recorded as "prefers" (``gender_preference_strict`` false, a weighted penalty).
    - Dementia (30 %) adds the "dementia" skill to every visit; medication support (70 %)
      adds "medication" and a prompt to the morning call; a catheter (4 %) adds
      "catheter" to the morning call.
    - Package kinds, fixed quotas per sample (``URBAN_QUOTA``, ``RURAL_QUOTA``) so the
      weekly volume hardly moves between seeds (urban about 370-400 visits a week):
      a 15 min medication prompt daily at breakfast, lunch or tea; morning personal care
      (30/45 min) daily or, where family covers the weekend, on weekdays; morning and
      bed calls; four calls a day (morning, lunch, tea, bed); a 45/60 min shower call
      on 2-3 days; a 30 min weekday meal call at lunch or tea; ISF-style mixes like
      Mary's (60 min on three days, 30 min on the other four, a 15 min evening prompt);
      and double-ups, one package in ten (6 urban, 3 rural): a 45 min hoist transfer
      each morning with two carers and, for half of them, a 30 min two-carer bed call
      (the others have family at night).
    - Visit lengths are 15/30/45/60 min, the units English councils commission.
    - Preferred windows are 30 min wide. Starts are dealt per slot (``SLOTS``) with these
      weights: mornings 07:00-10:30 heaviest 07:30-08:30 (people want to be up, washed
      and medicated early), late morning 10:00-11:30, lunch 12:00-13:00, tea 16:30-18:00,
      bed 19:00-21:00 (so a bed call ends inside the evening shifts). ``hard_window`` is
      never set: the default tolerance is the window +/- ``Weights.max_shift_min``.

Money
    Urban rate 2,300-2,600 p/h (seeded), a 2026 London council framework rate; rural
    2,250-2,450 p/h, shire rates being lower but travel premiums narrowing the gap.
    A package's budget is its weekly carer minutes x rate x 52 / 60 rounded up to the
    penny, plus 0-10 % headroom (seeded), period "year"; headroom 0 is exactly at cap.

Structural feasibility (``visit_candidates``)
    Each package is drawn again (same kind; new times, days, needs and preference) until
    every visit has at least 2 qualified, gender-compatible workers who could start it
    inside its *preferred* window on its day, travel from and back home included (3 for
    two-carer visits). No visit is impossible by construction; whether all fit together
    is the scheduler's job.

Capacity (``capacity_report``)
    Per day and band (07:00-10:00 is the peak) and over the week: demanded carer minutes
    (visits placed at their window start) plus an estimate of travel, against minutes on
    shift (bands) or weekly caps (week). Travel per carer-visit is the leg to the m-th
    nearest other home visited in the same range that day, m being carer-visits per worker
    on shift (a round is a cluster of about m homes), in the on-shift mode mix, plus the
    legs from and to home. The quotas and workforces above were tuned with it to about
    60-70 % at the urban peak with travel, and a lower share of pure visit minutes in the
    country, where driving takes the rest.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from matcher.jsonfmt import pretty_json
from matcher.schema import (
    Agency,
    AreaType,
    Budget,
    CarePackage,
    Client,
    Gender,
    GenderPreference,
    Location,
    Problem,
    ServiceArea,
    TimeRange,
    TravelMode,
    Visit,
    VisitPattern,
    Worker,
    expand_visits,
)
from matcher.timeutil import WEEKDAYS, Weekday, parse_hhmm
from matcher.travel import TravelModel, travel_model_for

T = TypeVar("T")

URBAN_SEED = 7
RURAL_SEED = 11

KM_PER_DEGREE_LAT = 111.32
WINDOW_MIN = 30
MIN_CANDIDATES = {1: 2, 2: 3}
MAX_DRAWS = 200

# ------------------------------------------------------------------ parameters of the mix

# Preferred-window start times per slot of the day, with relative weights.
SLOTS: dict[str, tuple[tuple[str, int], ...]] = {
    "morning": (
        ("07:00", 3),
        ("07:30", 4),
        ("08:00", 4),
        ("08:30", 3),
        ("09:00", 3),
        ("09:30", 2),
        ("10:00", 2),
        ("10:30", 1),
    ),
    "late_morning": (("10:00", 1), ("10:30", 2), ("11:00", 2), ("11:30", 1)),
    # A stand-alone medication prompt goes with the medicine's times: breakfast, lunch, tea.
    "prompt": (
        ("07:30", 1),
        ("08:00", 2),
        ("08:30", 1),
        ("12:00", 2),
        ("12:30", 1),
        ("17:00", 2),
        ("17:30", 1),
    ),
    "lunch": (("12:00", 2), ("12:30", 3), ("13:00", 1)),
    # A meal call is lunch or tea, whichever the person finds hardest to manage.
    "meal": (("12:00", 2), ("12:30", 2), ("13:00", 1), ("16:30", 1), ("17:00", 2), ("17:30", 1)),
    "tea": (("16:30", 2), ("17:00", 3), ("17:30", 2), ("18:00", 1)),
    "bed": (("19:00", 2), ("19:30", 3), ("20:00", 3), ("20:30", 2), ("21:00", 1)),
}

DayRule = Literal["daily", "weekdays", "some", "three", "rest"]
WEEKDAY_SETS_OF_THREE: tuple[tuple[Weekday, ...], ...] = (
    (Weekday.MON, Weekday.WED, Weekday.FRI),
    (Weekday.TUE, Weekday.THU, Weekday.SAT),
    (Weekday.MON, Weekday.THU, Weekday.SAT),
    (Weekday.TUE, Weekday.FRI, Weekday.SUN),
)


@dataclass(frozen=True)
class LineSpec:
    """One line of a package kind: when, how long, how many carers, what it needs."""

    slot: str
    durations: tuple[int, ...]
    days: tuple[tuple[DayRule, int], ...] = (("daily", 1),)
    skills: tuple[str, ...] = ("personal_care",)
    tasks: tuple[str, ...] = ()
    carers: Literal[1, 2] = 1
    share: float = 1.0  # of the packages of this kind that have this line
    morning_call: bool = False  # carries the client's medication and catheter needs


@dataclass(frozen=True)
class PackageKind:
    name: str
    lines: tuple[LineSpec, ...]


_MORNING_CARE = LineSpec(
    "morning",
    (30, 30, 45),
    skills=("personal_care",),
    tasks=("wash and dress", "breakfast"),
    morning_call=True,
)
_BED = LineSpec("bed", (30,), tasks=("undress", "settle to bed"))

KINDS: dict[str, PackageKind] = {
    "medication": PackageKind(
        "medication",
        (
            LineSpec(
                "prompt",
                (15,),
                skills=("medication",),
                tasks=("medication prompt", "check eating and drinking"),
            ),
        ),
    ),
    # Daily, or weekdays only where family covers the weekend.
    "morning": PackageKind(
        "morning", (replace(_MORNING_CARE, days=(("daily", 3), ("weekdays", 1))),)
    ),
    "twice_daily": PackageKind("twice_daily", (_MORNING_CARE, _BED)),
    "four_calls": PackageKind(
        "four_calls",
        (
            LineSpec("morning", (45,), tasks=("wash and dress", "breakfast"), morning_call=True),
            LineSpec("lunch", (30,), skills=("personal_care",), tasks=("lunch", "continence")),
            LineSpec("tea", (30,), skills=("personal_care",), tasks=("tea", "continence")),
            _BED,
        ),
    ),
    "shower": PackageKind(
        "shower",
        (
            LineSpec(
                "late_morning",
                (45, 60),
                days=(("some", 1),),
                skills=("personal_care",),
                tasks=("shower", "domestic"),
            ),
        ),
    ),
    "meal": PackageKind(
        "meal",
        (
            LineSpec(
                "meal",
                (30,),
                days=(("weekdays", 1),),
                skills=("meal_preparation",),
                tasks=("prepare a meal", "companionship"),
            ),
        ),
    ),
    "isf_mix": PackageKind(
        "isf_mix",
        (
            LineSpec(
                "morning",
                (60,),
                days=(("three", 1),),
                tasks=("shower", "breakfast"),
                morning_call=True,
            ),
            LineSpec(
                "morning",
                (30,),
                days=(("rest", 1),),
                tasks=("wash and dress", "breakfast"),
                morning_call=True,
            ),
            LineSpec(
                "bed",
                (15,),
                skills=("medication",),
                tasks=("medication prompt", "check eating and drinking"),
            ),
        ),
    ),
    "double_up": PackageKind(
        "double_up",
        (
            LineSpec(
                "morning",
                (45,),
                skills=("personal_care", "hoist"),
                tasks=("hoist transfer", "wash and dress"),
                carers=2,
            ),
            LineSpec(
                "bed",
                (30,),
                skills=("personal_care", "hoist"),
                tasks=("hoist transfer", "settle to bed"),
                carers=2,
                share=0.5,
            ),
        ),
    ),
}

# Package kinds per sample (count of clients of each kind); one in ten is a double-up.
URBAN_QUOTA: tuple[tuple[str, int], ...] = (
    ("medication", 10),
    ("morning", 7),
    ("twice_daily", 3),
    ("four_calls", 1),
    ("shower", 20),
    ("meal", 11),
    ("isf_mix", 2),
    ("double_up", 6),
)
RURAL_QUOTA: tuple[tuple[str, int], ...] = (
    ("medication", 7),
    ("morning", 2),
    ("twice_daily", 1),
    ("four_calls", 1),
    ("shower", 12),
    ("meal", 8),
    ("isf_mix", 1),
    ("double_up", 3),
)


@dataclass(frozen=True)
class ShiftPattern:
    """A contract: shifts on each working day, days a week and the caps that go with it."""

    shifts: tuple[tuple[str, str], ...]
    days: int
    max_day: int
    max_week: int


SHIFTS: dict[str, ShiftPattern] = {
    # 7 h + 5.5 h on shift, at most 9 h worked a day, 37.5 h a week.
    "full_split": ShiftPattern((("07:00", "14:00"), ("16:30", "22:00")), 5, 540, 2250),
    # Part-time mornings, 30 h or 24 h a week.
    "morning_5": ShiftPattern((("07:00", "13:00"),), 5, 360, 1800),
    "morning_4": ShiftPattern((("07:00", "13:00"),), 4, 360, 1440),
    # Short split, 8 h on shift a day, 28 h a week.
    "short_split": ShiftPattern((("07:00", "11:00"), ("17:00", "21:00")), 5, 480, 1680),
}

FULL_TIME_SKILLS: tuple[str, ...] = ("medication", "dementia", "hoist")
PART_TIME_SKILL_P: tuple[tuple[str, float], ...] = (
    ("medication", 0.8),
    ("dementia", 0.5),
    ("hoist", 0.5),
)
SPECIALIST_SKILL_P: tuple[tuple[str, float], ...] = (
    ("catheter", 0.3),
    ("diabetes", 0.25),
    ("end_of_life", 0.2),
    ("stoma", 0.15),
)
BASE_SKILLS: tuple[str, ...] = ("personal_care", "meal_preparation", "domestic", "companionship")


@dataclass(frozen=True)
class Place:
    """A town or village centre; clients and workers live within a radius of it."""

    name: str
    lat: float
    lon: float
    clients: int = 0
    workers: int = 0


ISLINGTON = Place("Islington", 51.546, -0.106)
SHROPSHIRE: tuple[Place, ...] = (
    Place("Church Stretton", 52.5386, -2.8040, clients=6, workers=2),
    Place("Craven Arms", 52.4405, -2.8362, clients=5, workers=2),
    Place("Wistanstow", 52.4635, -2.8390, clients=1),
    Place("Ludlow", 52.3676, -2.7186, clients=6, workers=2),
    Place("Bishop's Castle", 52.4915, -2.9990, clients=4, workers=1),
    Place("Lydbury North", 52.4680, -2.9560, clients=1),
    Place("Clun", 52.4215, -3.0305, clients=3, workers=1),
    Place("Much Wenlock", 52.5967, -2.5575, clients=4, workers=1),
    Place("Pontesbury", 52.6480, -2.8910, clients=3, workers=1),
    Place("Minsterley", 52.6380, -2.9250, clients=2),
)
KENDAL = Place("Kendal", 54.3280, -2.7463)

# Workforce rows: (shift pattern, gender, travel mode, how many).
WorkforceRow = tuple[str, Gender, TravelMode, int]
URBAN_WORKFORCE: tuple[WorkforceRow, ...] = (
    ("full_split", Gender.MALE, TravelMode.CAR, 3),
    ("full_split", Gender.FEMALE, TravelMode.CAR, 3),
    ("morning_5", Gender.FEMALE, TravelMode.CAR, 3),
    ("morning_4", Gender.FEMALE, TravelMode.CAR, 1),
    ("morning_5", Gender.FEMALE, TravelMode.FOOT, 2),
    ("short_split", Gender.FEMALE, TravelMode.CAR, 3),
)
RURAL_WORKFORCE: tuple[WorkforceRow, ...] = (
    ("full_split", Gender.MALE, TravelMode.CAR, 2),
    ("full_split", Gender.FEMALE, TravelMode.CAR, 4),
    ("morning_5", Gender.FEMALE, TravelMode.CAR, 2),
    ("morning_4", Gender.FEMALE, TravelMode.CAR, 1),
    ("short_split", Gender.FEMALE, TravelMode.CAR, 1),
)

# Client mix.
P_CLIENT_FEMALE = 2 / 3
P_WOMAN_WANTS_FEMALE = 0.45
P_MAN_WANTS_MALE = 0.15
P_MAN_WANTS_FEMALE = 0.08
P_PREFERENCE_NOT_STRICT = 1 / 6
P_DEMENTIA = 0.3
P_MEDICATION = 0.7
P_CATHETER = 0.04
MAX_HEADROOM_PCT = 10

FEMALE_CLIENT_NAMES = (
    "Joan", "Margaret", "Dorothy", "Irene", "Betty", "Doreen", "Patricia", "Jean", "Sheila",
    "Eileen", "Brenda", "Maureen", "Iris", "Edna", "Vera", "Audrey", "Barbara", "Valerie",
    "Sylvia", "June", "Pamela", "Beryl", "Gladys", "Hilda", "Marjorie", "Winifred", "Phyllis",
    "Rita", "Shirley", "Elsie",
)  # fmt: skip
MALE_CLIENT_NAMES = (
    "Arthur", "Harold", "Ronald", "Kenneth", "Stanley", "Frank", "Albert", "Dennis", "Derek",
    "Roy", "Norman", "Bernard", "Leonard", "Gordon", "Raymond", "Cyril", "Walter", "Eric",
)  # fmt: skip
URBAN_CARER_NAMES = {
    Gender.FEMALE: (
        "Amara", "Grace", "Fatima", "Chloe", "Precious", "Maria", "Ioana", "Priya", "Blessing",
        "Sarah", "Gemma", "Joy", "Agnieszka", "Nadia", "Comfort", "Leticia",
    ),
    Gender.MALE: ("Kwame", "Daniel", "Tomasz", "Ahmed", "Samuel", "Emeka"),
}  # fmt: skip
RURAL_CARER_NAMES = {
    Gender.FEMALE: (
        "Sarah", "Emma", "Karen", "Lisa", "Julie", "Claire", "Helen", "Becky", "Donna",
        "Kirsty", "Nicola", "Wendy",
    ),
    Gender.MALE: ("Mark", "Gareth", "Lee", "Owen"),
}  # fmt: skip
INITIALS = "ABCDEFGHJKLMNOPRSTVW"


@dataclass(frozen=True)
class AreaMix:
    """Everything that differs between the urban and the rural sample."""

    key: str
    problem_id: str
    area_type: AreaType
    agency_id: str
    agency_name: str
    base: Place
    service_radius_km: float
    rate_pence: tuple[int, int]
    client_places: tuple[Place, ...]
    client_radius_km: float
    workforce: tuple[WorkforceRow, ...]
    worker_places: tuple[Place, ...]
    car_radius_km: float
    foot_radius_km: float
    quota: tuple[tuple[str, int], ...]
    carer_names: dict[Gender, tuple[str, ...]]


URBAN = AreaMix(
    key="isl",
    problem_id="urban-islington",
    area_type=AreaType.URBAN,
    agency_id="isl-agency",
    agency_name="Islington sample home care",
    base=ISLINGTON,
    service_radius_km=3.0,
    rate_pence=(2300, 2600),
    client_places=(Place("Islington", ISLINGTON.lat, ISLINGTON.lon, clients=60),),
    client_radius_km=2.5,
    workforce=URBAN_WORKFORCE,
    worker_places=(Place("Islington", ISLINGTON.lat, ISLINGTON.lon, workers=15),),
    car_radius_km=4.5,
    foot_radius_km=1.2,
    quota=URBAN_QUOTA,
    carer_names=URBAN_CARER_NAMES,
)
RURAL = AreaMix(
    key="shr",
    problem_id="rural-shropshire",
    area_type=AreaType.RURAL,
    agency_id="shr-agency",
    agency_name="South Shropshire sample home care",
    base=SHROPSHIRE[0],
    service_radius_km=25.0,
    rate_pence=(2250, 2450),
    client_places=SHROPSHIRE,
    client_radius_km=1.5,
    workforce=RURAL_WORKFORCE,
    worker_places=SHROPSHIRE,
    car_radius_km=1.5,
    foot_radius_km=1.5,
    quota=RURAL_QUOTA,
    carer_names=RURAL_CARER_NAMES,
)

# ------------------------------------------------------------------------- Mary


def mary_problem() -> Problem:
    """DOMAIN.md's Mary with a small Kendal agency that can clearly serve her."""
    morning = ("personal_care", "medication")
    package = CarePackage(
        id="mary",
        client=Client(
            id="mary-client",
            name="Mary",
            location=Location(lat=54.3236, lon=-2.7512),
            gender_preference=GenderPreference.FEMALE,
        ),
        visits=[
            VisitPattern(
                id="mary-shower",
                weekdays=[Weekday.MON, Weekday.WED, Weekday.FRI],
                window=TimeRange(start="08:00", end="08:30"),
                duration_min=60,
                skills=list(morning),
                tasks=["shower", "breakfast", "medication prompt"],
            ),
            VisitPattern(
                id="mary-morning",
                weekdays=[Weekday.TUE, Weekday.THU, Weekday.SAT],
                window=TimeRange(start="08:00", end="08:30"),
                duration_min=30,
                skills=list(morning),
                tasks=["wash and dress", "breakfast", "medication prompt"],
            ),
            VisitPattern(
                id="mary-sunday",
                weekdays=[Weekday.SUN],
                window=TimeRange(start="08:30", end="09:00"),
                duration_min=30,
                skills=list(morning),
                tasks=["wash and dress", "medication prompt", "get ready for church"],
            ),
            VisitPattern(
                id="mary-evening",
                weekdays=list(WEEKDAYS),
                window=TimeRange(start="19:00", end="19:30"),
                duration_min=15,
                skills=["medication"],
                tasks=["medication prompt", "check eating and drinking"],
            ),
        ],
        budget=Budget(amount_pence=438_750, period="year"),
    )
    split = (("07:00", "13:00"), ("17:00", "21:00"))
    d = Weekday
    staff = (
        ("ken-w1", "Susan T.", Gender.FEMALE, (d.MON, d.TUE, d.WED, d.THU, d.FRI), split),
        ("ken-w2", "Linda H.", Gender.FEMALE, (d.MON, d.THU, d.FRI, d.SAT, d.SUN), split),
        ("ken-w3", "Janet R.", Gender.FEMALE, (d.MON, d.TUE, d.WED, d.SAT, d.SUN), split),
        ("ken-w4", "Paul B.", Gender.MALE, (d.MON, d.TUE, d.WED, d.THU, d.FRI), split[:1]),
    )
    homes = ((54.3312, -2.7391), (54.3195, -2.7442), (54.3347, -2.7560), (54.3254, -2.7325))
    workers = []
    for (wid, name, gender, days, shifts), (lat, lon) in zip(staff, homes, strict=True):
        per_day = sum(parse_hhmm(b) - parse_hhmm(a) for a, b in shifts)
        max_day = min(per_day, 480)
        workers.append(
            Worker(
                id=wid,
                name=name,
                gender=gender,
                skills=["personal_care", "medication", "dementia", "meal_preparation", "domestic"],
                home=Location(lat=lat, lon=lon),
                availability={day: [TimeRange(start=a, end=b) for a, b in shifts] for day in days},
                max_minutes_per_day=max_day,
                max_minutes_per_week=min(len(days) * max_day, 37 * 60 + 30),
            )
        )
    return Problem(
        id="mary",
        area_type=AreaType.URBAN,
        agency=Agency(
            id="ken-agency",
            name="Kendal sample home care",
            hourly_rate_pence=1250,
            service_area=ServiceArea(
                centre=Location(lat=KENDAL.lat, lon=KENDAL.lon), radius_km=5.0
            ),
        ),
        workers=workers,
        packages=[package],
    )


# --------------------------------------------------------------- generated samples


def urban_problem(seed: int = URBAN_SEED) -> Problem:
    """An inner-London agency: 15 workers, 60 clients, about 400 visits a week."""
    return _generate(URBAN, seed)


def rural_problem(seed: int = RURAL_SEED) -> Problem:
    """A south-west Shropshire agency: 10 workers, 35 clients in ten villages and towns."""
    return _generate(RURAL, seed)


def _generate(mix: AreaMix, seed: int) -> Problem:
    rng = random.Random(seed)
    rate = rng.randrange(mix.rate_pence[0], mix.rate_pence[1] + 1, 10)
    workers = _workers(mix, rng)
    kinds = [kind for kind, count in mix.quota for _ in range(count)]
    homes = [place for place in mix.client_places for _ in range(place.clients)]
    if len(kinds) != len(homes):
        raise ValueError(f"{mix.key}: {len(kinds)} package kinds for {len(homes)} homes")
    rng.shuffle(kinds)
    names = _names(rng, len(kinds))
    spread = _Spread(rng)
    packages = []
    for i, (kind, place, (name, female)) in enumerate(zip(kinds, homes, names, strict=True), 1):
        location = _scatter(rng, place, mix.client_radius_km)
        client_id = f"{mix.key}-c{i:02d}"
        reach = _reach(workers, client_id, location, mix.area_type)
        packages.append(
            _package(spread, mix, rate, i, KINDS[kind], name, female, location, workers, reach)
        )
    return Problem(
        id=mix.problem_id,
        area_type=mix.area_type,
        agency=Agency(
            id=mix.agency_id,
            name=mix.agency_name,
            hourly_rate_pence=rate,
            service_area=ServiceArea(
                centre=Location(lat=mix.base.lat, lon=mix.base.lon),
                radius_km=mix.service_radius_km,
            ),
        ),
        workers=workers,
        packages=packages,
    )


def _workers(mix: AreaMix, rng: random.Random) -> list[Worker]:
    workers: list[Worker] = []
    homes = [place for place in mix.worker_places for _ in range(place.workers)]
    if len(homes) != sum(row[3] for row in mix.workforce):
        raise ValueError(f"{mix.key}: {len(homes)} worker homes for the workforce")
    rng.shuffle(homes)
    names = {g: list(pool) for g, pool in mix.carer_names.items()}
    for pool in names.values():
        rng.shuffle(pool)
    rota = _Rota()
    for shift_name, gender, mode, count in mix.workforce:
        pattern = SHIFTS[shift_name]
        for _ in range(count):
            days = rota.days(pattern, gender)
            place = homes[len(workers)]
            radius = mix.foot_radius_km if mode is TravelMode.FOOT else mix.car_radius_km
            skills = set(BASE_SKILLS)
            if shift_name == "full_split":
                skills.update(FULL_TIME_SKILLS)
            else:
                skills.update(s for s, p in PART_TIME_SKILL_P if rng.random() < p)
            skills.update(s for s, p in SPECIALIST_SKILL_P if rng.random() < p)
            index = len(workers) + 1
            workers.append(
                Worker(
                    id=f"{mix.key}-w{index:02d}",
                    name=f"{names[gender].pop()} {rng.choice(INITIALS)}.",
                    gender=gender,
                    skills=sorted(skills),
                    home=_scatter(rng, place, radius),
                    travel_mode=mode,
                    availability={
                        day: [TimeRange(start=a, end=b) for a, b in pattern.shifts] for day in days
                    },
                    max_minutes_per_day=pattern.max_day,
                    max_minutes_per_week=pattern.max_week,
                )
            )
    return workers


class _Rota:
    """Days on for each new worker, so that cover is as even as possible over the week.

    Each worker gets their days off in one consecutive block, placed where the most
    people of the same kind already work: same gender, then same shift part (morning or
    evening), then everyone. So men's days off never coincide while there are few of them.
    """

    def __init__(self) -> None:
        self._on: dict[object, list[int]] = {}

    def days(self, pattern: ShiftPattern, gender: Gender) -> list[Weekday]:
        parts = [("part", parse_hhmm(a) < 12 * 60) for a, _ in pattern.shifts]
        keys: list[object] = [("gender", gender), *parts, "all"]
        counts = [self._on.setdefault(key, [0] * 7) for key in keys]
        block = 7 - pattern.days

        def crowd(offset: int) -> tuple[int, ...]:
            return tuple(sum(c[(offset + k) % 7] for k in range(block)) for c in counts)

        offset = max(range(7), key=crowd)
        off = {(offset + k) % 7 for k in range(block)}
        on = [i for i in range(7) if i not in off]
        for c in counts:
            for i in on:
                c[i] += 1
        return [WEEKDAYS[i] for i in on]


def _names(rng: random.Random, count: int) -> list[tuple[str, bool]]:
    """Distinct "First I." client names, each with whether the client is a woman."""
    seen: set[str] = set()
    names: list[tuple[str, bool]] = []
    while len(names) < count:
        female = rng.random() < P_CLIENT_FEMALE
        first = rng.choice(FEMALE_CLIENT_NAMES if female else MALE_CLIENT_NAMES)
        name = f"{first} {rng.choice(INITIALS)}."
        if name not in seen:
            seen.add(name)
            names.append((name, female))
    return names


def _scatter(rng: random.Random, place: Place, radius_km: float) -> Location:
    """A point uniform in a disc around the place, rounded to about a metre."""
    r = radius_km * math.sqrt(rng.random())
    angle = rng.uniform(0.0, 2.0 * math.pi)
    dlat = r * math.sin(angle) / KM_PER_DEGREE_LAT
    dlon = r * math.cos(angle) / (KM_PER_DEGREE_LAT * math.cos(math.radians(place.lat)))
    return Location(lat=round(place.lat + dlat, 5), lon=round(place.lon + dlon, 5))


def _reach(
    workers: Sequence[Worker], client_id: str, location: Location, area: AreaType
) -> dict[str, int]:
    """Travel minutes from each worker's home to the client's, in the worker's mode."""
    places = {w.id: w.home for w in workers}
    places[client_id] = location
    model = TravelModel(places, area=area)
    return {w.id: model.minutes(w.travel_mode, w.id, client_id) for w in workers}


def _package(
    spread: _Spread,
    mix: AreaMix,
    rate: int,
    index: int,
    kind: PackageKind,
    name: str,
    female: bool,
    location: Location,
    workers: Sequence[Worker],
    reach: dict[str, int],
) -> CarePackage:
    """Draw the package until every visit has enough candidate workers (see module doc)."""
    package_id = f"{mix.key}-p{index:02d}"
    client_id = f"{mix.key}-c{index:02d}"
    rng = spread.rng
    for _ in range(MAX_DRAWS):
        preference, strict = _preference(rng, female)
        needs: list[str] = []
        if rng.random() < P_DEMENTIA:
            needs.append("dementia")
        morning_needs = [
            skill
            for skill, p in (("medication", P_MEDICATION), ("catheter", P_CATHETER))
            if rng.random() < p
        ]
        lines = _lines(spread, package_id, kind, needs, morning_needs)
        minutes = sum(v.duration_min * v.carers * len(v.weekdays) for v in lines)
        headroom = rng.randint(0, MAX_HEADROOM_PCT)
        budget = _ceil_div(minutes * rate * 52 * (100 + headroom), 60 * 100)
        package = CarePackage(
            id=package_id,
            client=Client(
                id=client_id,
                name=name,
                location=location,
                gender_preference=preference,
                gender_preference_strict=strict,
            ),
            visits=lines,
            budget=Budget(amount_pence=budget, period="year"),
        )
        if all(
            len(_candidates(visit, package.client, workers, reach)) >= MIN_CANDIDATES[visit.carers]
            for visit in expand_visits(package)
        ):
            return package
    raise RuntimeError(f"{package_id}: no draw of {kind.name} has enough candidate workers")


def _preference(rng: random.Random, female: bool) -> tuple[GenderPreference, bool]:
    draw = rng.random()
    if female:
        preference = GenderPreference.FEMALE if draw < P_WOMAN_WANTS_FEMALE else None
    elif draw < P_MAN_WANTS_MALE:
        preference = GenderPreference.MALE
    elif draw < P_MAN_WANTS_MALE + P_MAN_WANTS_FEMALE:
        preference = GenderPreference.FEMALE
    else:
        preference = None
    if preference is None:
        return GenderPreference.NONE, True
    return preference, rng.random() >= P_PREFERENCE_NOT_STRICT


def _lines(
    spread: _Spread,
    package_id: str,
    kind: PackageKind,
    needs: list[str],
    morning_needs: list[str],
) -> list[VisitPattern]:
    rng = spread.rng
    lines: list[VisitPattern] = []
    previous_days: list[Weekday] = []
    previous_window: TimeRange | None = None
    for number, spec in enumerate(kind.lines):
        if spec.share < 1 and not spread.include(f"{kind.name}-{number}", spec.share):
            continue
        rule = _weighted(rng, spec.days)
        days = spread.days(rule, previous_days)
        if rule == "rest" and previous_window is not None:
            window = previous_window
        else:
            start = spread.start(spec.slot)
            window = TimeRange.of_minutes(start, start + WINDOW_MIN)
        extra = morning_needs if spec.morning_call else []
        skills = list(spec.skills) + needs + extra
        tasks = list(spec.tasks) + (["medication prompt"] if "medication" in extra else [])
        lines.append(
            VisitPattern(
                id=f"{package_id}-v{len(lines) + 1}",
                weekdays=days,
                window=window,
                duration_min=rng.choice(spec.durations),
                carers=spec.carers,
                skills=sorted(set(skills)),
                tasks=tasks,
            )
        )
        previous_days, previous_window = days, window
    return lines


class _Spread:
    """Seeded draws kept close to their intended proportions over a whole sample.

    Window starts are dealt from a shuffled deck per slot holding each start as many
    times as its weight, so a sample gets the intended morning profile rather than a
    lucky or unlucky one; optional lines are dealt the same way from decks of ten; a
    line on only some days goes to the days used least so far.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._decks: dict[str, list[int]] = {}
        self._optional: dict[str, list[bool]] = {}
        self._day_use = [0] * 7

    def include(self, line: str, share: float) -> bool:
        deck = self._optional.setdefault(line, [])
        if not deck:
            deck.extend(i < round(10 * share) for i in range(10))
            self.rng.shuffle(deck)
        return deck.pop()

    def start(self, slot: str) -> int:
        deck = self._decks.setdefault(slot, [])
        if not deck:
            deck.extend(parse_hhmm(start) for start, weight in SLOTS[slot] for _ in range(weight))
            self.rng.shuffle(deck)
        return deck.pop()

    def days(self, rule: DayRule, previous: list[Weekday]) -> list[Weekday]:
        if rule == "daily":
            return list(WEEKDAYS)
        if rule == "weekdays":
            return list(WEEKDAYS[:5])
        if rule == "three":
            return list(self.rng.choice(WEEKDAY_SETS_OF_THREE))
        if rule == "rest":
            return [day for day in WEEKDAYS if day not in previous]
        count = self.rng.choice((2, 3))
        chosen = sorted(range(7), key=lambda i: (self._day_use[i], self.rng.random()))[:count]
        for i in chosen:
            self._day_use[i] += 1
        return [WEEKDAYS[i] for i in sorted(chosen)]


def _weighted(rng: random.Random, options: Iterable[tuple[T, int]]) -> T:
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights=weights)[0]


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


# ------------------------------------------------------------------------ checks


def _candidates(
    visit: Visit, client: Client, workers: Iterable[Worker], reach: dict[str, int]
) -> list[str]:
    """Workers who could do the visit alone: skills, strict gender, shift and travel.

    A worker qualifies when one of their shifts that day lets them leave home at the
    shift start, start the visit inside its preferred window, and be home by the shift
    end. Other visits and the daily caps are ignored: this is about structure, not load.
    """
    needed = set(visit.skills)
    strict = client.gender_preference_strict and client.gender_preference != GenderPreference.NONE
    found = []
    for worker in workers:
        if not needed <= set(worker.skills) or worker.id in client.excluded_workers:
            continue
        if strict and worker.gender.value != client.gender_preference.value:
            continue
        leg = reach[worker.id]
        for shift in worker.availability.get(visit.weekday, []):
            earliest = max(visit.window.start_min, shift.start_min + leg)
            latest = min(visit.window.end_min, shift.end_min - visit.duration_min - leg)
            if earliest <= latest:
                found.append(worker.id)
                break
    return found


def visit_candidates(problem: Problem) -> dict[str, int]:
    """Visit id -> number of workers who could do it (see `_candidates`)."""
    travel = travel_model_for(problem)
    counts: dict[str, int] = {}
    for package in problem.packages:
        client = package.client
        reach = {w.id: travel.minutes(w.travel_mode, w.id, client.id) for w in problem.workers}
        for visit in expand_visits(package):
            counts[visit.id] = len(_candidates(visit, client, problem.workers, reach))
    return counts


BANDS: tuple[tuple[str, str], ...] = (
    ("07:00", "10:00"),
    ("10:00", "14:00"),
    ("14:00", "19:00"),
    ("19:00", "22:00"),
)
PEAK = "07:00-10:00"


def capacity_report(problem: Problem) -> dict[str, Any]:
    """Demand against supply per day and band, and over the week; see the module doc.

    Percentages are demand over the minutes workers are on shift (in a band), or over
    their weekly caps (week): ``visit_pct`` counts carer minutes of visits only,
    ``with_travel_pct`` adds the travel estimate.
    """
    travel = travel_model_for(problem)
    visits = [v for p in problem.packages for v in expand_visits(p)]
    home = {p.id: travel.index[p.client.id] for p in problem.packages}
    bands: dict[str, dict[str, dict[str, float]]] = {}
    for band_start, band_end in BANDS:
        lo, hi = parse_hhmm(band_start), parse_hhmm(band_end)
        bands[f"{band_start}-{band_end}"] = {
            day.value: _load(problem, travel, home, visits, day, lo, hi) for day in WEEKDAYS
        }
    days = [_load(problem, travel, home, visits, day, 0, 24 * 60) for day in WEEKDAYS]
    peak = bands[PEAK].values()
    week_demand = sum(v.duration_min * v.carers for v in visits)
    week_travel = round(sum(day["est_travel_min"] for day in days))
    week_supply = sum(
        min(w.max_minutes_per_week, sum(_on_shift(w, day, 0, 24 * 60) for day in WEEKDAYS))
        for w in problem.workers
    )
    counts = visit_candidates(problem)
    carers = {v.id: v.carers for v in visits}
    return {
        "problem": problem.id,
        "workers": len(problem.workers),
        "clients": len(problem.packages),
        "visits": len(visits),
        "two_carer_visits": sum(1 for v in visits if v.carers == 2),
        "carer_minutes": week_demand,
        "peak": {
            "band": PEAK,
            "max_visit_pct": max(d["visit_pct"] for d in peak),
            "max_with_travel_pct": max(d["with_travel_pct"] for d in peak),
            "mean_with_travel_pct": round(sum(d["with_travel_pct"] for d in peak) / 7, 1),
        },
        "busiest_band_with_travel_pct": max(
            d["with_travel_pct"] for band in bands.values() for d in band.values()
        ),
        "week": {
            "demand_min": week_demand,
            "est_travel_min": week_travel,
            "capacity_min": week_supply,
            "visit_pct": _pct(week_demand, week_supply),
            "with_travel_pct": _pct(week_demand + week_travel, week_supply),
        },
        "candidates": {
            "min_one_carer": min((n for v, n in counts.items() if carers[v] == 1), default=None),
            "min_two_carer": min((n for v, n in counts.items() if carers[v] == 2), default=None),
            "short": sorted(v for v, n in counts.items() if n < MIN_CANDIDATES[carers[v]]),
        },
        "bands": bands,
    }


def _load(
    problem: Problem,
    travel: TravelModel,
    home: dict[str, int],
    visits: Sequence[Visit],
    day: Weekday,
    lo: int,
    hi: int,
) -> dict[str, float]:
    """Demand, estimated travel and supply between minutes lo and hi of one day.

    Visits count from their window start, for the minutes inside [lo, hi). Each carer-visit
    adds the leg to the m-th nearest other home visited in the range (m = carer-visits
    per worker on shift), in the on-shift workers' mode mix; each shift overlapping the
    range adds its home legs (one leg for a band, there and back for a whole day).
    """
    whole_day = hi - lo >= 24 * 60
    on_shift = [w for w in problem.workers if _on_shift(w, day, lo, hi) > 0]
    supply = sum(_on_shift(w, day, lo, hi) for w in on_shift)
    inside = [
        (v, _overlap(v.window.start_min, v.window.start_min + v.duration_min, lo, hi))
        for v in visits
        if v.weekday == day
    ]
    inside = [(v, o) for v, o in inside if o > 0]
    demand = sum(o * v.carers for v, o in inside)
    carer_visits = sum(v.carers for v, _ in inside)
    estimate = 0.0
    if inside and on_shift:
        homes = sorted({home[v.package_id] for v, _ in inside})
        m = max(1, round(carer_visits / len(on_shift)))
        modes = [w.travel_mode for w in on_shift]
        for mode in sorted(set(modes)):
            share = modes.count(mode) / len(modes)
            matrix = travel.matrix(mode)
            for v, o in inside:
                here = home[v.package_id]
                others = sorted(matrix[here][h] for h in homes if h != here)
                leg = others[min(m, len(others)) - 1] if others else 0
                estimate += share * leg * v.carers * o / v.duration_min
        for w in on_shift:
            nearest = min(travel.matrix(w.travel_mode)[travel.index[w.id]][h] for h in homes)
            legs = 2 * len(w.availability.get(day, [])) if whole_day else 1
            estimate += legs * nearest
    return {
        "carer_visits": carer_visits,
        "workers_on_shift": len(on_shift),
        "demand_min": demand,
        "est_travel_min": round(estimate),
        "supply_min": supply,
        "visit_pct": _pct(demand, supply),
        "with_travel_pct": _pct(demand + estimate, supply),
    }


def _on_shift(worker: Worker, day: Weekday, lo: int, hi: int) -> int:
    return sum(_overlap(s.start_min, s.end_min, lo, hi) for s in worker.availability.get(day, []))


def _overlap(a: int, b: int, lo: int, hi: int) -> int:
    return max(0, min(b, hi) - max(a, lo))


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


# ------------------------------------------------------------------------ output


SAMPLES = {"mary": mary_problem, "urban": urban_problem, "rural": rural_problem}


JSON_WIDTH = 100


def to_json(problem: Problem) -> str:
    """The problem as readable JSON, as the sample files hold it.

    Defaults are left out (except the id and area type, which a reader wants to see) and
    any object or list that fits on one line is written on one line.
    """
    data = problem.model_dump(mode="json", exclude_defaults=True)
    data = {"id": problem.id, "area_type": problem.area_type.value, **data}
    return pretty_json(data, width=JSON_WIDTH) + "\n"


def write_samples(out_dir: Path) -> list[Path]:
    """Write mary.json, urban.json and rural.json (default seeds) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in SAMPLES.items():
        text = to_json(make())
        Problem.model_validate_json(text)
        path = out_dir / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def _summary(report: dict[str, Any]) -> str:
    peak, week, cand = report["peak"], report["week"], report["candidates"]
    return (
        f"{report['problem']}: {report['workers']} workers, {report['clients']} clients, "
        f"{report['visits']} visits ({report['two_carer_visits']} two-carer); "
        f"peak {peak['band']} max {peak['max_visit_pct']}% visits, "
        f"max {peak['max_with_travel_pct']}% / mean {peak['mean_with_travel_pct']}% with "
        f"travel; busiest band {report['busiest_band_with_travel_pct']}% with travel; "
        f"week {week['visit_pct']}% visits, {week['with_travel_pct']}% with travel; "
        f"candidates >= {cand['min_one_carer']} (one carer), {cand['min_two_carer']} (two)"
    )


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/samples")
    for written in write_samples(target):
        problem = Problem.model_validate_json(written.read_text(encoding="utf-8"))
        print(f"{written}: {_summary(capacity_report(problem))}")
