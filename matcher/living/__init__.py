"""The living week: re-planning a committed roster as things change (issue 13).

`replan(problem, roster, absences, now=...)` covers an absent carer's visits with the
least disruption to everyone else (docs/replan.md).
"""

from matcher.living.replan import (
    Absence,
    Change,
    Replan,
    ReplanError,
    ReplanParams,
    ReplanWeights,
    Uncovered,
    parse_absence,
    parse_now,
    replan,
)

__all__ = [
    "Absence",
    "Change",
    "Replan",
    "ReplanError",
    "ReplanParams",
    "ReplanWeights",
    "Uncovered",
    "parse_absence",
    "parse_now",
    "replan",
]
