"""Brokers' packages beyond the happy path: the last free slot taken by two accepts
at once, idempotent submission, withdrawal, and an offer that no longer fits."""

from __future__ import annotations

import threading
from typing import Any

from tests.api.conftest import Service, mary, small_market

HOME = {"lat": 51.5465, "lon": -0.1035}


def one_carer_market() -> dict[str, Any]:
    """One agency, one carer free on Monday 08:00-09:15: room for one hour's visit."""
    return {
        "agencies": [
            {
                "agency": {"id": "solo", "name": "Solo Care", "hourly_rate_pence": 1500},
                "workers": [
                    {
                        "id": "solo-w1",
                        "name": "Ann",
                        "gender": "female",
                        "skills": ["personal_care"],
                        "home": HOME,
                        "availability": {"Mon": [{"start": "08:00", "end": "09:15"}]},
                    }
                ],
            }
        ]
    }


def hour_visit(n: int) -> dict[str, Any]:
    return {
        "id": f"p{n}",
        "client": {"id": f"c{n}", "name": f"Client {n}", "location": HOME},
        "visits": [
            {
                "id": f"p{n}-wash",
                "weekdays": ["Mon"],
                "window": {"start": "08:00", "end": "08:15"},
                "duration_min": 60,
                "skills": ["personal_care"],
            }
        ],
    }


