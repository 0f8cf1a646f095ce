"""Why a visit or a package cannot be placed, in words a broker understands.

Two stages. Cheap pre-checks look at the input alone: nobody has the skill, nobody of
the wanted gender, nobody works that day at that time, a two-carer visit with only one
qualified worker, a package dearer than its budget cap. Whatever survives them but
still ended up unassigned is explained against the final roster (`roster_reasons`):
the package's budget used up, or (`worker_reasons`) the rule that keeps every worker
from taking it, found by lifting the rules one at a time at that visit and asking the
insertion machinery (`matcher.insertion.RosterState.options`) again: the client's
exclusions, the strict gender preference, the skills, the daily and weekly maximum
minutes, the travel from the previous visit (and on to the next), the second carer.
Each rule whose lifting alone makes the visit fit gets a reason, with the weekday and
time it would then start ("excluded: the only worker free on Thursday 18:00 is one
Mary has asked not to see"); when only two (or more) lifted together do, one reason
says so; when nothing short of free workers would, it is availability ("all are
booked"). A visit with nobody qualified on shift at all is explained the same way
against an empty roster.

Each reason starts with the rule it names ("budget:", "two-carer visit:", ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations

from matcher.insertion import InsertionOption, RosterState
from matcher.instance import Instance, VisitInfo, gender_match
from matcher.schema import GenderPreference
from matcher.timeutil import (
    MINUTES_PER_DAY,
    WEEKDAYS,
    WEEKS_PER_YEAR,
    cost_pence,
    format_hhmm,
    format_pounds,
)


def package_budget_reason(inst: Instance, package: int) -> str | None:
    """The budget reason if the whole package costs more than its cap, else None."""
    budget = inst.packages[package].budget
    limit = inst.budget_carer_minutes[package]
    if budget is None or limit is None:
        return None
    minutes = sum(
        inst.visits[v].duration * inst.visits[v].carers for v in inst.visits_of_package[package]
    )
    if minutes <= limit:
        return None
    rate = inst.problem.agency.hourly_rate_pence
    weekly = cost_pence(minutes, rate)
    cost = weekly * WEEKS_PER_YEAR if budget.period == "year" else weekly
    per = "a year" if budget.period == "year" else "a week"
    return (
        f"budget: {format_pounds(cost)} {per} at {format_pounds(rate)}/h "
        f"> cap {format_pounds(budget.amount_pence)}"
    )


def join(items: Iterable[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def describe_workers(
    inst: Instance,
    visit: VisitInfo,
    *,
    plural: bool = False,
    gender: bool = True,
    skills: bool = True,
) -> str:
    """ "female worker with skill hoist", "workers with skills hoist and medication", ...

    Without `gender` or `skills`, the same without the strict gender preference or the
    skills (what a reason says when that is the rule that binds)."""
    client = inst.packages[visit.package].client
    noun = "workers" if plural else "worker"
    if (
        gender
        and client.gender_preference != GenderPreference.NONE
        and client.gender_preference_strict
    ):
        noun = f"{client.gender_preference.value} {noun}"
    needed = visit.visit.skills if skills else ()
    if len(needed) == 1:
        return f"{noun} with skill {needed[0]}"
    if needed:
        return f"{noun} with skills {join(needed)}"
    return noun


def when(visit: VisitInfo) -> str:
    """The span the visit could occupy: "Tuesday 05:00-10:00"."""
    day = WEEKDAYS[visit.day].full_name
    start = visit.earliest % MINUTES_PER_DAY
    end = visit.latest % MINUTES_PER_DAY + visit.duration
    return f"{day} {format_hhmm(start)}-{format_hhmm(end)}"


def at(start: int) -> str:
    """A week minute as a broker reads it: "Thursday 18:00"."""
    day = WEEKDAYS[start // MINUTES_PER_DAY].full_name
    return f"{day} {format_hhmm(start % MINUTES_PER_DAY)}"


def precheck_reasons(inst: Instance, visit: VisitInfo) -> list[str]:
    """Reasons visible from the input alone, without any roster."""
    client = inst.packages[visit.package].client
    skills = set(visit.visit.skills)
    skilled = [w for w in inst.workers if skills <= set(w.skills)]
    if not skilled:
        return [f"skills: no worker has {join(sorted(skills))}"]
    if client.gender_preference_strict and not any(
        gender_match(w, client.gender_preference) for w in skilled
    ):
        return [f"gender: no {describe_workers(inst, visit)}"]
    if not inst.eligibility[visit.index]:
        return [f"excluded: every {describe_workers(inst, visit)} is excluded by the client"]
    available = {
        w
        for w in inst.eligibility[visit.index]
        for s in inst.shifts_of_worker[w]
        if inst.shift_can_host(inst.shifts[s], visit)
    }
    desc = describe_workers(inst, visit)
    if not available:
        # Nobody who may do it works then: is it someone the client excluded, of the
        # other gender, without the skills, or short of daily minutes who does?
        empty = RosterState(inst)
        return worker_reasons(empty, visit, verb="available", rules=INPUT_RULES) or [
            f"availability: no {desc} is available on {when(visit)}"
        ]
    if visit.carers == 2 and len(available) == 1:
        return [f"two-carer visit: only one {desc} is available on {when(visit)}"]
    return []


# ------------------------------------------------------------ the binding rule

# The rules the reason finder lifts at a visit that fits nowhere, one at a time and
# then two together, in the order their reasons are given; each name is the reason's
# prefix. Availability is what is left when lifting all of them does not help; the
# budget is a gate of its own (`roster_reasons`).
EXCLUSION = "excluded"
GENDER = "gender"
SKILLS = "skills"
HOURS = "hours"
TRAVEL = "travel"
TWO_CARERS = "two-carer visit"
RULES = (EXCLUSION, GENDER, SKILLS, HOURS, TRAVEL, TWO_CARERS)
# What can bind in an empty roster (the pre-checks): no travel from a previous visit,
# and a two-carer visit with one available carer has a reason of its own.
INPUT_RULES = (EXCLUSION, GENDER, SKILLS, HOURS)
# What a reason says is ignored when several rules bind together ({name}: the client's).
LIFTED = {
    EXCLUSION: "{name}'s exclusions",
    GENDER: "{name}'s gender preference",
    SKILLS: "the skills asked for",
    HOURS: "the carers' daily and weekly maximum minutes",
    TRAVEL: "the travel between visits",
    TWO_CARERS: "the second carer",
}


def _candidates(inst: Instance, visit: VisitInfo, lifted: frozenset[str]) -> Iterable[int]:
    """The workers who may do the visit once the `lifted` rules no longer apply."""
    if not lifted & {EXCLUSION, GENDER, SKILLS}:
        return inst.eligibility[visit.index]
    client = inst.packages[visit.package].client
    excluded = set(client.excluded_workers)
    needed = set(visit.visit.skills)
    strict = client.gender_preference_strict
    return [
        w
        for w, worker in enumerate(inst.workers)
        if (EXCLUSION in lifted or worker.id not in excluded)
        and (SKILLS in lifted or needed <= set(worker.skills))
        and (GENDER in lifted or not strict or gender_match(worker, client.gender_preference))
    ]


@dataclass
class _Question:
    """ "Would the visit fit with these rules lifted?", asked of one roster at one visit;
    each worker's gaps are worked out once per setting of the hours and travel rules."""

    state: RosterState
    visit: VisitInfo
    _gaps: dict[tuple[int, bool, bool], list[InsertionOption]] = field(default_factory=dict)

    def options(self, lifted: frozenset[str]) -> dict[int, list[InsertionOption]]:
        """Per worker, every gap where the visit fits without moving anyone, the
        `lifted` rules aside."""
        inst, visit = self.state.instance, self.visit
        limits, travel = HOURS not in lifted, TRAVEL not in lifted
        found: dict[int, list[InsertionOption]] = {}
        for w in _candidates(inst, visit, lifted):
            key = (w, limits, travel)
            gaps = self._gaps.get(key)
            if gaps is None:
                gaps = self._gaps[key] = [
                    option
                    for s in inst.shifts_of_worker[w]
                    if inst.shifts[s].day == visit.day
                    for option in self.state.options(visit, s, limits=limits, travel=travel)
                ]
            if gaps:
                found[w] = gaps
        return found

    def fit(self, lifted: Iterable[str]) -> tuple[int, dict[int, list[InsertionOption]]] | None:
        """Where the visit would start with the `lifted` rules lifted, and the options
        that say so; None if it would still not fit."""
        lifted = frozenset(lifted)
        options = self.options(lifted)
        start = _start(self.visit, options, 1 if TWO_CARERS in lifted else self.visit.carers)
        return None if start is None else (start, options)


