"""The time a solve has left, counted so that deterministic mode stays deterministic.

`solve` splits its limit between stages by shares of the time left. Counted in wall
time, those shares (and so ruin and recreate's iterations and CP-SAT's limits) depend
on how fast the machine ran the stages before, which makes the roster depend on the
machine. In deterministic mode a `Clock` instead counts each stage at the nominal
seconds it was given (`charge`), whatever it really took: the same input and seed give
the same shares, hence the same roster, on any machine, and the wall time may then be
longer or shorter than the limit.

A caller's deadline (`matcher.control.RunControl.deadline`) is wall time whatever the
mode: `left` is never more than the wall seconds to it, so every share shrinks when
the deadline comes before the limit would end. A deterministic run then depends on
the machine, but only when the deadline binds.
"""

from __future__ import annotations

import time

from matcher.control import NO_CONTROL, RunControl


class Clock:
    def __init__(
        self, limit_s: float, *, deterministic: bool, control: RunControl = NO_CONTROL
    ) -> None:
        self.limit_s = limit_s
        self.deterministic = deterministic
        self.control = control
        self.began = time.perf_counter()
        self._charged = 0.0

    def left(self) -> float:
        """Seconds left: wall time, or the limit less what was charged; never more than
        the wall seconds to the control's deadline."""
        if self.deterministic:
            nominal = self.limit_s - self._charged
        else:
            nominal = self.limit_s - (time.perf_counter() - self.began)
        return min(nominal, self.control.seconds_left())

    def charge(self, seconds: float) -> None:
        """Count a stage given `seconds` as having taken them (deterministic mode only;
        wall time counts itself)."""
        self._charged += seconds
