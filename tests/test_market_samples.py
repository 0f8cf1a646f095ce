"""The committed market samples are what the seeded generator makes, valid, and as
full as the issue asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.market import Market
from matcher.market_samples import PACKAGES, fill_pct, market_json, rural_market, urban_market
from matcher.matching import roster_violations

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_rural_market_file_matches_generator() -> None:
    """market_rural.json is exactly the seeded generator's output."""
    assert market_json(rural_market()) == (SAMPLES / "market_rural.json").read_text()


@pytest.mark.slow
def test_urban_market_file_matches_generator() -> None:
    """market_urban.json is exactly the seeded generator's output (slow: 8 agencies)."""
    assert market_json(urban_market()) == (SAMPLES / "market_urban.json").read_text()


def test_package_files_match_generator() -> None:
    """data/samples/packages/*.json are the generator's packages."""
    for name, make in PACKAGES.items():
        assert market_json(make()) == (SAMPLES / "packages" / f"{name}.json").read_text()


def test_urban_market_shape_fill_and_rosters_valid() -> None:
    """>= 8 agencies of 25-40 workers, 70-90 % full, every roster passes the checker."""
    market = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    assert len(market.agencies) >= 8
    for entry in market.agencies:
        assert 25 <= len(entry.workers) <= 40
        assert 70 <= fill_pct(entry) <= 90
        assert roster_violations(market, entry.id) == []


def test_rural_rosters_valid() -> None:
    """3-4 rural agencies; each committed roster passes the checker."""
    market = Market.model_validate_json((SAMPLES / "market_rural.json").read_text())
    assert 3 <= len(market.agencies) <= 4
    assert all(roster_violations(market, e.id) == [] for e in market.agencies)
