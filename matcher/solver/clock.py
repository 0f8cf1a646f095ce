"""The time a solve has left, counted so that deterministic mode stays deterministic.

`solve` splits its limit between stages by shares of the time left. Counted in wall
time, those shares (and so ruin and recreate's iterations and CP-SAT's limits) depend
on how fast the machine ran the stages before, which makes the roster depend on the
machine. In deterministic mode a `Clock` instead counts each stage at the nominal
seconds it was given (`charge`), whatever it really took: the same input and seed give
the same shares, hence the same roster, on any machine, and the wall time may then be
longer or shorter than the limit.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self, limit_s: float, *, deterministic: bool) -> None:
        self.limit_s = limit_s
        self.deterministic = deterministic
        self.began = time.perf_counter()
        self._charged = 0.0

    def left(self) -> float:
        """Seconds left: wall time, or the limit less what was charged."""
        if self.deterministic:
            return self.limit_s - self._charged
        return self.limit_s - (time.perf_counter() - self.began)

    def charge(self, seconds: float) -> None:
        """Count a stage given `seconds` as having taken them (deterministic mode only;
        wall time counts itself)."""
        self._charged += seconds
