"""`benchmarks/hhcrsp/basin.py`, the probe behind docs/hhcrsp.md's account of
HHCRSP_50_10_32_1.2_R_C: it costs a roster as the evaluator does, and its compound ruin
puts every service back, once, landing where the docs say (481.000 for seed 3)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from matcher.hhcrsp import evaluate, load_instance, load_solution
from matcher.hhcrsp.adapter import route_orders
from tests.helpers import HHCRSP_DATA, load_script

HERE = Path(__file__).resolve().parents[1] / "benchmarks" / "hhcrsp"
ROSTER = HERE / "basins" / "sol-HHCRSP_50_10_32_1.2_R_C-seed1.json"
INSTANCE = HHCRSP_DATA / "kummer" / "instances" / "HHCRSP_50_10_32_1.2_R_C.json"


def _basin() -> ModuleType:
    return load_script(HERE / "basin.py", "hhcrsp_basin")


def test_the_probe_costs_the_464_roster_as_the_evaluator_does() -> None:
    basin, instance, solution = _basin(), load_instance(INSTANCE), load_solution(ROSTER)
    routes = route_orders(solution)
    assert evaluate(instance, solution).cost == pytest.approx(464.667, abs=1e-3)
    assert basin.cost(instance, routes) == pytest.approx(464.667, abs=1e-3)


def test_the_compound_ruin_puts_every_service_back_once() -> None:
    basin, instance, solution = _basin(), load_instance(INSTANCE), load_solution(ROSTER)
    routes = route_orders(solution)
    rebuilt = basin.compound_ruin(instance, routes, "c1", random.Random(3))
    assert Counter(k for keys in rebuilt.values() for k in keys) == Counter(
        k for keys in routes.values() for k in keys
    )
    assert rebuilt != routes
    assert basin.cost(instance, rebuilt) == pytest.approx(481.0, abs=1e-3)  # docs/hhcrsp.md
