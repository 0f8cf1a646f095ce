"""The living week: a committed roster as things change (issue 13).

- `replan(problem, roster, absences, now=...)` covers an absent carer's visits with the
  least disruption to everyone else (docs/replan.md);
- `dated_problem(problem, week)` lays the weekly template onto a real week with its
  exceptions (`matcher.living.dated`);
- `propose_change(problem, roster, request)` answers an ISF change against the roster
  and the budget (`matcher.living.change`);
- `statement(problem, ledger)` is a package's budget year with its bank
  (`matcher.living.ledger`). See docs/living.md.
"""

from matcher.living.change import ChangeError, ChangeRequest, ChangeVerdict, propose_change
from matcher.living.dated import DatedError, DatedWeek, dated_problem, parse_week
from matcher.living.ledger import Ledger, LedgerError, Statement, statement
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
    "ChangeError",
    "ChangeRequest",
    "ChangeVerdict",
    "DatedError",
    "DatedWeek",
    "Ledger",
    "LedgerError",
    "Replan",
    "ReplanError",
    "ReplanParams",
    "ReplanWeights",
    "Statement",
    "Uncovered",
    "dated_problem",
    "parse_absence",
    "parse_now",
    "parse_week",
    "propose_change",
    "replan",
    "statement",
]
