"""Probe a roster's basin: is it a local optimum of simple moves, and does a compound
ruin (one caregiver's route with every partner of its two-carer patients) get out?

    .venv/bin/python benchmarks/hhcrsp/basin.py SOLUTION.json [--family kummer]
        [--caregiver c1] [--rebuilds 3 1]

Works on the benchmark's routes, not the engine's: every candidate is re-timed by
`adapter.retime` (each start as early as the orders allow) and costed by the independent
evaluator, so it is slow (milliseconds a candidate) and meant for one instance at a
time. Written for HHCRSP_50_10_32_1.2_R_C (docs/hhcrsp.md, "HHCRSP_50_10_32_1.2_R_C: one
route's order"): its 464 roster is a local optimum of every neighbourhood below, and the
compound ruin followed by descent ends below it.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path

from matcher.hhcrsp.adapter import route_orders, timed_solution
from matcher.hhcrsp.evaluate import evaluate
from matcher.hhcrsp.format import Instance, load_instance, load_solution

DATA = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "hhcrsp"

Key = tuple[str, str]  # (patient, service)
Routes = dict[str, list[Key]]  # caregiver -> services in the order driven


def cost(instance: Instance, routes: Routes) -> float:
    """The benchmark cost of `routes` timed as early as possible; services left out
    simply cost nothing (a partial roster, while a ruin is being repaired)."""
    try:
        solution = timed_solution(instance, routes)
    except ValueError:
        return float("inf")
    return evaluate(instance, solution).cost


def neighbours(instance: Instance, routes: Routes) -> Iterator[Routes]:
    """Relocate, swap and reverse within a route; both halves of a two-carer patient
    moved at once within their routes; relocate to another caregiver with the skill (in
    this order, which first-improvement descent depends on)."""
    skills = {c.id: set(c.abilities) for c in instance.caregivers}
    for caregiver, keys in routes.items():
        n = len(keys)
        for i in range(n):
            rest = keys[:i] + keys[i + 1 :]
            for j in range(n):
                if i != j:
                    yield {**routes, caregiver: [*rest[:j], keys[i], *rest[j:]]}
            for j in range(i + 1, n):
                swapped = list(keys)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                yield {**routes, caregiver: swapped}
                if j - i >= 2:
                    yield {**routes, caregiver: keys[:i] + keys[i : j + 1][::-1] + keys[j + 1 :]}
    where = {key: caregiver for caregiver, keys in routes.items() for key in keys}
    for patient in instance.patients:
        if len(patient.required_caregivers) != 2:
            continue
        first, second = ((patient.id, r.service) for r in patient.required_caregivers)
        a, b = where.get(first), where.get(second)
        if a is None or b is None or a == b:
            continue
        rest_a = [k for k in routes[a] if k != first]
        rest_b = [k for k in routes[b] if k != second]
        for i in range(len(rest_a) + 1):
            for j in range(len(rest_b) + 1):
                yield {
                    **routes,
                    a: [*rest_a[:i], first, *rest_a[i:]],
                    b: [*rest_b[:j], second, *rest_b[j:]],
                }
    for caregiver, keys in routes.items():
        for i, key in enumerate(keys):
            for other, theirs in routes.items():
                if other == caregiver or key[1] not in skills[other]:
                    continue
                if any(p == key[0] for p, _ in theirs):
                    continue
                for j in range(len(theirs) + 1):
                    yield {
                        **routes,
                        caregiver: keys[:i] + keys[i + 1 :],
                        other: [*theirs[:j], key, *theirs[j:]],
                    }


def descend(instance: Instance, routes: Routes) -> tuple[Routes, float]:
    """First-improvement descent over `neighbours` until none improves."""
    best = cost(instance, routes)
    while True:
        for candidate in neighbours(instance, routes):
            value = cost(instance, candidate)
            if value < best - 1e-6:
                routes, best = candidate, value
                break
        else:
            return routes, best


def compound_ruin(instance: Instance, routes: Routes, caregiver: str, rng: random.Random) -> Routes:
    """Out: `caregiver`'s whole route and the other half of each of its two-carer
    patients. Back: the pairs one at a time in random order, each at the cheapest two
    positions of two caregivers with the skills, then the single services (ties: the
    first found)."""
    patients = {p.id: p for p in instance.patients}
    skills = {c.id: set(c.abilities) for c in instance.caregivers}
    pairs = sorted({p for p, _ in routes[caregiver] if len(patients[p].required_caregivers) == 2})
    singles = [key for key in routes[caregiver] if key[0] not in pairs]
    rebuilt = {c: [k for k in keys if k[0] not in pairs] for c, keys in routes.items()}
    rebuilt[caregiver] = []
    left = list(pairs)
    while left:
        patient = left.pop(rng.randrange(len(left)))
        first, second = ((patient, r.service) for r in patients[patient].required_caregivers)
        options = [
            {**rebuilt, a: [*rebuilt[a][:i], first, *rebuilt[a][i:]],
             b: [*rebuilt[b][:j], second, *rebuilt[b][j:]]}
            for a in rebuilt if first[1] in skills[a]
            for b in rebuilt if b != a and second[1] in skills[b]
            for i in range(len(rebuilt[a]) + 1)
            for j in range(len(rebuilt[b]) + 1)
        ]  # fmt: skip
        rebuilt = min(options, key=lambda r: cost(instance, r))
    rng.shuffle(singles)
    for key in singles:
        options = [
            {**rebuilt, a: [*rebuilt[a][:i], key, *rebuilt[a][i:]]}
            for a in rebuilt
            if key[1] in skills[a]
            for i in range(len(rebuilt[a]) + 1)
        ]
        rebuilt = min(options, key=lambda r: cost(instance, r))
    return rebuilt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("solution", type=Path)
    parser.add_argument("--family", default="kummer", choices=["kummer", "mankowska"])
    parser.add_argument("--caregiver", default="c1", help="whose route the compound ruin takes")
    parser.add_argument("--rebuilds", type=int, nargs="*", default=[3, 1], help="their seeds")
    args = parser.parse_args()
    name = args.solution.name.removeprefix("sol-").split("-seed")[0].removesuffix(".json")
    instance = load_instance(DATA / args.family / "instances" / f"{name}.json")
    routes = route_orders(load_solution(args.solution))
    start = cost(instance, routes)
    _, local = descend(instance, routes)
    print(f"{name}: {start:.3f}, after descent {local:.3f}", flush=True)
    for seed in args.rebuilds:
        rebuilt = compound_ruin(instance, routes, args.caregiver, random.Random(seed))
        _, ended = descend(instance, rebuilt)
        print(f"compound ruin of {args.caregiver}, seed {seed}: {cost(instance, rebuilt):.3f}, "
              f"after descent {ended:.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
