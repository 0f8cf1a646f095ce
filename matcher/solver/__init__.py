"""The CP-SAT scheduler: `solve(problem, params=SolveParams(...)) -> Roster`."""

from matcher.solver.solve import SolveParams, solve

__all__ = ["SolveParams", "solve"]
