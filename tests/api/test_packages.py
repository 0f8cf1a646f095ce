"""Brokers' packages beyond the happy path: the last free slot taken by two accepts
at once, idempotent submission, withdrawal, and an offer that no longer fits."""

from __future__ import annotations

import threading
from typing import Any

from tests.api.conftest import Service, mary, small_market

HOME = {"lat": 51.5465, "lon": -0.1035}
DAYS = ["Mon", "Wed", "Fri"]


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
    _, _, body = split_package(service)
    (split,) = body["splits"]
    assert split["split"] is True and split["agency_ids"] == ["north", "high"]
    assert [p["visit_ids"] for p in split["parts"]] == [
        ["am-Mon", "am-Wed", "am-Fri"],
        ["pm-Mon", "pm-Wed", "pm-Fri"],
    ]
    assert all(p["offer"]["feasible"] and p["offer"]["checked"] for p in split["parts"])


def split_package(service: Service, *, splits: int = 1) -> tuple[str, str, dict[str, Any]]:
    """The mornings-only and evenings-only agencies (tests/test_split.py) and the package
    only the two together can take, matched: its location, the broker's key and the
    package as matched (`no_offer`, with this many splits)."""
    from tests.test_split import AM_PM, EVENINGS, MORNINGS

    market = {"agencies": [a.model_dump(mode="json") for a in (MORNINGS, EVENINGS)]}
    service.import_market(market)
    broker = service.key("broker")
    submitted = service.client.post(
        "/v1/packages", json=AM_PM.model_dump(mode="json"), headers=service.auth(broker)
    )
    assert submitted.status_code == 202, submitted.text
    location = submitted.headers["Location"]
    body = service.wait_for(location, broker, ("offered", "no_offer"))
    assert body["status"] == "no_offer" and len(body["splits"]) == splits
    return location, broker, body


def held(service: Service, agency_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The agency's packages held and committed visits, read from the database (as
    the engine loads them), after the checker's verdict on its whole roster."""
    from api import agencies
    from matcher.checker import check

    with service.client.app.state.sessions() as session:
        entry = agencies.load(session, agency_id).entry
    found = check(entry.problem(skills=agencies.SKILLS), agencies.committed_roster(entry))
    assert found == [], [v.to_json() for v in found]
    return [p.model_dump(mode="json") for p in entry.packages], [
        a.model_dump(mode="json") for a in entry.roster
    ]


def events_of(service: Service, agency_id: str) -> list[dict[str, Any]]:
    key = service.key("agency", agency_id)
    feed = service.client.get(f"/v1/agencies/{agency_id}/events", headers=service.auth(key))
    assert feed.status_code == 200, feed.text
    return feed.json()["events"]


def test_accept_a_split_places_each_part_at_its_agency(service: Service) -> None:
    """Accepting split 1 places each part in its agency's roster (only its visits, as
    the sub-package it was offered for, same package and client ids), both rosters
    pass the checker, the package is accepted by both, and each agency is told what
    it won: its own visits, cost, carers and assignments, marked as a split."""
    location, broker, matched = split_package(service)
    (split,) = matched["splits"]
    accepted = service.client.post(
        location + "/accept", json={"split": 1}, headers=service.auth(broker)
    )
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted" and body["accepted_split"] == 1
    assert body["accepted_agency_ids"] == ["north", "high"]
    assert body["accepted_agency_id"] == "north"
    assert service.client.get(location, headers=service.auth(broker)).json() == body

    for part in split["parts"]:
        packages, roster = held(service, part["agency_id"])
        (package,) = packages
        assert (package["id"], package["client"]["id"]) == ("new", "new-c")
        lines = {f"{line['id']}-{day}" for line in package["visits"] for day in line["weekdays"]}
        assert lines == set(part["visit_ids"])
        assert package.get("budget") is None  # the cap is on the split's total
        assert sorted(roster, key=lambda a: a["visit_id"]) == sorted(
            part["offer"]["assignments"], key=lambda a: a["visit_id"]
        )
        (won,) = events_of(service, part["agency_id"])
        assert won["type"] == "package.won"
        data = won["data"]
        assert data["split"] is True and data["split_rank"] == 1
        assert data["split_agency_ids"] == ["north", "high"]
        assert data["visit_ids"] == part["visit_ids"]
        assert data["annual_cost_pence"] == part["offer"]["annual_cost_pence"]
        assert data["carers"] == part["offer"]["carers"]
        assert data["assignments"] == part["offer"]["assignments"]

    again = service.client.post(
        location + "/accept", json={"split": 1}, headers=service.auth(broker)
    )
    assert again.status_code == 409 and again.json()["type"].endswith("not-offered")


