"""Figures that fault tests record as they run (benchmarks/service/faults.py).

With CAREMATCH_FAULT_FIGURES set to a file, `figure` appends one JSON line per call;
otherwise it does nothing, so the tests in `make test` only assert.
"""

from __future__ import annotations

import json
import os
from typing import Any


def figure(test: str, **values: Any) -> None:
    path = os.environ.get("CAREMATCH_FAULT_FIGURES")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"test": test, **values}) + "\n")


def scaled(name: str, default: float) -> float:
    """A fault's duration: the test's short default, or longer for the benchmark."""
    return float(os.environ.get(name, default))
