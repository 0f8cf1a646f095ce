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


# An `InsertionOption`'s fields in order, as a plain tuple: (shift, worker, position,
# earliest start, latest start, added travel).
OptionTuple = tuple[int, int, int, int, int, int]


@dataclass
class RosterState:
    instance: Instance
    routes: list[list[Stop]] = field(init=False)
    day_minutes: list[list[int]] = field(init=False)
    week_minutes: list[int] = field(init=False)
    package_minutes: list[int] = field(init=False)
    workers_of_client: list[set[int]] = field(init=False)
    # Each route's version is a number no other content of any route had
    # (`route_version`), renewed whenever a method here changes the route (`_changed`):
    # a route changed from outside must go through `set_route`. What is worked out
    # from a route is kept for its version: `latest_starts` and `early_minutes` by
    # version (the routes' current ones, and a few before), options per visit and
    # shift for the last version asked about; so a route that a rejected move put back
    # (`set_route` with its old version) answers again without working anything out.
    _latest: dict[int, list[int]] = field(init=False, repr=False, compare=False)
    _early: dict[int, list[int]] = field(init=False, repr=False, compare=False)
    _versions: list[int] = field(init=False, repr=False, compare=False)
    _next_version: int = field(init=False, repr=False, compare=False)
    _options: dict[tuple[int, int, bool, bool], tuple[int, VisitInfo, list[OptionTuple], int]] = (
        field(init=False, repr=False, compare=False)
    )
    # The same for `option_tuples`, per visit and push: the visit asked about and, in
    # the order of its `candidate_shifts`, (version, options, bound) or None; a list
    # read by position rather than a key made and looked up per shift.
    _options_by_visit: dict[
        tuple[int, bool], tuple[VisitInfo, list[tuple[int, list[OptionTuple], int] | None]]
    ] = field(init=False, repr=False, compare=False)
    # What never changes, looked up once (the search asks thousands of times a second):
    # per shift (travel matrix, home, day, start, end), filled as shifts are first
    # asked about; per visit and day the shifts that may host it (`candidate_shifts`).
    _shift_facts: list[tuple[list[list[int]], int, int, int, int] | None] = field(
        init=False, repr=False, compare=False
    )
    _candidates: dict[tuple[int, int], tuple[int, ...]] = field(
        init=False, repr=False, compare=False
    )
    _max_minutes: list[tuple[int, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        inst = self.instance
        self.routes = [[] for _ in inst.shifts]
        self.day_minutes = [[0] * 7 for _ in inst.workers]
        self.week_minutes = [0] * len(inst.workers)
        self.package_minutes = [0] * len(inst.packages)
        self.workers_of_client = [set() for _ in inst.packages]
        self._latest = {}
        self._early = {}
        self._versions = list(range(len(inst.shifts)))
        self._next_version = len(inst.shifts)
        self._options = {}
        self._options_by_visit = {}
        self._shift_facts = [None] * len(inst.shifts)
        self._candidates = {}
        self._max_minutes = [(w.max_minutes_per_day, w.max_minutes_per_week) for w in inst.workers]

    def shift_facts(self, shift_index: int) -> tuple[list[list[int]], int, int, int, int]:
        """The shift's worker's travel matrix, home place, day, start and end."""
        facts = self._shift_facts[shift_index]
        if facts is None:
            inst = self.instance
            shift = inst.shifts[shift_index]
            facts = (
                inst.travel(shift.worker),
                inst.worker_place[shift.worker],
                shift.day,
                shift.start,
                shift.end,
            )
            self._shift_facts[shift_index] = facts
        return facts

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
        # What was worked out per route version holds for the copy's routes, which keep
        # their versions (a fresh numbering would give a loaded route the number of
        # the empty one it replaced, and its stale latest starts). It is never
        # modified in place (`latest_starts`). The options and shift facts are the
        # instance's and are worked out again.
        grown._latest = dict(self._latest)
        grown._early = dict(self._early)
        grown._versions = list(self._versions)
        grown._next_version = self._next_version
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
        shift = self.instance.shifts[shift_index]
        if shift.day != visit.day:
            return
        found, most_added = self._shift_options(visit, shift_index, push, travel)
        if limits:
            room = self.minutes_left(shift.worker, shift.day) - visit.duration
            if most_added > room:
                found = [option for option in found if option[5] <= room]
        for option in found:
            yield InsertionOption(*option)

    def option_tuples(self, visit: VisitInfo, *, push: bool = False) -> list[OptionTuple]:
        """`options` over every candidate shift (hours kept), as plain tuples of an
        `InsertionOption`'s fields in order: the search's fast path, which looks at
        thousands of options a second and keeps a few.

        With push, a route's options are worked out right here, `_work_out_options`
        (push and travel) written out with what the visit alone decides looked up once
        rather than once per route: the same options in the same order, and the same
        bound on their added travel (tests/test_insertion.py compares with `options`)."""
        found: list[OptionTuple] = []
        versions = self._versions
        day_minutes, week_minutes, max_minutes = (
            self.day_minutes,
            self.week_minutes,
            self._max_minutes,
        )
        day, duration = visit.day, visit.duration
        shifts = self.candidate_shifts(visit)
        kept = self._options_by_visit.get((visit.index, push))
        if kept is None or kept[0] is not visit:
            kept = self._options_by_visit[visit.index, push] = (visit, [None] * len(shifts))
        entries = kept[1]
        place, visit_earliest, visit_latest = visit.place, visit.earliest, visit.latest
        ends_by = visit_earliest + duration
        routes, all_facts, kept_latest = self.routes, self._shift_facts, self._latest
        shift_list = self.instance.shifts
        for k, s in enumerate(shifts):
            entry = entries[k]
            version = versions[s]
            if entry is not None and entry[0] == version:
                options, most_added = entry[1], entry[2]
            elif not push:
                options, most_added = self._work_out_options(visit, s, push, True)
                entries[k] = (version, options, most_added)
            else:
                options, most_added = [], 0
                facts = all_facts[s]
                if facts is None:
                    facts = self.shift_facts(s)
                matrix, home, shift_day, shift_start, shift_end = facts
                must_leave = kept_latest.get(version)
                if must_leave is None:
                    must_leave = self.latest_starts(s)
                route = routes[s]
                first = bisect_left(must_leave, ends_by)
                if first > 0:
                    before = route[first - 1]
                    prev_place, ready = before.place, before.end
                else:
                    prev_place, ready = home, shift_start
                # (`_work_out_options` tries the first gap of all even when it opens
                # too late: it can take nothing then, but the shift's start is not
                # assumed to be before the first stop's end.)
                if shift_day == day and (first == 0 or ready <= visit_latest):
                    worker = shift_list[s].worker
                    from_visit = matrix[place]
                    n = len(route)
                    for position in range(first, n):
                        after = route[position]
                        next_place = after.place
                        to_prev = matrix[prev_place]
                        there, back = to_prev[place], from_visit[next_place]
                        earliest = ready + there
                        if earliest < visit_earliest:
                            earliest = visit_earliest
                        latest = must_leave[position] - duration - back
                        if latest > visit_latest:
                            latest = visit_latest
                        if earliest <= latest:
                            added = there + back - to_prev[next_place]
                            options.append((s, worker, position, earliest, latest, added))
                            if added > most_added:
                                most_added = added
                        prev_place, ready = next_place, after.end
                        if ready > visit_latest:
                            break  # every later gap opens later still
                    else:  # the gap after the last stop, back home by the end of the shift
                        to_prev = matrix[prev_place]
                        there = to_prev[place]
                        back = from_visit[home]
                        earliest = ready + there
                        if earliest < visit_earliest:
                            earliest = visit_earliest
                        latest = shift_end - duration - back
                        if latest > visit_latest:
                            latest = visit_latest
                        if earliest <= latest:
                            added = there + back - (to_prev[home] if n else 0)
                            options.append((s, worker, n, earliest, latest, added))
                            if added > most_added:
                                most_added = added
                entries[k] = (version, options, most_added)
            if not options:
                continue
            worker = options[0][1]
            limit_day, limit_week = max_minutes[worker]
            room = limit_day - day_minutes[worker][day]
            if limit_week - week_minutes[worker] < room:
                room = limit_week - week_minutes[worker]
            room -= duration  # `minutes_left`, written out
            if most_added <= room:
                found += options
            else:
                found += [option for option in options if option[5] <= room]
        return found

    def _shift_options(
        self, visit: VisitInfo, shift_index: int, push: bool, travel: bool
    ) -> tuple[list[OptionTuple], int]:
        """The shift's options for the visit, hours left out, and a bound no less than
        their largest added travel (kept for the route's version: do not modify the
        list)."""
        kept = self._options.get((visit.index, shift_index, push, travel))
        if kept is not None and kept[0] == self._versions[shift_index] and kept[1] is visit:
            return kept[2], kept[3]
        return self._keep_options(visit, shift_index, push, travel)

    def _keep_options(
        self, visit: VisitInfo, shift_index: int, push: bool, travel: bool
    ) -> tuple[list[OptionTuple], int]:
        found, most_added = self._work_out_options(visit, shift_index, push, travel)
        key = (visit.index, shift_index, push, travel)
        self._options[key] = (self._versions[shift_index], visit, found, most_added)
        return found, most_added

    def _work_out_options(
        self, visit: VisitInfo, shift_index: int, push: bool, travel: bool
    ) -> tuple[list[OptionTuple], int]:
        matrix, home, day, shift_start, shift_end = self.shift_facts(shift_index)
        if day != visit.day:
            return [], 0
        route = self.routes[shift_index]
        n = len(route)
        place, duration = visit.place, visit.duration
        visit_earliest, visit_latest = visit.earliest, visit.latest
        from_visit = matrix[place]
        # Travel is never negative, so a gap whose next stop must start before the
        # visit could end cannot take it: start at the first gap where it could.
        ends_by = visit_earliest + duration
        if push:
            must_leave = self._latest.get(self._versions[shift_index])  # `latest_starts`
            if must_leave is None:
                must_leave = self.latest_starts(shift_index)
            first = bisect_left(must_leave, ends_by)
        else:
            must_leave = []
            first = bisect_left(route, ends_by, key=_start_of)
        if first > 0:
            before = route[first - 1]
            prev_place, ready = before.place, before.end
            if ready > visit_latest:
                return [], 0  # every later gap opens later still
        else:
            prev_place, ready = home, shift_start
        worker = self.instance.shifts[shift_index].worker
        found = []
        most_added = 0
        for position in range(first, n):
            after = route[position]
            next_place = after.place
            to_prev = matrix[prev_place]
            if travel:
                there, back = to_prev[place], from_visit[next_place]
            else:
                there, back = (to_prev[place] if position == 0 else 0), 0
            earliest = ready + there
            if earliest < visit_earliest:
                earliest = visit_earliest
            latest = (must_leave[position] if push else after.start) - duration - back
            if latest > visit_latest:
                latest = visit_latest
            if earliest <= latest:
                added = there + back - to_prev[next_place]
                found.append((shift_index, worker, position, earliest, latest, added))
                if added > most_added:
                    most_added = added
            prev_place, ready = next_place, after.end
            if ready > visit_latest:
                return found, most_added  # every later gap opens later still
        # The gap after the last stop, back home by the end of the shift.
        to_prev = matrix[prev_place]
        there = to_prev[place] if travel or n == 0 else 0
        back = from_visit[home]
        earliest = ready + there
        if earliest < visit_earliest:
            earliest = visit_earliest
        latest = shift_end - duration - back
        if latest > visit_latest:
            latest = visit_latest
        if earliest <= latest:
            added = there + back - (to_prev[home] if n else 0)
            found.append((shift_index, worker, n, earliest, latest, added))
            if added > most_added:
                most_added = added
        return found, most_added

    def minutes_left(self, worker: int, day: int) -> int:
        """Minutes the worker may still work on the day: the least of the day's and the
        week's room under their maximums."""
        limits = self._max_minutes[worker]
        return min(limits[0] - self.day_minutes[worker][day], limits[1] - self.week_minutes[worker])

    def movable(self, stop: Stop) -> bool:
        """Whether pushing may move a stop: never one tied to another worker's start."""
        info = self.instance.visits[stop.visit]
        return info.carers == 1 and stop.visit not in self.instance.partner

    def latest_starts(self, shift_index: int) -> list[int]:
        """The latest start each stop could be pushed to with the rest still on time
        (kept until the route changes: do not modify the list)."""
        version = self._versions[shift_index]
        cached = self._latest.get(version)
        if cached is not None:
            return cached
        inst = self.instance
        visits, partner = inst.visits, inst.partner
        matrix, home, _, _, shift_end = self.shift_facts(shift_index)
        route = self.routes[shift_index]
        latest = [0] * len(route)
        next_place, next_latest = home, shift_end
        for i in range(len(route) - 1, -1, -1):
            stop = route[i]
            info = visits[stop.visit]
            limit = next_latest - matrix[stop.place][next_place] - info.duration
            movable = info.carers == 1 and stop.visit not in partner  # as `movable`
            own = info.latest if movable else stop.start
            if limit < own:
                own = limit
            next_latest = latest[i] = own if own > stop.start else stop.start
            next_place = stop.place
        self._latest[version] = latest
        return latest

    def early_minutes(self, shift_index: int) -> list[int]:
        """Per position of the route, the minutes by which the stops from there on
        start before their preferred windows, and 0 at the end: the most that pushing
        them can take off the minutes outside windows (kept until the route changes:
        do not modify the list)."""
        version = self._versions[shift_index]
        cached = self._early.get(version)
        if cached is not None:
            return cached
        visits = self.instance.visits
        route = self.routes[shift_index]
        early = [0] * (len(route) + 1)
        total = 0
        for i in range(len(route) - 1, -1, -1):
            stop = route[i]
            wanted = visits[stop.visit].preferred_start
            if stop.start < wanted:
                total += wanted - stop.start
            early[i] = total
        self._early[version] = early
        return early

    def early_after(self, options: Iterable[OptionTuple]) -> list[int]:
        """Per option, its shift's `early_minutes` at its position: the most that the
        push of an insertion there can take off the minutes outside windows."""
        versions, kept = self._versions, self._early
        found = []
        shift, early = -1, []
        for option in options:  # an option's shift is mostly the one before's
            if option[0] != shift:
                shift = option[0]
                early = kept.get(versions[shift])
                if early is None:
                    early = self.early_minutes(shift)
            found.append(early[option[2]])
        return found

    def _changed(self, shift_index: int, version: int | None = None) -> None:
        """The route is now `version` or, by default, a version never seen before (what
        was worked out for other versions is dropped now and then)."""
        if version is None:
            version = self._next_version
            self._next_version += 1
        self._versions[shift_index] = version
        if len(self._latest) + len(self._early) > 8 * len(self._versions) + 64:
            current = set(self._versions)  # keep what the routes as they stand use
            self._latest = {v: kept for v, kept in self._latest.items() if v in current}
            self._early = {v: kept for v, kept in self._early.items() if v in current}

    def route_version(self, shift_index: int) -> int:
        """A number for the route as it stands: it changes whenever the route does, and
        is never reused for other stops (give it back to `set_route` with them)."""
        return self._versions[shift_index]

    def push_delays(self, option: InsertionOption, visit: VisitInfo, start: int) -> list[int]:
        """How much each later stop of the route would move if the visit went in."""
        matrix = self.shift_facts(option.shift)[0]
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
        """The shifts of the visit's day of the workers who may do it (do not modify)."""
        key = (visit.index, visit.day)  # a visit may be asked about on another day
        found = self._candidates.get(key)
        if found is None:
            inst = self.instance
            found = tuple(
                s
                for worker in inst.eligibility[visit.index]
                for s in inst.shifts_of_worker[worker]
                if inst.shifts[s].day == visit.day
            )
            self._candidates[key] = found
        return found

    # ----------------------------------------------------------------- changes

    def insert(self, visit: VisitInfo, option: InsertionOption, start: int) -> None:
        """Put the visit in; later stops move on by any push the start implies."""
        assert option.earliest <= start <= option.latest
        route = self.routes[option.shift]
        self._changed(option.shift)
        matrix, _, day, _, _ = self.shift_facts(option.shift)
        ready, place = start + visit.duration, visit.place
        for i in range(option.position, len(route)):  # `push_delays`, applied as found
            stop = route[i]
            arrive = ready + matrix[place][stop.place]
            if arrive <= stop.start:
                break
            delay = arrive - stop.start
            stop = route[i] = Stop(stop.visit, arrive, stop.end + delay, stop.place)
            ready, place = stop.end, stop.place
        route.insert(option.position, Stop(visit.index, start, start + visit.duration, visit.place))
        worked = visit.duration + option.added_travel
        self.day_minutes[option.worker][day] += worked
        self.week_minutes[option.worker] += worked
        self.workers_of_client[visit.client].add(option.worker)

    def charge_package(self, visit: VisitInfo) -> None:
        self.package_minutes[visit.package] += visit.duration * visit.carers

    def remove(self, visit: VisitInfo, *, on: Iterable[int] | None = None) -> tuple[int, ...]:
        """Take a placed visit out of every route it is on; return those shifts. A
        caller that knows which shifts those are says so (`on`): only their routes are
        searched, not every route that could host the visit.

        The exact inverse of `insert` (per carer) and `charge_package`: the worker's day
        and week lose the visit's minutes and the travel it added, the package its
        carer minutes, and the client the worker unless they still see them on another
        visit. The other stops keep their starts (see `pull`). A linked partner stays
        where it is: removing both is the caller's business.
        """
        inst = self.instance
        removed = []
        for s in self.candidate_shifts(visit) if on is None else on:
            route = self.routes[s]
            for position in range(len(route)):
                if route[position].visit == visit.index:
                    break
            else:
                continue
            shift = inst.shifts[s]
            matrix, home = self.shift_facts(s)[:2]
            del route[position]
            self._changed(s)
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
        visits, partner = inst.visits, inst.partner
        matrix, place, _, ready, _ = self.shift_facts(shift_index)
        route = self.routes[shift_index]
        moved = False
        for i, stop in enumerate(route):
            info = visits[stop.visit]
            if info.carers == 1 and stop.visit not in partner:  # as `movable`
                start = max(ready + matrix[place][stop.place], info.earliest, info.preferred_start)
                if start < stop.start:
                    stop = Stop(stop.visit, start, start + info.duration, stop.place)
                    route[i] = stop
                    moved = True
            place, ready = stop.place, stop.end
        if moved:
            self._changed(shift_index)
        return moved

    def set_route(self, shift_index: int, stops: list[Stop], version: int | None = None) -> None:
        """Put a route back as it was (a search undoing a move). Only the route: the
        minutes and clients it implies are the caller's to put back too. `version` is
        what `route_version` said when the route had exactly these stops, if known."""
        self.routes[shift_index] = stops
        self._changed(shift_index, version)

    def load_route(self, shift_index: int, stops: list[tuple[int, int]]) -> None:
        """Replace an (empty) shift's route with visits at given starts, in order."""
        inst = self.instance
        shift = inst.shifts[shift_index]
        matrix = inst.travel(shift.worker)
        place = inst.worker_place[shift.worker]
        ordered = sorted(stops, key=lambda s: s[1])
        self._changed(shift_index)
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
