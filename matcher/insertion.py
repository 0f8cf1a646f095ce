"""Where a visit could still fit in a roster without moving anyone.

A `RosterState` holds every shift's route (visits in start order) with the working
minutes used per worker per day and week and the carer minutes used per package. Its
`options` answer the central question of insertion: for a visit and a shift, between
which two stops could it go, in which range of start times, at what added travel.

Three users share it, so the rules of a feasible day live in one place on the solver
side of the fence: the construction heuristic that hints CP-SAT, the reason finder
that explains why a visit stayed unassigned, and agency slot queries. The checker
re-derives the same rules independently from `docs/model.md`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from matcher.instance import Instance, VisitInfo


@dataclass(frozen=True)
class Stop:
    visit: int
    start: int
    end: int
    place: int


def _start_of(stop: Stop) -> int:
    return stop.start


@dataclass(frozen=True)
class InsertionOption:
    """The visit may start anywhere in [earliest, latest] at `position` of `shift`."""

    shift: int
    worker: int
    position: int
    earliest: int
    latest: int
    added_travel: int

    def best_start(self, visit: VisitInfo) -> int:
        """The start in range that is closest to the preferred window (earliest first)."""
        if self.latest < visit.preferred_start:
            return self.latest
        return max(self.earliest, visit.preferred_start)


@dataclass
class RosterState:
    instance: Instance
    routes: list[list[Stop]] = field(init=False)
    day_minutes: list[list[int]] = field(init=False)
    week_minutes: list[int] = field(init=False)
    package_minutes: list[int] = field(init=False)
    workers_of_client: list[set[int]] = field(init=False)
    # `latest_starts` per shift, dropped whenever a method here changes the route: a
    # route changed from outside must go through `set_route`.
    _latest: dict[int, list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        inst = self.instance
        self.routes = [[] for _ in inst.shifts]
        self.day_minutes = [[0] * 7 for _ in inst.workers]
        self.week_minutes = [0] * len(inst.workers)
        self.package_minutes = [0] * len(inst.packages)
        self.workers_of_client = [set() for _ in inst.packages]
        self._latest = {}

    def onto(self, instance: Instance) -> RosterState:
        """A copy of this state for `instance`, which is this state's instance with
        packages added at the end (`instance.extend_instance`: the same shifts, the
        same indices): the same routes, minutes and carers per client, and nothing of
        the new packages placed. Changing the copy leaves this state as it was, so
        broker matching keeps an agency's committed roster as one state and starts
        each request from a copy instead of loading the roster again."""
        grown = RosterState(instance)
        grown.routes = [list(route) for route in self.routes]  # the stops are frozen
        grown.day_minutes = [list(days) for days in self.day_minutes]
        grown.week_minutes = list(self.week_minutes)
        grown.package_minutes[: len(self.package_minutes)] = self.package_minutes
        for client, workers in enumerate(self.workers_of_client):
            grown.workers_of_client[client] = set(workers)
        grown._latest = dict(self._latest)  # never modified in place (`latest_starts`)
        return grown

    # ----------------------------------------------------------------- queries

    def options(
        self,
        visit: VisitInfo,
        shift_index: int,
        *,
        limits: bool = True,
        push: bool = False,
        travel: bool = True,
    ) -> Iterator[InsertionOption]:
        """Every gap of the shift's route the visit fits in, with its start range.

        With `limits=False` the worker's daily and weekly maximum minutes are ignored,
        which tells the reason finder whether hours or the timetable are what block.
        With `push=True` the visits after the gap may start later, as far as their own
        hard ranges and the rest of the route allow (the construction heuristic's
        freedom); by default nobody moves (what slots and the reason finder need).
        With `travel=False` the legs between the visit and the visits before and after
        it take no time (home legs still do): the reason finder's "would travel be what
        blocks it" question.
        """
        inst = self.instance
        shift = inst.shifts[shift_index]
        if shift.day != visit.day:
            return
        worker = shift.worker
        matrix = inst.travel(worker)
        home = inst.worker_place[worker]
        route = self.routes[shift_index]
        n = len(route)
        profile = inst.workers[worker]
        day_room = profile.max_minutes_per_day - self.day_minutes[worker][shift.day]
        week_room = profile.max_minutes_per_week - self.week_minutes[worker]
        from_visit = matrix[visit.place]
        latest_starts = self.latest_starts(shift_index) if push else None
        # Travel is never negative, so a gap whose next stop must start before the
        # visit could end cannot take it: start at the first gap where it could.
        ends_by = visit.earliest + visit.duration
        if latest_starts is not None:
            first = bisect_left(latest_starts, ends_by)
        else:
            first = bisect_left(route, ends_by, key=_start_of)
        for position in range(first, n + 1):
            if position > 0:
                before = route[position - 1]
                prev_place, ready = before.place, before.end
                if ready > visit.latest:
                    return  # every later gap opens later still
            else:
                prev_place, ready = home, shift.start
            if position == n:
                next_place, must_leave = home, shift.end
            else:
                next_place = route[position].place
                must_leave = (
                    latest_starts[position] if latest_starts is not None else route[position].start
                )
            there = matrix[prev_place][visit.place] if travel or position == 0 else 0
            back = from_visit[next_place] if travel or position == n else 0
            earliest = ready + there
            if earliest < visit.earliest:
                earliest = visit.earliest
            latest = must_leave - visit.duration - back
            if latest > visit.latest:
                latest = visit.latest
            if earliest > latest:
                continue
            added = there + back - (matrix[prev_place][next_place] if n else 0)
            if limits:
                extra = visit.duration + added
                if extra > day_room or extra > week_room:
                    continue
            yield InsertionOption(shift_index, worker, position, earliest, latest, added)

    def movable(self, stop: Stop) -> bool:
        """Whether pushing may move a stop: never one tied to another worker's start."""
        info = self.instance.visits[stop.visit]
        return info.carers == 1 and stop.visit not in self.instance.partner

    def latest_starts(self, shift_index: int) -> list[int]:
        """The latest start each stop could be pushed to with the rest still on time
        (kept until the route changes: do not modify the list)."""
        cached = self._latest.get(shift_index)
        if cached is not None:
            return cached
        inst = self.instance
        visits, partner = inst.visits, inst.partner
        shift = inst.shifts[shift_index]
        matrix = inst.travel(shift.worker)
        route = self.routes[shift_index]
        latest = [0] * len(route)
        next_place, next_latest = inst.worker_place[shift.worker], shift.end
        for i in range(len(route) - 1, -1, -1):
            stop = route[i]
            info = visits[stop.visit]
            limit = next_latest - matrix[stop.place][next_place] - info.duration
            movable = info.carers == 1 and stop.visit not in partner  # as `movable`
            own = info.latest if movable else stop.start
            latest[i] = max(stop.start, min(own, limit))
            next_place, next_latest = stop.place, latest[i]
        self._latest[shift_index] = latest
        return latest

    def push_delays(self, option: InsertionOption, visit: VisitInfo, start: int) -> list[int]:
        """How much each later stop of the route would move if the visit went in."""
        inst = self.instance
        matrix = inst.travel(option.worker)
        route = self.routes[option.shift]
        delays = []
        ready, place = start + visit.duration, visit.place
        for stop in route[option.position :]:
            arrive = ready + matrix[place][stop.place]
            if arrive <= stop.start:
                break
            delays.append(arrive - stop.start)
            ready, place = arrive + (stop.end - stop.start), stop.place
        return delays

    def fits_budget(self, visit: VisitInfo) -> bool:
        limit = self.instance.budget_carer_minutes[visit.package]
        used = self.package_minutes[visit.package]
        return limit is None or used + visit.duration * visit.carers <= limit

    def candidate_shifts(self, visit: VisitInfo) -> Iterable[int]:
        inst = self.instance
        for worker in inst.eligibility[visit.index]:
            for s in inst.shifts_of_worker[worker]:
                if inst.shifts[s].day == visit.day:
                    yield s

    # ----------------------------------------------------------------- changes

    def insert(self, visit: VisitInfo, option: InsertionOption, start: int) -> None:
        """Put the visit in; later stops move on by any push the start implies."""
        assert option.earliest <= start <= option.latest
        route = self.routes[option.shift]
        self._latest.pop(option.shift, None)
        for offset, delay in enumerate(self.push_delays(option, visit, start)):
            i = option.position + offset
            route[i] = Stop(
                route[i].visit, route[i].start + delay, route[i].end + delay, route[i].place
            )
        stop = Stop(visit.index, start, start + visit.duration, visit.place)
        route.insert(option.position, stop)
        worked = visit.duration + option.added_travel
        day = self.instance.shifts[option.shift].day
        self.day_minutes[option.worker][day] += worked
        self.week_minutes[option.worker] += worked
        self.workers_of_client[visit.client].add(option.worker)

    def charge_package(self, visit: VisitInfo) -> None:
        self.package_minutes[visit.package] += visit.duration * visit.carers

    def remove(self, visit: VisitInfo) -> tuple[int, ...]:
        """Take a placed visit out of every route it is on; return those shifts.

        The exact inverse of `insert` (per carer) and `charge_package`: the worker's day
        and week lose the visit's minutes and the travel it added, the package its
        carer minutes, and the client the worker unless they still see them on another
        visit. The other stops keep their starts (see `pull`). A linked partner stays
        where it is: removing both is the caller's business.
        """
        inst = self.instance
        removed = []
        for s in self.candidate_shifts(visit):
            route = self.routes[s]
            position = next((i for i, stop in enumerate(route) if stop.visit == visit.index), None)
            if position is None:
                continue
            shift = inst.shifts[s]
            matrix = inst.travel(shift.worker)
            home = inst.worker_place[shift.worker]
            del route[position]
            self._latest.pop(s, None)
            prev_place = route[position - 1].place if position > 0 else home
            next_place = route[position].place if position < len(route) else home
            worked = (
                visit.duration
                + matrix[prev_place][visit.place]
                + matrix[visit.place][next_place]
                - (matrix[prev_place][next_place] if route else 0)
            )
            self.day_minutes[shift.worker][shift.day] -= worked
            self.week_minutes[shift.worker] -= worked
            if not any(
                inst.visits[stop.visit].client == visit.client
                for other in inst.shifts_of_worker[shift.worker]
                for stop in self.routes[other]
            ):
                self.workers_of_client[visit.client].discard(shift.worker)
            removed.append(s)
        if removed:
            self.package_minutes[visit.package] -= visit.duration * visit.carers
        return tuple(removed)

    def pull(self, shift_index: int) -> bool:
        """Start the route's stops as early as travel allows, but not before their
        preferred windows (nor their hard earliest starts), if that is earlier than now.

        Only stops that pushing may move (`movable`) move; the others, tied to another
        worker's start, stay and hold up those after them. Minutes worked do not change
        (travel and durations stay), only lateness goes down. Returns whether any moved.
        """
        inst = self.instance
        shift = inst.shifts[shift_index]
        matrix = inst.travel(shift.worker)
        route = self.routes[shift_index]
        place, ready, moved = inst.worker_place[shift.worker], shift.start, False
        self._latest.pop(shift_index, None)
        for i, stop in enumerate(route):
            if self.movable(stop):
                info = inst.visits[stop.visit]
                start = max(ready + matrix[place][stop.place], info.earliest, info.preferred_start)
                if start < stop.start:
                    stop = Stop(stop.visit, start, start + info.duration, stop.place)
                    route[i] = stop
                    moved = True
            place, ready = stop.place, stop.end
        return moved

    def set_route(self, shift_index: int, stops: list[Stop]) -> None:
        """Put a route back as it was (a search undoing a move). Only the route: the
        minutes and clients it implies are the caller's to put back too."""
        self.routes[shift_index] = stops
        self._latest.pop(shift_index, None)

    def load_route(self, shift_index: int, stops: list[tuple[int, int]]) -> None:
        """Replace an (empty) shift's route with visits at given starts, in order."""
        inst = self.instance
        shift = inst.shifts[shift_index]
        matrix = inst.travel(shift.worker)
        place = inst.worker_place[shift.worker]
        ordered = sorted(stops, key=lambda s: s[1])
        self._latest.pop(shift_index, None)
        travel = 0
        for v, start in ordered:
            info = inst.visits[v]
            self.routes[shift_index].append(Stop(v, start, start + info.duration, info.place))
            travel += matrix[place][info.place]
            place = info.place
            self.day_minutes[shift.worker][shift.day] += info.duration
            self.week_minutes[shift.worker] += info.duration
            self.workers_of_client[info.client].add(shift.worker)
        if ordered:
            travel += matrix[place][inst.worker_place[shift.worker]]
        self.day_minutes[shift.worker][shift.day] += travel
        self.week_minutes[shift.worker] += travel
