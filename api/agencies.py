"""An agency's data in the database, as the engine's `MarketAgency`.

`load` turns an agency's rows into a validated `MarketAgency`; `save` writes a changed
one back, but only after the engine's own checks pass (the schema's: ids resolve;
the independent checker's: the committed roster keeps every hard rule) and only if
nobody changed the agency since it was loaded (`Agency.version`, compared and bumped
in one UPDATE). Every route that changes an agency goes through `save`, so "an update
that would break the committed roster is refused with the checker's violations, not
stored" is one rule in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from api import models
from api.problems import Problem, validation_errors
from matcher.brokerage.policy import DEFAULT_POLICY, RankingPolicy
from matcher.checker import check
from matcher.market import Market, MarketAgency
from matcher.schema import DEFAULT_SKILLS, Assignment, Roster, Unassigned, expand_visits

SKILLS = list(DEFAULT_SKILLS)
# The agency's own fields besides its workers, packages and roster, kept as one JSON
# document (`Agency.profile`): a new one (`contract`, `quality`) needs no new column.
PROFILE_FIELDS = ("agency", "area_type", "weights", "travel", "contract", "quality")


@dataclass(frozen=True)
class Loaded:
    """An agency as loaded: its row (for the version) and its engine form."""

    row: models.Agency
    entry: MarketAgency

    @property
    def version(self) -> int:
        return self.row.version


def get_row(session: Session, agency_id: str, *, lock: bool = False) -> models.Agency:
    query = select(models.Agency).where(models.Agency.id == agency_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise Problem(404, f"no agency {agency_id!r}", kind="not-found")
    return row


def lock(session: Session, agency_ids: list[str]) -> None:
    """Hold these agencies' rows until the transaction ends, taken in id order (on
    PostgreSQL; SQLite's transactions already hold the whole database)."""
    session.execute(
        select(models.Agency.id)
        .where(models.Agency.id.in_(sorted(agency_ids)))
        .order_by(models.Agency.id)
        .with_for_update()
    ).all()


def load(session: Session, agency_id: str) -> Loaded:
    row = get_row(session, agency_id)
    return Loaded(row, entry_of(session, row))


def entry_of(session: Session, row: models.Agency) -> MarketAgency:
    workers = session.scalars(
        select(models.Worker.document)
        .where(models.Worker.agency_id == row.id)
        .order_by(models.Worker.position, models.Worker.id)
    ).all()
    packages = session.scalars(
        select(models.AgencyPackage.document)
        .where(models.AgencyPackage.agency_id == row.id)
        .order_by(models.AgencyPackage.position, models.AgencyPackage.id)
    ).all()
    roster = session.scalars(
        select(models.Assignment)
        .where(models.Assignment.agency_id == row.id)
        .order_by(models.Assignment.weekday, models.Assignment.start, models.Assignment.visit_id)
    ).all()
    return MarketAgency.model_validate(
        {
            **row.profile,
            "workers": list(workers),
            "packages": list(packages),
            "roster": [_assignment_json(a) for a in roster],
        }
    )


def _assignment_json(a: models.Assignment) -> dict[str, Any]:
    return {
        "visit_id": a.visit_id,
        "package_id": a.package_id,
        "client_id": a.client_id,
        "weekday": a.weekday,
        "start": a.start,
        "end": a.end,
        "workers": list(a.workers),
    }


def compose(entry: MarketAgency, **changes: Any) -> MarketAgency:
    """`entry` with some of its parts replaced, validated as a whole: a change that
    leaves the roster naming a worker or visit that is gone, or breaks the engine's
    rules for an agency's week (visit ids unique across its packages, client and worker
    ids apart), is a 409 naming the clash."""
    data = entry.model_dump(mode="json")
    for key, value in changes.items():
        data[key] = value
    try:
        composed = MarketAgency.model_validate(data)
    except ValidationError as exc:
        raise _clash(exc, 409) from None
    return whole(composed)


