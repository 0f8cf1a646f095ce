"""The job queue's guarantees, on SQLite and PostgreSQL: a lapsed claim is taken over,
and only the run holding the claim stores a result (never two answers)."""

from __future__ import annotations

import time

from api import jobs, models
from api.db import make_engine, make_sessionmaker, migrate, transaction
from api.security import Role, create_key
from tests.api.conftest import fast_settings, mary


def test_a_stalled_run_cannot_store_over_its_successor(database_url: str) -> None:
    """Run 1 claims the job and stalls past its lease; run 2 takes it over and stores
    its answer; run 1's late answer is dropped, and the package keeps run 2's."""
    migrate(database_url)
    settings = fast_settings(database_url, job_lease_s=0.2)
    factory = make_sessionmaker(make_engine(database_url))
    with transaction(factory) as session:
        key = create_key(session, role=Role.BROKER)
        key_id = key[3:].split(".")[0]
        session.add(
            models.Package(
                id="pkg_test", broker_key_id=key_id, reference="mary", document=mary(),
                status="queued",
            )
        )  # fmt: skip
        session.flush()
        job_id = jobs.enqueue(session, kind=jobs.MATCH, package_id="pkg_test")
    first = jobs.claim_next(factory, settings)
    assert first is not None and first[0] == job_id
    assert jobs.claim_next(factory, settings) is None  # held
    time.sleep(0.3)  # the lease lapses
    second = jobs.claim_next(factory, settings)
    assert second is not None and second[0] == job_id and second[1] != first[1]
    assert not jobs.renew(factory, settings, *first)  # run 1 learns it lost the claim
    stored = jobs._finish(
        factory, job_id, second[1], status=jobs.DONE,
        package_update={"status": "no_offer", "result": {"offers": [], "run": 2}},
    )  # fmt: skip
    late = jobs._finish(
        factory, job_id, first[1], status=jobs.DONE,
        package_update={"status": "offered", "result": {"offers": [], "run": 1}},
    )  # fmt: skip
    assert (stored, late) == (jobs.DONE, "lost")
    with factory() as session:
        package = session.get(models.Package, "pkg_test")
        assert (package.status, package.result["run"]) == ("no_offer", 2)
        job = session.get(models.Job, job_id)
        assert (job.status, job.attempts) == (jobs.DONE, 2)
