"""The input limits (`matcher.limits`, docs/limits.md) admit every real input: the
samples, the largest HHCRSP instances through the adapter, and (marked slow) the
regional benchmark markets and the 40-agency matching market. A limit tightened past
one of them fails here, not in a benchmark run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from matcher import limits
from matcher.hhcrsp.adapter import to_problem
from matcher.hhcrsp.format import load_instance
from matcher.living.change import ChangeRequest
from matcher.living.dated import DatedWeek
from matcher.living.ledger import Ledger
from matcher.market import Market
from matcher.schema import CarePackage, Problem, Roster, expand_visits
from tests.helpers import HHCRSP_DATA

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


def week_visits(packages: list[CarePackage]) -> int:
    return sum(len(expand_visits(p)) for p in packages)


# What each sample is, told by a key only that kind has: the models the CLI loads it as.
SAMPLE_KINDS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("agencies", Market),
    ("agency", Problem),
    ("client", CarePackage),
    ("assignments", Roster),
    ("changes", ChangeRequest),
    ("entries", Ledger),
    ("week", DatedWeek),
)


@pytest.mark.parametrize("path", sorted(SAMPLES.rglob("*.json")), ids=lambda p: p.name)
def test_every_sample_is_admitted(path: Path) -> None:
    """Each sample file validates as what it is (problem, market, package, or the
    living roster's roster, change, ledger and dated week); a sample of no known kind
    fails, so that a new one is checked too."""
    data = json.loads(path.read_text())
    model = next((model for key, model in SAMPLE_KINDS if key in data), None)
    assert model is not None, f"{path.name}: no known kind of input"
    model.model_validate(data)


def test_largest_hhcrsp_instances_are_admitted() -> None:
    """The 400-patient Kummer instances (520 visits, 80 caregivers, a 480-place travel
    matrix: the largest problems measured) pass, and stay well inside the limits."""
    files = sorted((HHCRSP_DATA / "kummer" / "instances").glob("HHCRSP_400_*.json"))
    assert files
    for path in files:
        problem = to_problem(load_instance(path), path.stem)
        assert week_visits(problem.packages) <= limits.MAX_PROBLEM_VISITS // 3
        assert len(problem.workers) <= limits.MAX_WORKERS // 5


@pytest.mark.slow
@pytest.mark.parametrize("region", ["urban", "rural"])
def test_largest_regional_markets_are_admitted(region: str) -> None:
    """The regional benchmark's large markets (20 agencies) validate as built."""
    from matcher.regions.generate import make_region

    market = make_region(region, "large").market
    Market.model_validate(market.model_dump(mode="json"))


@pytest.mark.slow
def test_forty_agency_market_is_admitted() -> None:
    """The matching benchmark's largest market (40 agencies, up to 994 visits at one)
    validates as built."""
    from matcher.market_samples import urban_market

    market = urban_market(40)
    Market.model_validate(market.model_dump(mode="json"))
    assert max(week_visits(a.packages) for a in market.agencies) <= limits.MAX_PROBLEM_VISITS
