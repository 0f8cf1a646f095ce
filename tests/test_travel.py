"""The travel model: vectorised geodesics equal geopy's, and minutes follow the formula."""

from __future__ import annotations

import math

from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.schema import AreaType, Location, TravelMode, TravelSettings
from matcher.travel import DEFAULT_DETOUR, DEFAULT_FIXED_MIN, DEFAULT_SPEED_KMH, TravelModel

# England and Wales, roughly, where the homes are.
latitudes = st.floats(min_value=50.0, max_value=55.8)
longitudes = st.floats(min_value=-5.5, max_value=1.7)
points = st.lists(st.tuples(latitudes, longitudes), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(points)
def test_matrix_distances_equal_geopy(coords: list[tuple[float, float]]) -> None:
    """Every pair's kilometres agree with geopy's geodesic to a micrometre."""
    places = {f"p{i}": Location(lat=lat, lon=lon) for i, (lat, lon) in enumerate(coords)}
    km = TravelModel(places).kilometres()
    for i, a in enumerate(coords):
        assert km[i][i] == 0.0
        for j, b in enumerate(coords):
            assert km[i][j] == km[j][i]
            assert abs(km[i][j] - geodesic(a, b).km) < 1e-9


def test_minutes_follow_the_documented_formula() -> None:
    """ceil(fixed + km * detour / speed * 60), per mode and area, 0 on the diagonal."""
    places = {
        "a": Location(lat=52.53, lon=-2.80),  # Church Stretton
        "b": Location(lat=52.45, lon=-2.83),  # Craven Arms
    }
    model = TravelModel(places, area=AreaType.RURAL)
    km = geodesic((52.53, -2.80), (52.45, -2.83)).km
    expected = math.ceil(
        DEFAULT_FIXED_MIN["car"]
        + km * DEFAULT_DETOUR["car_rural"] / DEFAULT_SPEED_KMH["car_rural"] * 60
    )
    assert model.minutes(TravelMode.CAR, "a", "b") == expected
    assert model.minutes(TravelMode.CAR, "a", "a") == 0


def test_settings_override_the_defaults() -> None:
    """A slower speed in the input gives longer legs."""
    places = {"a": Location(lat=51.54, lon=-0.10), "b": Location(lat=51.56, lon=-0.12)}
    default = TravelModel(places).minutes(TravelMode.CAR, "a", "b")
    slow = TravelModel(places, settings=TravelSettings(speed_kmh={"car_urban": 5.0}))
    assert slow.minutes(TravelMode.CAR, "a", "b") > default