def whole(entry: MarketAgency, *, status: int = 409) -> MarketAgency:
    """The agency, once the engine's own checks of its week as a whole pass (the
    `Problem` it makes for the checker); a 409 naming the clash (422 for a new agency,
    whose body is at fault), not a 500 from inside the checker."""
    try:
        entry.problem(skills=SKILLS)
    except ValidationError as exc:
        raise _clash(exc, status) from None
    return entry


def _clash(exc: ValidationError, status: int) -> Problem:
    # the engine's messages carry the path within the agency ("packages[3]...")
    errors = [{**e, "field": e["field"] or "body"} for e in validation_errors(exc.errors())]
    if status == 422:
        return Problem(422, f"body: {errors[0]['message']}", kind="validation", errors=errors)
    return Problem(
        409,
        f"the change does not fit the agency's data: {errors[0]['message']}",
        kind="roster-conflict",
        errors=errors,
    )


NOT_ROSTERED = "not in the committed roster yet"


def committed_roster(entry: MarketAgency) -> Roster:
    """The agency's committed week as the engine's `Roster`: visits of its packages
    that no assignment covers yet (a package taken on, not yet rostered) are listed
    unassigned, as the gaps they are, rather than breaking the coverage rule."""
    covered = {a.visit_id for a in entry.roster}
    gaps = [
        Unassigned.of(v, [NOT_ROSTERED])
        for p in entry.packages
        for v in expand_visits(p)
        if v.id not in covered
    ]
    return Roster(problem_id=entry.id, assignments=entry.roster, unassigned=gaps)


def violations(entry: MarketAgency) -> list[dict[str, Any]]:
    """The checker's verdict on the agency's committed roster, serialisable."""
    found = check(entry.problem(skills=SKILLS), committed_roster(entry))
    return [v.to_json() for v in found]


def require_valid(entry: MarketAgency) -> None:
    """Refuse (409, with the checker's violations) a roster that breaks a hard rule."""
    unknown = sorted({s for w in entry.workers for s in w.skills} - set(SKILLS))
    if unknown:
        raise Problem(422, f"unknown skill {unknown[0]!r}", kind="validation")
    found = violations(entry)
    if found:
        raise Problem(
            409,
            f"the change would break the committed roster: {found[0]['message']}"
            + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""),
            kind="roster-violation",
            violations=found,
        )


def create(session: Session, entry: MarketAgency, *, webhook_url: str | None = None) -> None:
    """Store a new agency (checked); 409 if the id is taken."""
    if session.get(models.Agency, entry.id) is not None:
        raise Problem(409, f"agency {entry.id!r} already exists", kind="exists")
    require_valid(entry)
    row = models.Agency(
        id=entry.id,
        name=entry.agency.name,
        profile=_profile(entry),
        version=1,
        event_seq=0,
        webhook_url=webhook_url,
    )
    session.add(row)
    session.flush()
    _write_parts(session, entry.id, None, entry)