def _start(visit: VisitInfo, options: dict[int, list[InsertionOption]], carers: int) -> int | None:
    """The start nearest the preferred window (earliest on a tie) at which `carers`
    different workers are free, or None."""
    if carers == 1:
        spans = [(o.earliest, o.latest) for found in options.values() for o in found]
    else:
        spans = [
            (max(a.earliest, b.earliest), min(a.latest, b.latest))
            for one, other in combinations(options, 2)
            for a in options[one]
            for b in options[other]
        ]
    best: tuple[int, int] | None = None
    for low, high in spans:
        if low > high:
            continue
        start = min(max(visit.preferred_start, low), high)
        key = (visit.minutes_outside(start), start)
        if best is None or key < best:
            best = key
    return None if best is None else best[1]


def _free_at(options: dict[int, list[InsertionOption]], start: int) -> dict[int, InsertionOption]:
    return {w: o for w, found in options.items() for o in found if o.earliest <= start <= o.latest}


def _applies(inst: Instance, visit: VisitInfo, rule: str) -> bool:
    """Whether lifting the rule could change anything at this visit."""
    client = inst.packages[visit.package].client
    if rule == EXCLUSION:
        return bool(client.excluded_workers)
    if rule == GENDER:
        return client.gender_preference_strict and client.gender_preference != GenderPreference.NONE
    if rule == SKILLS:
        return bool(visit.visit.skills)
    if rule == TWO_CARERS:
        return visit.carers == 2
    return True


