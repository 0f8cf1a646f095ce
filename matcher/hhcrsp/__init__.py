"""The public HHCRSP benchmark (Mankowska et al. 2014): its file format and an evaluator.

Nothing here depends on the solver: the format models read and write the benchmark's
own JSON files and `evaluate` recomputes feasibility and the published cost, so our
results can be compared with the published table. See docs/hhcrsp.md.
"""

from matcher.hhcrsp.evaluate import RULES, TOLERANCE, Evaluation, evaluate
from matcher.hhcrsp.format import (
    Caregiver,
    CentralOffice,
    Instance,
    Patient,
    RequiredService,
    Route,
    Service,
    Solution,
    Synchronization,
    Visit,
    load_best_known,
    load_instance,
    load_solution,
    write_solution,
)

__all__ = [
    "RULES",
    "TOLERANCE",
    "Caregiver",
    "CentralOffice",
    "Evaluation",
    "Instance",
    "Patient",
    "RequiredService",
    "Route",
    "Service",
    "Solution",
    "Synchronization",
    "Visit",
    "evaluate",
    "load_best_known",
    "load_instance",
    "load_solution",
    "write_solution",
]
