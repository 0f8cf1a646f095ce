"""The decision variables of the scheduling model, in one container.

A visit has one start time shared by all its carers (so a two-carer visit is
synchronised by construction) and one `assigned` flag. A *shift* is one availability
range of one worker; `serves[shift, visit]` says the shift's route includes the visit.
Each shift's route is a circuit through its home node (0) and its candidate visits
(nodes 1..n), with one literal per arc; `arcs[shift][(i, j)]` uses those node numbers.

Constraint code asks the container (`serves_of_visit`, `shift_travel`, ...) rather than
indexing raw dicts, so the layout can change in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from matcher.instance import Instance

HOME = 0


@dataclass
class ScheduleVars:
    start: list[cp_model.IntVar]
    assigned: list[cp_model.IntVar]
    candidates: list[list[int]]  # per shift: visit indices, node = position + 1
    serves: dict[tuple[int, int], cp_model.IntVar]
    arcs: list[dict[tuple[int, int], cp_model.IntVar]] = field(default_factory=list)
    sees: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)

    @classmethod
    def create(cls, model: cp_model.CpModel, inst: Instance) -> ScheduleVars:
        start = [
            model.new_int_var(v.earliest, v.latest, f"start[{v.visit.id}]") for v in inst.visits
        ]
        assigned = [model.new_bool_var(f"assigned[{v.visit.id}]") for v in inst.visits]
        candidates: list[list[int]] = [[] for _ in inst.shifts]
        serves: dict[tuple[int, int], cp_model.IntVar] = {}
        for v in inst.visits:
            for worker in inst.eligibility[v.index]:
                for s in inst.shifts_of_worker[worker]:
                    if inst.shift_can_host(inst.shifts[s], v):
                        candidates[s].append(v.index)
                        serves[s, v.index] = model.new_bool_var(f"serves[{s},{v.visit.id}]")
        return cls(start, assigned, candidates, serves)

    def serves_of_visit(self, visit: int, inst: Instance) -> list[tuple[int, cp_model.IntVar]]:
        """(shift, literal) for every shift that could carry the visit."""
        return [
            (s, self.serves[s, visit])
            for worker in inst.eligibility[visit]
            for s in inst.shifts_of_worker[worker]
            if (s, visit) in self.serves
        ]

    def node_visit(self, shift: int, node: int) -> int:
        return self.candidates[shift][node - 1]

    def shift_travel(
        self, shift: int, inst: Instance, *, cost: bool = False
    ) -> cp_model.LinearExpr:
        """Travel on a shift's route, home legs included: whole minutes of the worker's
        time, or with `cost` the objective's hundredths of a minute."""
        worker = inst.shifts[shift].worker
        matrix = inst.travel_cost(worker) if cost else inst.travel(worker)
        home = inst.worker_place[inst.shifts[shift].worker]
        terms = []
        for (i, j), literal in self.arcs[shift].items():
            if i == j:
                continue
            a = home if i == HOME else inst.visits[self.node_visit(shift, i)].place
            b = home if j == HOME else inst.visits[self.node_visit(shift, j)].place
            if matrix[a][b]:
                terms.append(matrix[a][b] * literal)
        return sum(terms, cp_model.LinearExpr.constant(0))

    def shift_visit_minutes(self, shift: int, inst: Instance) -> cp_model.LinearExpr:
        return sum(
            (inst.visits[v].duration * self.serves[shift, v] for v in self.candidates[shift]),
            cp_model.LinearExpr.constant(0),
        )
