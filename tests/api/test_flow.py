"""A broker's package from submission to an accepted offer, over HTTP, on SQLite and
PostgreSQL: stored first, matched by the job worker, accepted against the roster as it
is now, the agencies told (event feed)."""

from __future__ import annotations

from api import agencies
from api.agencies import violations
from api.db import make_engine, make_sessionmaker
from tests.api.conftest import Service, mary, small_market


def test_submit_match_accept_and_events(service: Service) -> None:
    """Mary without a budget cap fits at two agencies; accepting the best places her
    visits in its roster (which still passes the checker), the winner reads a
    `package.won` event and the other agency an `offer.not_taken`."""
    service.import_market(small_market())
    broker = service.key("broker")
    submitted = service.client.post(
        "/v1/packages", json=mary(budget=None), headers=service.auth(broker)
    )
    assert submitted.status_code == 202, submitted.text
    body = submitted.json()
    assert body["status"] == "queued"
    assert submitted.headers["Location"] == f"/v1/packages/{body['id']}"
    assert int(submitted.headers["Retry-After"]) >= 1

    done = service.wait_for(submitted.headers["Location"], broker, ("offered", "no_offer"))
    assert done["status"] == "offered"
    feasible = [o for o in done["offers"] if o["feasible"]]
    assert {o["agency_id"] for o in feasible} == {"isl-agency", "kgx-agency"}
    assert [o["rank"] for o in feasible] == [1, 2]
    best = feasible[0]["agency_id"]
    other = feasible[1]["agency_id"]

    accepted = service.client.post(
        f"/v1/packages/{body['id']}/accept", json={"agency_id": best}, headers=service.auth(broker)
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["accepted_agency_id"] == best

    winner = service.key("agency", best)
    feed = service.client.get(f"/v1/agencies/{best}/events", headers=service.auth(winner))
    assert feed.status_code == 200
    [event] = feed.json()["events"]
    assert event["type"] == "package.won"
    assert event["data"]["package_id"] == body["id"]
    assert feed.json()["next_cursor"] == event["seq"]
    again = service.client.get(
        f"/v1/agencies/{best}/events", params={"after": event["seq"]}, headers=service.auth(winner)
    )
    assert again.json()["events"] == []

    loser = service.key("agency", other)
    lost = service.client.get(f"/v1/agencies/{other}/events", headers=service.auth(loser))
    assert [e["type"] for e in lost.json()["events"]] == ["offer.not_taken"]

    roster = service.client.get(f"/v1/agencies/{best}/roster", headers=service.auth(winner))
    assert roster.status_code == 200
    assert roster.json()["check"] == {"valid": True, "violations": []}
    marys = [a for a in roster.json()["assignments"] if a["package_id"] == "mary"]
    assert len(marys) == 14  # 3 showers, 3 mornings, a Sunday and 7 evenings
    # independently of the API: what is stored passes the checker
    factory = make_sessionmaker(make_engine(service.settings.database_url))
    with factory() as session:
        assert violations(agencies.load(session, best).entry) == []


def test_package_is_stored_before_matching(service: Service) -> None:
    """The 202 answer comes from a stored package (readable at once, queued or further
    along), whatever the worker is doing."""
    service.import_market(small_market())
    broker = service.key("broker")
    submitted = service.client.post("/v1/packages", json=mary(), headers=service.auth(broker))
    read = service.client.get(submitted.headers["Location"], headers=service.auth(broker))
    assert read.status_code == 200
    assert read.json()["package"]["id"] == "mary"
    assert read.json()["status"] in ("queued", "matching", "offered")


def test_offers_in_the_api_are_the_published_match_output(service: Service) -> None:
    """The offers `GET /v1/packages/{id}` documents are the offers of `carematch schema
    --match`: the same keys, all required (one definition, `matcher.matching.Offer`);
    likewise the split offers (`SplitOffer`, `SplitPart`)."""
    from matcher.matching import match_json_schema

    published = match_json_schema()["$defs"]
    documented = service.client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("Offer", "Score", "Move", "SplitOffer", "SplitPart"):
        assert set(documented[name]["properties"]) == set(published[name]["properties"]), name
        assert set(documented[name]["required"]) == set(published[name]["required"]), name