def worker_reasons(
    state: RosterState, visit: VisitInfo, *, verb: str = "free", rules: Iterable[str] = RULES
) -> list[str]:
    """Why no worker (or pair of workers) can take the visit as the roster stands,
    naming the rule that binds; [] when it fits.

    Each of `rules` is lifted on its own (a small exact question at this one visit:
    the insertion options with that rule lifted); every rule whose lifting alone makes
    the visit fit gets a reason of its own, with the weekday and time it would then
    start. If none does, pairs are tried ("excluded and hours: ..."), then all of them
    together; if even that does not fit, the qualified workers are simply not free
    (availability). `verb` is "free" against a roster, "available" against none.
    """
    inst = state.instance
    question = _Question(state, visit)
    if question.fit(()) is not None:
        return []
    rules = [r for r in rules if _applies(inst, visit, r)]
    desc = describe_workers(inst, visit)
    if question.fit(rules) is None:
        if verb == "free":
            return [f"availability: no {desc} is free on {when(visit)} (all are booked)"]
        return [f"availability: no {desc} is {verb} on {when(visit)}"]
    base = question.options(frozenset())
    name = inst.packages[visit.package].client.name
    # The second carer of a two-carer visit is given up last: a rule that keeps the
    # second carer away is named, and the two-carer rule itself only when none is.
    ordered = [r for r in rules if r != TWO_CARERS]
    pairs = list(combinations(ordered, 2))
    tries: list[list[tuple[str, ...]]] = [[(r,) for r in ordered]]
    if TWO_CARERS in rules:
        tries.append([(TWO_CARERS,)])
    tries.append(pairs)
    if TWO_CARERS in rules:
        tries.append([(r, TWO_CARERS) for r in ordered])
    for group in tries:
        reasons = []
        for lifted in group:
            fit = question.fit(lifted)
            if fit is None:
                continue
            if len(lifted) == 1:
                reasons.append(_single_reason(state, visit, lifted[0], *fit, base, verb))
            else:
                reasons.append(_together(lifted, fit[0], name))
        if reasons:
            return reasons
    # Three or more bind together: a minimal set, dropping each rule not needed.
    needed = list(rules)
    for rule in rules:
        fewer = [r for r in needed if r != rule]
        if question.fit(fewer) is not None:
            needed = fewer
    fit = question.fit(needed)
    assert fit is not None
    return [_together(tuple(needed), fit[0], name)]


def _together(lifted: tuple[str, ...], start: int, name: str) -> str:
    """The reason when only lifting several rules at once makes the visit fit."""
    both = "both " if len(lifted) == 2 else "all of "
    ignoring = join(LIFTED[r].format(name=name) for r in lifted)
    return f"{join(lifted)} together: it would fit on {at(start)} only by ignoring {both}{ignoring}"


