"""A roster's assignments as solver placements (visit index, week-minute start, shifts).

Used wherever a roster that already exists enters the solver: a warm start for
`solve`, the pinned roster of `insert_packages`, agency slots and matching.
"""

from __future__ import annotations

from collections.abc import Iterable

from matcher.construct import Placement
from matcher.instance import Instance
from matcher.schema import Assignment
from matcher.timeutil import MINUTES_PER_DAY, format_hhmm, parse_hhmm, split_week_minute

__all__ = ["RosterMismatch", "assignment_of", "placements_of"]


class RosterMismatch(ValueError):
    """The existing roster does not fit the problem (unknown visit, worker off shift)."""


def placements_of(inst: Instance, assignments: Iterable[Assignment]) -> list[Placement]:
    """Existing assignments as placements on the shifts that contain them."""
    visit_index = {v.visit.id: v.index for v in inst.visits}
    worker_index = {w.id: i for i, w in enumerate(inst.workers)}
    placements = []
    for a in assignments:
        if a.visit_id not in visit_index:
            raise RosterMismatch(f"roster: unknown visit {a.visit_id!r}")
        info = inst.visits[visit_index[a.visit_id]]
        start = info.day * MINUTES_PER_DAY + parse_hhmm(a.start)
        shifts = []
        for worker_id in a.workers:
            if worker_id not in worker_index:
                raise RosterMismatch(f"roster: unknown worker {worker_id!r} on {a.visit_id}")
            w = worker_index[worker_id]
            shift = next(
                (
                    s
                    for s in inst.shifts_of_worker[w]
                    if inst.shifts[s].start <= start and start + info.duration <= inst.shifts[s].end
                ),
                None,
            )
            if shift is None:
                raise RosterMismatch(f"roster: {a.visit_id} is outside {worker_id}'s shifts")
            shifts.append(shift)
        placements.append(Placement(info.index, start, tuple(shifts)))
    return placements


def assignment_of(inst: Instance, placement: Placement) -> Assignment:
    """The inverse of `placements_of` for one visit: weekday, "HH:MM" and worker ids."""
    info = inst.visits[placement.visit]
    day, minute = split_week_minute(placement.start)
    return Assignment(
        visit_id=info.visit.id,
        package_id=info.visit.package_id,
        client_id=info.visit.client_id,
        weekday=day,
        start=format_hhmm(minute),
        end=format_hhmm(minute + info.duration),
        workers=sorted(inst.workers[inst.shifts[s].worker].id for s in placement.shifts),
    )