def save(
    session: Session, loaded: Loaded, after: MarketAgency, *, broker_package_id: str | None = None
) -> int:
    """Write `after` over the agency as loaded, checked, if nobody changed it since;
    409 otherwise. Returns the new version."""
    require_valid(after)
    bumped = session.execute(
        update(models.Agency)
        .where(models.Agency.id == loaded.row.id, models.Agency.version == loaded.version)
        .values(
            version=loaded.version + 1,
            name=after.agency.name,
            profile=_profile(after),
            updated_at=models.utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount != 1:
        raise Problem(
            409,
            f"agency {loaded.row.id!r} changed meanwhile; read it again and retry",
            kind="version-conflict",
        )
    _write_parts(session, loaded.row.id, loaded.entry, after, broker_package_id=broker_package_id)
    return loaded.version + 1


def _profile(entry: MarketAgency) -> dict[str, Any]:
    data = entry.model_dump(mode="json", include=set(PROFILE_FIELDS))
    return data


def _write_parts(
    session: Session,
    agency_id: str,
    before: MarketAgency | None,
    after: MarketAgency,
    *,
    broker_package_id: str | None = None,
) -> None:
    """Insert, update and delete the rows that differ between `before` and `after`."""
    _sync(
        session,
        models.Worker,
        agency_id,
        {w.id: w for w in before.workers} if before else {},
        {w.id: w for w in after.workers},
        lambda position, w: {"position": position, "document": w.model_dump(mode="json")},
    )
    _sync(
        session,
        models.AgencyPackage,
        agency_id,
        {p.id: p for p in before.packages} if before else {},
        {p.id: p for p in after.packages},
        lambda position, p: {
            "position": position,
            "client_id": p.client.id,
            "document": p.model_dump(mode="json", exclude_none=True),
            **({"broker_package_id": broker_package_id} if broker_package_id else {}),
        },
    )
    # After the packages: a committed visit names its package (a foreign key).
    _sync(
        session,
        models.Assignment,
        agency_id,
        {a.visit_id: a for a in before.roster} if before else {},
        {a.visit_id: a for a in after.roster},
        lambda _, a: _assignment_row(a),
        key_column="visit_id",
    )


def _assignment_row(a: Assignment) -> dict[str, Any]:
    return {
        "package_id": a.package_id,
        "client_id": a.client_id,
        "weekday": a.weekday.value,
        "start": a.start,
        "end": a.end,
        "workers": list(a.workers),
    }


def _sync(
    session: Session,
    table: type[models.Base],
    agency_id: str,
    old: dict[str, Any],
    new: dict[str, Any],
    values,
    *,
    key_column: str = "id",
) -> None:
    """Make the agency's rows of `table` hold `new` (keyed, in order), touching only
    the rows that differ from `old`."""
    key = getattr(table, key_column)
    old_position = {k: i for i, k in enumerate(old)}
    gone = [k for k in old if k not in new]
    if gone:
        session.execute(
            delete(table).where(table.agency_id == agency_id, key.in_(gone)),
            execution_options={"synchronize_session": False},
        )
    for position, (k, item) in enumerate(new.items()):
        previous = old.get(k)
        if previous is None:
            session.add(table(agency_id=agency_id, **{key_column: k}, **values(position, item)))
        elif previous != item or old_position[k] != position:
            session.execute(
                update(table)
                .where(table.agency_id == agency_id, key == k)
                .values(**values(position, item)),
                execution_options={"synchronize_session": False},
            )
    session.flush()


def import_market(session: Session, market: Market) -> dict[str, str]:
    """Load a market file's agencies (checked), idempotent by ids: an agency already
    stored with the same data is left alone, with other data it is replaced (checked,
    versioned). Returns what happened to each agency."""
    unknown = sorted(set(market.skills) - set(SKILLS))
    if unknown:
        raise ValueError(f"skills: unknown skill {unknown[0]!r} (the service knows {SKILLS})")
    outcome: dict[str, str] = {}
    for entry in market.agencies:
        row = session.get(models.Agency, entry.id)
        if row is None:
            create(session, entry)
            outcome[entry.id] = "created"
            continue
        loaded = Loaded(row, entry_of(session, row))
        if same_data(loaded.entry, entry):
            outcome[entry.id] = "unchanged"
            continue
        save(session, loaded, entry)
        outcome[entry.id] = "updated"
    return outcome


def same_data(a: MarketAgency, b: MarketAgency) -> bool:
    """Equal agencies, whatever the order of their committed visits (the database
    hands them back by day and time)."""

    def canonical(entry: MarketAgency) -> MarketAgency:
        return entry.model_copy(update={"roster": sorted(entry.roster, key=lambda a: a.visit_id)})

    return canonical(a) == canonical(b)


def market_of(entries: list[MarketAgency], policy: RankingPolicy = DEFAULT_POLICY) -> Market:
    """The engine's market of some stored agencies (already validated one by one),
    ranked by the council's policy (`CAREMATCH_RANKING_POLICY`)."""
    return Market.model_construct(
        id="service", skills=SKILLS, agencies=entries, ranking_policy=policy
    )