def test_accept_a_split_whose_part_no_longer_fits(service: Service) -> None:
    """The evening agency's carers move to mornings between the match and the accept:
    its part (placed second) no longer fits, so the accept is a 409 that writes
    nothing at either agency (both parts or neither), tells nobody, and the package
    is matched again."""
    location, broker, _ = split_package(service)
    from tests.test_split import EVENINGS

    agency = service.key("agency", "high")
    for worker in EVENINGS.model_dump(mode="json")["workers"]:
        worker["availability"] = {day: [{"start": "07:00", "end": "12:00"}] for day in DAYS}
        changed = service.client.put(
            f"/v1/agencies/high/workers/{worker['id']}", json=worker, headers=service.auth(agency)
        )
        assert changed.status_code == 200, changed.text
    refused = service.client.post(
        location + "/accept", json={"split": 1}, headers=service.auth(broker)
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "split 1 at 'high' no longer fits" in refused.json()["detail"]
    for agency_id in ("north", "high"):
        assert held(service, agency_id) == ([], [])
        assert events_of(service, agency_id) == []
    again = service.wait_for(location, broker, ("offered", "no_offer"))
    assert again["accepted_agency_ids"] is None and again["status"] == "no_offer"


def test_bad_accept_bodies_with_splits(service: Service) -> None:
    """Both keys or neither, a split rank that is not a number: 422 naming the field;
    a rank the package has no split for, a split of a package offered whole, or an
    agency's offer of a package that only has splits: 409. All problem+json, nothing
    accepted."""
    location, broker, _ = split_package(service)
    auth = service.auth(broker)

    def refused(path: str, body: Any, status: int) -> dict[str, Any]:
        answer = service.client.post(path + "/accept", json=body, headers=auth)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        return answer.json()

    for body, field in (
        ({"agency_id": "north", "split": 1}, "body.agency_id"),
        ({}, "body.agency_id"),
        ({"split": "1"}, "body.split"),
        ({"split": 0}, "body.split"),
        ({"split": 1, "price": 1}, "body.price"),
    ):
        problem = refused(location, body, 422)
        assert field in [e["field"] for e in problem["errors"]], (body, problem)
    assert refused(location, {"split": 2}, 409)["type"].endswith("no-such-offer")
    assert refused(location, {"agency_id": "north"}, 409)["type"].endswith("not-offered")

    service.import_market(one_carer_market())
    submitted = service.client.post("/v1/packages", json=hour_visit(1), headers=auth)
    offered = submitted.headers["Location"]
    assert service.wait_for(offered, broker, ("offered", "no_offer"))["status"] == "offered"
    assert refused(offered, {"split": 1}, 409)["type"].endswith("no-such-offer")
    for path in (location, offered):
        assert service.client.get(path, headers=auth).json()["status"] != "accepted"


def test_the_agency_of_a_split_not_taken_is_told(service: Service) -> None:
    """With a second evenings-only agency there are two splits; accepting the first
    tells the agency of the other (which had offered its part) `offer.not_taken`, and
    the two winners `package.won`."""
    from tests.test_split import _agency

    late = _agency("late", "Late Care", 2400, ("16:00", "21:00"))
    service.import_market({"agencies": [late.model_dump(mode="json")]})
    location, broker, matched = split_package(service, splits=2)
    first = matched["splits"][0]["agency_ids"]
    (other,) = {"north", "high", "late"} - set(first)
    accepted = service.client.post(
        location + "/accept", json={"split": 1}, headers=service.auth(broker)
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted_agency_ids"] == first
    assert [e["type"] for e in events_of(service, other)] == ["offer.not_taken"]
    for agency_id in first:
        assert [e["type"] for e in events_of(service, agency_id)] == ["package.won"]