def accept_at_once(
    service: Service, located: list[str], brokers: list[str], agency_ids: list[str]
) -> list[Any]:
    """Each broker accepts its package's offer from its agency, all at the same moment."""
    barrier = threading.Barrier(len(located))
    answers: list[Any] = [None] * len(located)

    def accept(i: int) -> None:
        barrier.wait()
        answers[i] = service.client.post(
            located[i] + "/accept",
            json={"agency_id": agency_ids[i]},
            headers=service.auth(brokers[i]),
        )

    threads = [threading.Thread(target=accept, args=(i,)) for i in range(len(located))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_two_accepts_for_the_last_free_slot(service: Service) -> None:
    """Both packages are offered the carer's one free hour; accepted at the same moment,
    exactly one wins and the other gets 409 (and is matched again); the roster holds
    one of them and still passes the checker."""
    service.import_market(one_carer_market())
    brokers = [service.key("broker"), service.key("broker")]
    located = []
    for n, broker in enumerate(brokers):
        submitted = service.client.post(
            "/v1/packages", json=hour_visit(n), headers=service.auth(broker)
        )
        assert submitted.status_code == 202
        located.append(submitted.headers["Location"])
    for location, broker in zip(located, brokers, strict=True):
        assert service.wait_for(location, broker, ("offered", "no_offer"))["status"] == "offered"

    answers = accept_at_once(service, located, brokers, ["solo", "solo"])
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.headers["content-type"] == "application/problem+json"
    admin = service.key("admin")
    roster = service.client.get("/v1/agencies/solo/roster", headers=service.auth(admin)).json()
    assert roster["check"]["valid"]
    assert len(roster["assignments"]) == 1
    lost_index = answers.index(loser)
    again = service.wait_for(located[lost_index], brokers[lost_index], ("offered", "no_offer"))
    assert again["status"] == "no_offer"  # matched again against the roster as it is now


def test_idempotent_submission(service: Service) -> None:
    """The same Idempotency-Key and body replay the first answer (one package); the
    same key with another body is a 422."""
    service.import_market(small_market())
    broker = service.key("broker")
    headers = {**service.auth(broker), "Idempotency-Key": "retry-me-1"}
    first = service.client.post("/v1/packages", json=mary(), headers=headers)
    second = service.client.post("/v1/packages", json=mary(), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Location"] == first.headers["Location"]
    other = service.client.post("/v1/packages", json=mary(id="mary-2"), headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    listed = service.client.get("/v1/packages", headers=service.auth(broker)).json()
    assert len(listed["packages"]) == 1
    # another broker's key is another namespace
    other_broker = service.key("broker")
    theirs = service.client.post(
        "/v1/packages",
        json=mary(),
        headers={**service.auth(other_broker), "Idempotency-Key": "retry-me-1"},
    )
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]


def test_withdraw(service: Service) -> None:
    """A withdrawn package stays withdrawn (its matching job does not bring it back),
    and cannot be accepted."""
    service.import_market(small_market())
    broker = service.key("broker")
    submitted = service.client.post("/v1/packages", json=mary(), headers=service.auth(broker))
    location = submitted.headers["Location"]
    withdrawn = service.client.post(location + "/withdraw", headers=service.auth(broker))
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    accept = service.client.post(
        location + "/accept", json={"agency_id": "isl-agency"}, headers=service.auth(broker)
    )
    assert accept.status_code == 409
    import time

    time.sleep(1.0)
    final = service.client.get(location, headers=service.auth(broker)).json()
    assert final["status"] == "withdrawn"
    assert final["offers"] is None


def test_accept_refused_when_the_roster_changed(service: Service) -> None:
    """The carer offered is taken off Monday after the offer: accepting answers 409
    rather than storing a roster that breaks a rule."""
    service.import_market(one_carer_market())
    broker = service.key("broker")
    location = service.client.post(
        "/v1/packages", json=hour_visit(1), headers=service.auth(broker)
    ).headers["Location"]
    assert service.wait_for(location, broker, ("offered",))["status"] == "offered"
    agency = service.key("agency", "solo")
    worker = one_carer_market()["agencies"][0]["workers"][0]
    worker["availability"] = {"Tue": [{"start": "08:00", "end": "09:15"}]}
    changed = service.client.put(
        "/v1/agencies/solo/workers/solo-w1", json=worker, headers=service.auth(agency)
    )
    assert changed.status_code == 200
    accept = service.client.post(
        location + "/accept", json={"agency_id": "solo"}, headers=service.auth(broker)
    )
    assert accept.status_code == 409
    assert accept.json()["violations"]


def test_withdraw_cancels_a_running_match(service: Service) -> None:
    """Withdrawn while its match runs (the whole urban market, one process: seconds of
    work), the match is cancelled through the engine's RunControl: the job ends
    `cancelled`, not `done`, and the package keeps no offers."""
    import json
    import time

    from api import models
    from tests.api.conftest import MARKET_URBAN

    service.import_market(json.loads(MARKET_URBAN.read_text()))
    broker = service.key("broker")
    location = service.client.post(
        "/v1/packages", json=mary(budget=None), headers=service.auth(broker)
    ).headers["Location"]
    service.wait_for(location, broker, ("matching", "offered"))
    withdrawn = service.client.post(location + "/withdraw", headers=service.auth(broker))
    assert withdrawn.status_code == 200
    factory = service.client.app.state.sessions
    deadline = time.monotonic() + 60
    while True:
        with factory() as session:
            job = session.query(models.Job).one()
        if job.status not in ("queued", "running"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job.status == "cancelled"
    final = service.client.get(location, headers=service.auth(broker)).json()
    assert (final["status"], final["offers"]) == ("withdrawn", None)


def test_crossed_accepts_do_not_deadlock(service: Service) -> None:
    """Two packages offered by the same two agencies, accepted at once at opposite
    agencies (each accept writes the winner's roster and both agencies' events): both
    succeed (on PostgreSQL, row locks taken in any other order than by agency id can
    deadlock here)."""
    service.import_market(small_market())
    for round_ in range(1):
        brokers = [service.key("broker"), service.key("broker")]
        located = []
        for n, broker in enumerate(brokers):
            tag = f"{round_}-{n}"
            package = mary(id=f"mary-{tag}", budget=None)
            package["client"] = {**package["client"], "id": f"mary-client-{tag}"}
            for line in package["visits"]:
                line["id"] = f"{line['id']}-{tag}"
            response = service.client.post(
                "/v1/packages", json=package, headers=service.auth(broker)
            )
            located.append(response.headers["Location"])
        for location, broker in zip(located, brokers, strict=True):
            done = service.wait_for(location, broker, ("offered",))
            offered = {o["agency_id"] for o in done["offers"] if o["feasible"]}
            assert offered == {"isl-agency", "kgx-agency"}
        answers = accept_at_once(service, located, brokers, ["isl-agency", "kgx-agency"])
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]


def test_accept_after_a_losing_agency_was_deleted(service: Service) -> None:
    """An agency that offered and was deleted before the broker accepted another's
    offer is simply not told; the accept succeeds."""
    service.import_market(small_market())
    broker = service.key("broker")
    location = service.client.post(
        "/v1/packages", json=mary(budget=None), headers=service.auth(broker)
    ).headers["Location"]
    service.wait_for(location, broker, ("offered",))
    admin = service.key("admin")
    gone = service.client.delete("/v1/agencies/kgx-agency", headers=service.auth(admin))
    assert gone.status_code == 204
    accepted = service.client.post(
        location + "/accept", json={"agency_id": "isl-agency"}, headers=service.auth(broker)
    )
    assert accepted.status_code == 200, accepted.text


def test_split_offer_is_returned_by_the_service(service: Service) -> None:
    """A package no single agency can take (one has carers only in the mornings, the
    other only in the evenings) ends `no_offer` with the split the engine gives
    (`MatchResult.to_json()["splits"]`, the same keys as `carematch match --json`)."""
    from tests.test_split import AM_PM, EVENINGS, MORNINGS

    market = {"agencies": [a.model_dump(mode="json") for a in (MORNINGS, EVENINGS)]}
    service.import_market(market)
    broker = service.key("broker")
    submitted = service.client.post(
        "/v1/packages", json=AM_PM.model_dump(mode="json"), headers=service.auth(broker)
    )
    assert submitted.status_code == 202, submitted.text
    body = service.wait_for(submitted.headers["Location"], broker, ("offered", "no_offer"))
    assert body["status"] == "no_offer"
    (split,) = body["splits"]
    assert split["split"] is True and split["agency_ids"] == ["north", "high"]
    assert [p["visit_ids"] for p in split["parts"]] == [
        ["am-Mon", "am-Wed", "am-Fri"],
        ["pm-Mon", "pm-Wed", "pm-Fri"],
    ]
    assert all(p["offer"]["feasible"] and p["offer"]["checked"] for p in split["parts"])
