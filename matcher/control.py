"""Deadline, cancel and progress for a run of the engine (`solve`, `match`).

A service runs solves and matches as jobs: a broker may give up on one (cancel), a
request has a time budget whatever the solver's own limit says (deadline), and a job
page wants to show the best objective so far (progress). `RunControl` carries the
three, read-only, from the caller down through every stage; the engine checks it
between stages, in every ruin-and-recreate iteration and, from a watcher thread,
while CP-SAT runs. Nothing about a run is kept in module state, so several runs may
go on at once in threads of one process.

- **cancel**: anything with `is_set() -> bool` (a `threading.Event`, or a
  `multiprocessing` event set from another process). Once set, the run raises
  `Cancelled` within about a second; processes it forked stop too.
- **deadline**: a `time.monotonic()` value. The run then returns what it has, a
  valid roster (or the offers computed so far), shortly after it, whatever
  `time_limit_s` says. The monotonic clock is system-wide on Linux, macOS and
  Windows, so a deadline can be handed to another process on the same machine.
- **progress**: called with the best objective so far (never increasing) when it
  improves, in the thread that called the engine, never from a forked child.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

__all__ = ["NO_CONTROL", "CancelFlag", "Cancelled", "ProgressReporter", "RunControl"]


class Cancelled(Exception):
    """The caller cancelled the run."""


class CancelFlag(Protocol):
    """What `RunControl.cancel` must offer (`threading.Event`, `multiprocessing.Event`)."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class RunControl:
    """How a caller steers a run: a deadline, a cancel flag, a progress callback.

    All optional; `RunControl()` changes nothing about a run.
    """

    deadline: float | None = None  # a time.monotonic() value
    cancel: CancelFlag | None = None
    progress: Callable[[float], None] | None = None

    def __post_init__(self) -> None:
        if self.deadline is not None and math.isnan(self.deadline):
            raise ValueError("deadline must be a time.monotonic() value, not nan")

    @classmethod
    def within(
        cls,
        seconds: float,
        *,
        cancel: CancelFlag | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> RunControl:
        """A control whose deadline is `seconds` from now."""
        return cls(deadline=time.monotonic() + seconds, cancel=cancel, progress=progress)

    def cancelled(self) -> bool:
        """Whether the caller has cancelled the run."""
        return self.cancel is not None and self.cancel.is_set()

    def seconds_left(self) -> float:
        """Wall seconds until the deadline (negative once past it); inf without one."""
        if self.deadline is None:
            return math.inf
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def should_stop(self) -> bool:
        """Whether a search should stop now: cancelled, or out of time."""
        return self.cancelled() or self.expired()

    def raise_if_cancelled(self) -> None:
        """Raise `Cancelled` if the caller has cancelled the run."""
        if self.cancelled():
            raise Cancelled("the run was cancelled")

    def earlier(self, seconds: float) -> RunControl:
        """The same control with its deadline `seconds` earlier: what the search stages
        get, so that the steps after them (repair, reasons, KPIs) still end in time."""
        if self.deadline is None or seconds <= 0:
            return self
        return replace(self, deadline=self.deadline - seconds)

    def limit(self, seconds: float) -> float:
        """`seconds`, cut to the time left before the deadline (never below 0)."""
        return max(0.0, min(seconds, self.seconds_left()))


NO_CONTROL = RunControl()


class ProgressReporter:
    """Passes a run's objective to `RunControl.progress` only when it improves.

    Within a stage an improving search may find several better rosters a
    millisecond apart; a service writes each report somewhere, so `improved` passes
    on at most one every `min_interval_s`, and `flush` (at the end of every stage)
    passes on the best one if it has not been yet. The values passed on never
    increase.
    """

    def __init__(self, control: RunControl, *, min_interval_s: float = 0.5) -> None:
        self._progress = control.progress
        self._min_interval_s = min_interval_s
        self._best = math.inf
        self._reported = math.inf
        self._last = -math.inf

    @property
    def best(self) -> float:
        """The best objective seen so far (inf before the first)."""
        return self._best

    def improved(self, objective: float) -> None:
        """A stage found a roster of this objective (reported if it is the best so far
        and the last report is old enough)."""
        if objective < self._best:
            self._best = objective
        if time.monotonic() - self._last >= self._min_interval_s:
            self.flush()

    def flush(self) -> None:
        """Report the best objective if it has not been reported yet."""
        if self._progress is None or self._best >= self._reported:
            return
        self._reported = self._best
        self._last = time.monotonic()
        self._progress(self._best)
