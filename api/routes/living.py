"""The living week over HTTP: an ISF change's verdict and a package's budget statement.

Both answer from the agency's data as stored (its workers, packages and committed
roster) with the engine's own functions, `matcher.living.propose_change` and
`matcher.living.statement`, and return exactly what `carematch change --json` and
`carematch budget --json` print (docs/living.md). Neither stores anything: a change
that fits is made with the agency's package and roster resources, and a ledger is the
caller's record, posted whole.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from api import agencies
from api.deps import AgencyScope, FactoryDep
from api.problems import PROBLEM_RESPONSES, Problem, invalid
from matcher.living.change import ChangeError, ChangeItem, ChangeRequest, propose_change
from matcher.living.ledger import BankRules, Entry, Ledger, LedgerError, Review, statement
from matcher.schema import Roster

router = APIRouter(prefix="/v1/agencies", tags=["living"], responses=PROBLEM_RESPONSES)

# "changes[0].visit_id: no visit ..." -> the field and the message.
_FIELD = re.compile(r"^(?P<field>[A-Za-z_][\w.\[\]]*): (?P<message>.+)$", re.DOTALL)


class ChangeIn(BaseModel):
    """CHANGE.json without `package_id`, which the path gives."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_date: date | None = Field(default=None, alias="from")
    changes: list[ChangeItem] = Field(min_length=1)
    bank_minutes: NonNegativeInt | None = None


class LedgerIn(BaseModel):
    """LEDGER.json without `package_id`, which the path gives."""

    model_config = ConfigDict(extra="forbid")
    year_start: date
    as_of: date
    care_start: date | None = None
    review: Review = Field(default_factory=Review)
    rules: BankRules = Field(default_factory=BankRules)
    entries: list[Entry] = Field(default_factory=list)
    rosters: list[Roster] = Field(
        default_factory=list,
        description="The dated rosters of weeks gone by, inline (docs/living.md).",
    )


def _unprocessable(exc: ValueError) -> Problem:
    """A 422 naming the body's field the engine named (`changes[0].visit_id: ...`)."""
    match = _FIELD.match(str(exc))
    if match is None:
        return invalid("body", str(exc))
    return invalid(f"body.{match['field']}", match["message"])


def _package(entry: Any, package_id: str) -> None:
    if all(p.id != package_id for p in entry.packages):
        raise Problem(404, f"no package {package_id!r}", kind="not-found")


@router.post(
    "/{agency_id}/packages/{package_id}/change",
    summary="Would a change fit the roster and the budget?",
)
def post_change(
    agency_id: str, package_id: str, body: ChangeIn, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    """The verdict `carematch change --json` prints, on the stored roster: `fits` (no
    approval needed; the new week of the package), `over_budget` (by exactly how much
    a week and a year, in exact pence, with what would make it fit) or `does_not_fit`
    (the reasons and the nearest starts that would). Nothing is stored."""
    with factory() as session:
        entry = agencies.load(session, agency_id).entry
    _package(entry, package_id)
    request = ChangeRequest.model_validate(
        {"package_id": package_id, **body.model_dump(by_alias=True, exclude_none=True)}
    )
    problem = entry.problem(skills=agencies.SKILLS)
    try:
        verdict = propose_change(problem, agencies.committed_roster(entry), request)
    except ChangeError as exc:
        if str(exc).startswith("roster"):
            raise Problem(409, str(exc), kind="roster-conflict") from None
        raise _unprocessable(exc) from None
    return verdict.to_json()


@router.post(
    "/{agency_id}/packages/{package_id}/budget",
    summary="A package's budget statement from its ledger",
)
def post_budget(
    agency_id: str, package_id: str, body: LedgerIn, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    """The statement `carematch budget --json` prints for the posted ledger: spent,
    left, banked (exact pence), the next review date, and any entry that breaks the
    package's rules (`refused`, `approvals_needed`)."""
    with factory() as session:
        entry = agencies.load(session, agency_id).entry
    _package(entry, package_id)
    # The rosters go across as they are: dumping them without their nulls would drop
    # fields a roster requires (a solver report's null objective).
    ledger = Ledger.model_validate(
        {
            "package_id": package_id,
            **body.model_dump(by_alias=True, exclude_none=True, exclude={"rosters"}),
            "rosters": body.rosters,
        }
    )
    try:
        found = statement(entry.problem(skills=agencies.SKILLS), ledger)
    except LedgerError as exc:
        raise _unprocessable(exc) from None
    return found.to_json()
