"""Travel minutes between homes.

By default a leg's minutes are estimated from the geodesic (WGS-84 ellipsoid, geopy)
distance between the two homes:

    minutes = ceil(fixed_min[mode] + km * detour[mode_area] / speed_kmh[mode_area] * 60)

and 0 between a place and itself. The defaults below are deliberately plain:

- detour factor: road distance over straight-line distance. UK studies of circuity put
  it around 1.2-1.4; towns are twistier per km than A-roads between villages.
- speed: door-to-door average while moving. Urban driving in an English borough
  averages 15-25 km/h at care-visit hours; rural B-roads 40-50 km/h; walking 4.5 km/h.
- fixed minutes per leg: parking and getting in and out of the car (none on foot).

Every figure is overridable through `Problem.travel` (keys "<mode>_<area>", e.g.
"car_rural"; `fixed_min` keyed by mode). When the input carries a `travel_matrix`
(for example from a road-routing engine) it wins for every mode.

A `TravelModel` computes each matrix at most once, so one is built per solve and
shared by everything in it. Broker matching builds a model per agency per package (the
agency's places plus one new home), so the distances must be cheap: the matrix is
computed in one vectorised call to pyproj's `Geod.inv`, which runs the same algorithm
as geopy's `geodesic` (Karney 2013, WGS-84) in C, about a hundred times faster than
pair by pair in Python (45,000 pairs in 25 ms); `tests/test_travel.py` holds the two
to a micrometre. geopy stays the reference and serves single distances elsewhere.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import numpy as np
from pyproj import Geod

from matcher.schema import AreaType, Location, Problem, TravelMatrix, TravelMode, TravelSettings

DEFAULT_SPEED_KMH: dict[str, float] = {
    "car_urban": 20.0,
    "car_rural": 45.0,
    "foot_urban": 4.5,
    "foot_rural": 4.5,
}
DEFAULT_DETOUR: dict[str, float] = {
    "car_urban": 1.35,
    "car_rural": 1.3,
    "foot_urban": 1.25,
    "foot_rural": 1.3,
}
DEFAULT_FIXED_MIN: dict[str, int] = {"car": 3, "foot": 0}

_WGS84 = Geod(ellps="WGS84")


class TravelModel:
    """Travel minutes between named places, by travel mode, computed once per mode."""

    def __init__(
        self,
        places: Mapping[str, Location],
        *,
        area: AreaType = AreaType.URBAN,
        settings: TravelSettings | None = None,
        matrix: TravelMatrix | None = None,
    ) -> None:
        self.ids: list[str] = list(places)
        self.index: dict[str, int] = {pid: i for i, pid in enumerate(self.ids)}
        self._places = [places[pid] for pid in self.ids]
        self._area = area
        settings = settings or TravelSettings()
        self._settings = settings
        self._speed = {**DEFAULT_SPEED_KMH, **(settings.speed_kmh or {})}
        self._detour = {**DEFAULT_DETOUR, **(settings.detour_factor or {})}
        self._fixed = {**DEFAULT_FIXED_MIN, **(settings.fixed_min or {})}
        self._given = _reindex(matrix, self.ids) if matrix is not None else None
        self._km: np.ndarray | None = None
        self._minutes: dict[TravelMode, list[list[int]]] = {}
        self._cost: dict[TravelMode, list[list[int]]] = {}

    def fits(self, problem: Problem) -> bool:
        """Whether this is the model `travel_model_for(problem)` builds: the same
        places in the same order at the same locations, the same area and settings,
        and no given matrix. A caller that has such a model (broker matching, per
        agency) may hand it to the checker instead of having it computed again."""
        places = _places_of(problem)
        return (
            self._given is None
            and problem.travel_matrix is None
            and self.ids == list(places)
            and self._places == list(places.values())
            and self._area == problem.area_type
            and self._settings == (problem.travel or TravelSettings())
        )

    def with_places(self, places: Mapping[str, Location]) -> TravelModel:
        """This model with more places after its own, reusing the distances it already
        computed: only the new places' rows are computed (broker matching adds one
        home to an agency's places per request). The same pairs go through the same
        call as in a model built from all the places at once, so every figure is
        identical (tests/test_warm.py). Raises ValueError for a place it already has,
        or when the model carries a given matrix (which cannot know a new place)."""
        if self._given is not None:
            raise ValueError("a given travel matrix cannot take new places")
        if clash := next((pid for pid in places if pid in self.index), None):
            raise ValueError(f"place {clash!r} is already in the travel model")
        grown = copy.copy(self)
        grown.ids = [*self.ids, *places]
        grown.index = {pid: i for i, pid in enumerate(grown.ids)}
        grown._places = [*self._places, *places.values()]
        grown._minutes, grown._cost = {}, {}
        points = [(p.lat, p.lon) for p in grown._places]
        grown._km = _grown_kilometres(self._kilometres(), points)
        return grown

    def matrix(self, mode: TravelMode) -> list[list[int]]:
        """Whole minutes between every pair of places, rows and columns in `ids` order.

        A fractional given minute is rounded up: nobody arrives before they could.
        """
        if self._given is not None:
            if not self._minutes:
                ceiled = [
                    [0 if i == j else math.ceil(m - 1e-9) for j, m in enumerate(row)]
                    for i, row in enumerate(self._given)
                ]
                self._minutes = dict.fromkeys(TravelMode, ceiled)
            return self._minutes[mode]
        if mode not in self._minutes:
            key = f"{mode.value}_{self._area.value}"
            per_km = self._detour[key] / self._speed[key] * 60.0
            fixed = self._fixed[mode.value]
            minutes = np.ceil(fixed + self._kilometres() * per_km - 1e-9).astype(int)
            np.fill_diagonal(minutes, 0)
            self._minutes[mode] = minutes.tolist()
        return self._minutes[mode]

    def cost_matrix(self, mode: TravelMode) -> list[list[int]]:
        """Travel in hundredths of a minute, for the objective (exact for given matrices)."""
        if mode not in self._cost:
            if self._given is not None:
                self._cost[mode] = [
                    [0 if i == j else round(m * 100) for j, m in enumerate(row)]
                    for i, row in enumerate(self._given)
                ]
            else:
                self._cost[mode] = [[m * 100 for m in row] for row in self.matrix(mode)]
        return self._cost[mode]

    def minutes(self, mode: TravelMode, origin: str, destination: str) -> int:
        return self.matrix(mode)[self.index[origin]][self.index[destination]]

    def kilometres(self) -> list[list[float]]:
        """Geodesic distances; symmetric, so each pair is computed once."""
        return self._kilometres().tolist()

    def _kilometres(self) -> np.ndarray:
        if self._km is None:
            self._km = _kilometres([(p.lat, p.lon) for p in self._places])
        return self._km


def _kilometres(points: list[tuple[float, float]]) -> np.ndarray:
    """Geodesic kilometres between every pair of (lat, lon) points; symmetric."""
    n = len(points)
    if n < 2:
        return np.zeros((n, n))
    lat, lon = np.array(points, dtype=float).T
    i, j = np.triu_indices(n, 1)
    _, _, metres = _WGS84.inv(lon[i], lat[i], lon[j], lat[j])
    km = np.zeros((n, n))
    km[i, j] = km[j, i] = metres / 1000.0
    return km


def _grown_kilometres(known: np.ndarray, points: list[tuple[float, float]]) -> np.ndarray:
    """`_kilometres(points)` when `known` already holds it for the first points: the
    pairs with a new point are computed as `_kilometres` computes them (the earlier
    point first), the rest copied."""
    n, total = len(known), len(points)
    km = np.zeros((total, total))
    km[:n, :n] = known
    lat, lon = np.array(points, dtype=float).reshape(total, 2).T
    i, j = np.triu_indices(total, 1)
    new = j >= n
    i, j = i[new], j[new]
    if len(i):
        _, _, metres = _WGS84.inv(lon[i], lat[i], lon[j], lat[j])
        km[i, j] = km[j, i] = metres / 1000.0
    return km


def _reindex(matrix: TravelMatrix, ids: Sequence[str]) -> list[list[float]]:
    position = {pid: i for i, pid in enumerate(matrix.ids)}
    rows = [position[pid] for pid in ids]
    return [[matrix.minutes[r][c] for c in rows] for r in rows]


def travel_model_for(problem: Problem) -> TravelModel:
    """The travel model of a problem: worker homes first, then client homes."""
    return TravelModel(
        _places_of(problem),
        area=problem.area_type,
        settings=problem.travel,
        matrix=problem.travel_matrix,
    )


def _places_of(problem: Problem) -> dict[str, Location]:
    places: dict[str, Location] = {w.id: w.home for w in problem.workers}
    places.update({p.client.id: p.client.location for p in problem.packages})
    return places