def _single_reason(
    state: RosterState,
    visit: VisitInfo,
    rule: str,
    start: int,
    options: dict[int, list[InsertionOption]],
    base: dict[int, list[InsertionOption]],
    verb: str,
) -> str:
    """The reason for a rule whose lifting alone makes the visit fit at `start`."""
    inst = state.instance
    client = inst.packages[visit.package].client
    if rule == TWO_CARERS:
        desc = describe_workers(inst, visit)
        if len(base) <= 1:
            return f"two-carer visit: only one {desc} is {verb} on {when(visit)}"
        plural = describe_workers(inst, visit, plural=True)
        return f"two-carer visit: no two {plural} are {verb} at the same time on {when(visit)}"
    usual = _free_at(base, start)
    blocked = {w: o for w, o in _free_at(options, start).items() if w not in usual}

    def subject(desc: str) -> str:
        only = "the only" if len(blocked) == 1 else "every"
        if usual:  # one carer of two is free: the rule keeps the second away
            return f"{only} {desc} who could be the second carer on {at(start)}"
        return f"{only} {desc} {verb} on {at(start)}"

    if rule == EXCLUSION:
        who = subject(describe_workers(inst, visit))
        return f"excluded: {who} is one {client.name} has asked not to see"
    if rule == GENDER:
        genders = join(sorted({inst.workers[w].gender.value for w in blocked}), "or")
        return (
            f"gender: {subject(describe_workers(inst, visit, gender=False))} is {genders}; "
            f"{client.name} wants a {client.gender_preference.value} carer"
        )
    if rule == SKILLS:
        missing = sorted(
            {s for w in blocked for s in visit.visit.skills if s not in inst.workers[w].skills}
        )
        return (
            f"skills: {subject(describe_workers(inst, visit, skills=False))} lacks {join(missing)}"
        )
    desc = describe_workers(inst, visit)
    if rule == HOURS:
        which = set()
        for w, option in blocked.items():
            profile = inst.workers[w]
            extra = visit.duration + option.added_travel
            if extra > profile.max_minutes_per_day - state.day_minutes[w][visit.day]:
                which.add("daily")
            if extra > profile.max_minutes_per_week - state.week_minutes[w]:
                which.add("weekly")
        maximum = join(sorted(which), "and" if len(blocked) == 1 else "or")
        return f"hours: {subject(desc)} would go over their {maximum} maximum minutes"
    late = set()
    for option in blocked.values():
        route = state.routes[option.shift]
        matrix = inst.travel(option.worker)
        if option.position > 0:
            before = route[option.position - 1]
            if before.end + matrix[before.place][visit.place] > start:
                late.add("from their previous visit")
        if option.position < len(route):
            after = route[option.position]
            if start + visit.duration + matrix[visit.place][after.place] > after.start:
                late.add("on to their next")
    legs = join(
        (leg for leg in ("from their previous visit", "on to their next") if leg in late),
        "and" if len(blocked) == 1 else "or",
    )
    return f"travel: {subject(desc)} cannot get there {legs} in time"


def roster_reasons(state: RosterState, visit: VisitInfo) -> list[str]:
    """Why a visit that passes the pre-checks does not fit the roster as it stands: the
    budget, and (`worker_reasons`) the rules that keep every worker from taking it."""
    inst = state.instance
    reasons = []
    if not state.fits_budget(visit):
        budget = inst.packages[visit.package].budget
        assert budget is not None
        rate = inst.problem.agency.hourly_rate_pence
        used = cost_pence(state.package_minutes[visit.package], rate)
        extra = cost_pence(visit.duration * visit.carers, rate)
        scale = WEEKS_PER_YEAR if budget.period == "year" else 1
        per = "a year" if budget.period == "year" else "a week"
        reasons.append(
            f"budget: this visit would bring the package to "
            f"{format_pounds((used + extra) * scale)} {per} > cap "
            f"{format_pounds(Fraction(budget.amount_pence))}"
        )
    reasons += worker_reasons(state, visit)
    if reasons:
        return reasons
    if visit.index in inst.partner:
        other = inst.visits[inst.partner[visit.index]].visit.id
        return [
            f"synchronised visits: no two workers are free for this visit and {other} "
            f"at the required interval on {when(visit)}"
        ]
    return ["time limit: the visit fits but was not placed within the time limit"]


def unassigned_reasons(state: RosterState, visit: VisitInfo) -> list[str]:
    inst = state.instance
    reasons = precheck_reasons(inst, visit)
    if not reasons and visit.index in inst.partner:
        other = inst.visits[inst.partner[visit.index]]
        reasons = [
            f"synchronised visits: linked visit {other.visit.id} cannot be placed ({r})"
            for r in precheck_reasons(inst, other)
        ]
    return reasons or roster_reasons(state, visit)
