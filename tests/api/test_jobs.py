"""The job queue's guarantees, on SQLite and PostgreSQL: a lapsed claim is taken over,
and only the run holding the claim stores a result (never two answers)."""

from __future__ import annotations

import time
from pathlib import Path

from api import jobs, models
from api.db import make_engine, make_sessionmaker, migrate, transaction
from api.security import Role, create_key
from matcher.matching import Matcher, MatchParams
from matcher.schema import CarePackage
from tests.api.conftest import fast_settings, keyed_client, mary, small_market


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


def test_a_changed_agency_keeps_the_matchers_processes(tmp_path: Path) -> None:
    """When one agency's version moves (here the council changes its contract; an
    accepted package moves a roster the same way), the worker's next matcher is the
    old one's successor: the same process pool, the unchanged agencies the very
    objects it had (still warm in the processes), the changed one as stored now, and
    Mary's offers those of a matcher made afresh on that market."""
    with keyed_client(tmp_path) as api:
        for entry in small_market()["agencies"]:
            assert api.client.post("/v1/agencies", json=entry, headers=api.admin).status_code == 201
        factory = api.client.app.state.sessions
        cache = jobs.MarketCache()
        try:
            with transaction(factory) as session:
                first = cache.matcher(session, processes=2)
            assert first is not None and first._pool is not None
            changed = api.client.patch(
                "/v1/agencies/kgx-agency", json={"contract": "block"}, headers=api.admin
            )
            assert changed.status_code == 200, changed.text
            with transaction(factory) as session:
                second = cache.matcher(session, processes=2)
            assert second is not None and second is not first
            assert second._pool is first._pool
            old = {entry.id: entry for entry in first.market.agencies}
            for entry in second.market.agencies:
                assert (entry is old[entry.id]) == (entry.id != "kgx-agency"), entry.id
                assert (entry.contract == "block") == (entry.id == "kgx-agency")
            package = CarePackage.model_validate(mary(budget=None))
            params = MatchParams(time_limit_s=0.2, deterministic=True)
            with Matcher(second.market, processes=1) as fresh:
                expected = fresh.match(package, params).model_dump(exclude={"elapsed_s"})
            answer = second.match(package, params).model_dump(exclude={"elapsed_s"})
            for result in (answer, expected):
                for offer in result["offers"]:
                    offer.pop("elapsed_s")
            assert answer == expected
        finally:
            cache.close()
