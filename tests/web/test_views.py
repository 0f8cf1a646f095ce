"""The pages' Python side without a browser: money shown exactly, the package form
to and from the API's JSON, the map inside its drawing."""

from __future__ import annotations

import json

from starlette.datastructures import FormData

from api.web import views
from matcher.market import Market
from matcher.schema import CarePackage
from matcher.timeutil import Weekday
from tests.api.conftest import MARKET_URBAN, MARY


def test_pounds_are_exact() -> None:
    """Pence shown as pounds with integer arithmetic: Mary's budget to the penny."""
    assert views.pounds(438750) == "£4,387.50"
    assert views.pounds(1) == "£0.01"
    assert views.pounds(-1250) == "-£12.50"
    assert views.pounds(None) == "-"


def as_form(values: dict) -> FormData:
    items = []
    for key, value in values.items():
        items += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return FormData(items)


def test_the_form_gives_back_the_package_it_was_filled_with() -> None:
    """Mary's package into the form's fields and back is the same package, once the
    API's model has read it (numbers typed as text become JSON numbers)."""
    mary = CarePackage.model_validate(json.loads(MARY.read_text()))
    typed = views.read_package_form(as_form(views.package_form_values(mary)))
    assert typed.errors == []
    assert CarePackage.model_validate(typed.document) == mary


def test_empty_rows_are_skipped_and_errors_name_the_row_typed() -> None:
    """A line typed in the third row is the API's visits[0]; an error there is shown
    on the third row."""
    values = views.package_form_values(json.loads(MARY.read_text()))
    moved = {k: v for k, v in values.items() if not k.startswith("visits[")}
    for key, value in values.items():
        if key.startswith("visits[0]"):
            moved[key.replace("visits[0]", "visits[2]")] = value
    typed = views.read_package_form(as_form(moved))
    assert typed.rows == [2]
    assert typed.field_of("body.visits[0].window") == "visits[2].window"
    assert typed.field_of("body.client.name") == "client.name"


def test_a_budget_that_is_not_pounds_and_pence_is_named() -> None:
    values = {**views.package_form_values(json.loads(MARY.read_text())), "budget.amount": "12.345"}
    typed = views.read_package_form(as_form(values))
    assert [e["field"] for e in typed.errors] == ["budget.amount_pence"]


def test_the_map_fits_every_home_in_its_drawing() -> None:
    """Every client's and carer's home lands inside the viewBox; a route starts and
    ends at its carer's home."""
    entry = Market.model_validate_json(MARKET_URBAN.read_text()).agencies[0]
    drawing = views.draw_map(entry, Weekday.MON, None)
    for point in drawing.clients + drawing.workers:
        assert 0 <= point["x"] <= drawing.width and 0 <= point["y"] <= drawing.height
    assert drawing.routes
    homes = {w["id"]: f"{w['x']},{w['y']}" for w in drawing.workers}
    for route in drawing.routes:
        points = route["points"].split()
        assert points[0] == points[-1] == homes[route["worker"]]


def test_a_place_picked_gives_the_home() -> None:
    """A place of the demo region stands for the home when latitude and longitude are
    left empty; a place not in the list is named as the bad field."""
    assert "Islington" in views.places()
    values = {
        **views.package_form_values(json.loads(MARY.read_text())),
        "client.location.lat": "",
        "client.location.lon": "",
        "client.place": "Islington",
    }
    typed = views.read_package_form(as_form(values))
    lat, lon = views.places()["Islington"]
    assert typed.document["client"]["location"] == {"lat": lat, "lon": lon}
    typed = views.read_package_form(as_form({**values, "client.place": "Atlantis"}))
    assert [e["field"] for e in typed.errors] == ["client.place"]


def test_refused_offers_show_their_nearest_fits_and_the_single_changes() -> None:
    """A package nobody can take (06:30 sharp; shifts start at 07:00): each agency's
    nearest fit and the changes that make it fit reach the broker's page."""
    from api.web.routes import templates
    from matcher.market_samples import early_riser
    from matcher.matching import MatchParams, match

    market = Market.model_validate_json(MARKET_URBAN.read_text())
    small = market.model_copy(update={"agencies": market.agencies[:2]})
    result = match(small, early_riser(), MatchParams(time_limit_s=0.3, processes=1)).to_json()
    page = templates.get_template("broker/_offers.html").render(
        p={"id": "p1", "status": "no_offer", "elapsed_s": 1.0, **result}, open=False
    )
    assert "Nearest fit: Monday&#39;s 06:30 visit fits from 07:" in page
    assert "One change that makes it fit" in page
    assert page.count('class="nearest-fit"') == sum(
        1 for o in result["offers"] for n in o["nearest_fits"] if n["fits"]
    )


def test_offers_show_how_the_councils_policy_placed_them() -> None:
    """Each feasible offer shows its agency's contract and rating; under a policy other
    than the care score alone, the placement's explanation too."""
    from api.web.routes import templates
    from matcher.brokerage.policy import RankingPolicy
    from matcher.market_samples import mary_council_funded
    from matcher.matching import MatchParams, match

    market = Market.model_validate_json(MARKET_URBAN.read_text())
    small = market.model_copy(
        update={"agencies": [a for a in market.agencies if a.id in ("isl-agency", "hol-agency")]}
    )
    params = MatchParams(time_limit_s=0.3, processes=1, deterministic=True)
    for policy, explained in (
        (RankingPolicy(), False),
        (RankingPolicy(order_by_contract=True), True),
    ):
        ruled = small.model_copy(update={"ranking_policy": policy})
        result = match(ruled, mary_council_funded(), params).to_json()
        page = templates.get_template("broker/_offers.html").render(
            p={"id": "p1", "status": "offered", "elapsed_s": 1.0, **result}, open=False
        )
        assert page.count('class="placement"') == 2
        assert "block contract · CQC Good" in page and "framework contract · CQC Good" in page
        said = "block contract: offered before framework and spot agencies" in page
        assert said == explained


def test_a_split_offer_reaches_the_brokers_page() -> None:
    """Mornings-only and evenings-only agencies: the split and its summary are shown."""
    from api.web.routes import templates
    from matcher.matching import match
    from tests.test_split import AM_PM, EVENINGS, MORNINGS, SERIAL

    result = match(Market(agencies=[MORNINGS, EVENINGS]), AM_PM, SERIAL).to_json()
    page = templates.get_template("broker/_offers.html").render(
        p={"id": "p1", "status": "no_offer", "elapsed_s": 1.0, **result}, open=False
    )
    (split,) = result["splits"]
    assert 'data-agencies="north high"' in page
    assert split["summary"].replace("'", "&#39;") in page


def test_a_split_is_accepted_from_the_brokers_page(tmp_path) -> None:
    """The broker signs in, finds "Accept this split…" beside the split, confirms on
    the page it leads to, and the form (its CSRF token, `split` = the rank) accepts it
    through the API's accept: the package page then names both agencies. Without the
    session's CSRF token the same form is refused and nothing is accepted."""
    import re

    from tests.api.conftest import running_service
    from tests.test_split import AM_PM, EVENINGS, MORNINGS

    with running_service(f"sqlite:///{tmp_path / 'carematch.db'}") as service:
        service.import_market(
            {"agencies": [a.model_dump(mode="json") for a in (MORNINGS, EVENINGS)]}
        )
        broker = service.key("broker")
        submitted = service.client.post(
            "/v1/packages", json=AM_PM.model_dump(mode="json"), headers=service.auth(broker)
        )
        package_id = submitted.json()["id"]
        service.wait_for(f"/v1/packages/{package_id}", broker, ("offered", "no_offer"))
        client = service.client
        signed_in = client.post("/signin", data={"key": broker}, follow_redirects=False)
        assert signed_in.status_code == 303

        page = client.get(f"/broker/packages/{package_id}").text
        link = f"/broker/packages/{package_id}/accept?split=1"
        assert f'href="{link}">Accept this split…</a>' in page
        confirm = client.get(link)
        assert confirm.status_code == 200
        assert 'name="split" value="1"' in confirm.text
        assert 'data-agency="north"' in confirm.text and 'data-agency="high"' in confirm.text
        assert client.get(f"/broker/packages/{package_id}/accept?split=2").status_code == 404
        action = f"/broker/packages/{package_id}/accept"
        form = re.search(f'<form method="post" action="{action}".*?</form>', confirm.text, re.S)
        assert form is not None
        (csrf,) = re.findall(r'name="csrf" value="([^"]+)"', form.group())

        forged = client.post(action, data={"split": "1", "csrf": "forged"})
        assert forged.status_code == 403
        both = client.post(action, data={"split": "1", "agency_id": "north", "csrf": csrf})
        assert both.status_code == 422 and "choose an offer" in both.text
        accepted = client.post(action, data={"split": "1", "csrf": csrf}, follow_redirects=False)
        assert accepted.status_code == 303, accepted.text
        assert accepted.headers["location"] == f"/broker/packages/{package_id}"
        shown = client.get(f"/broker/packages/{package_id}").text
        assert '<strong id="accepted-agency">north and high</strong> (split 1)' in shown
        assert "Accept this split…" not in shown
        api = client.get(f"/v1/packages/{package_id}", headers=service.auth(broker)).json()
        assert api["accepted_agency_ids"] == ["north", "high"]

        # The evening agency's inbox says it won a part, and who has the rest.
        client.cookies.clear()
        client.post("/signin", data={"key": service.key("agency", "high")})
        inbox = client.get("/agency/high/inbox/events").text
        assert "Part of a split: 3 of the package's visits are yours" in inbox
        assert "the rest go to north." in inbox


def test_an_offer_is_still_accepted_from_the_brokers_page(tmp_path) -> None:
    """The form of a whole offer (`agency_id`) accepts it as before split offers."""
    import re

    from tests.api.conftest import running_service
    from tests.api.test_packages import hour_visit, one_carer_market

    with running_service(f"sqlite:///{tmp_path / 'carematch.db'}") as service:
        service.import_market(one_carer_market())
        broker = service.key("broker")
        submitted = service.client.post(
            "/v1/packages", json=hour_visit(1), headers=service.auth(broker)
        )
        package_id = submitted.json()["id"]
        service.wait_for(f"/v1/packages/{package_id}", broker, ("offered",))
        client = service.client
        client.post("/signin", data={"key": broker})
        confirm = client.get(f"/broker/packages/{package_id}/accept?agency_id=solo").text
        assert 'name="agency_id" value="solo"' in confirm and 'name="split"' not in confirm
        (csrf,) = set(re.findall(r'name="csrf" value="([^"]+)"', confirm))
        action = f"/broker/packages/{package_id}/accept"
        accepted = client.post(action, data={"agency_id": "solo", "csrf": csrf})
        assert accepted.status_code == 200  # the package page, after the redirect
        assert '<strong id="accepted-agency">solo</strong>' in accepted.text


def test_a_package_is_submitted_again_with_a_change_from_the_brokers_page(tmp_path) -> None:
    """A package nobody can take (06:30 sharp; shifts start at 07:00) lists its single
    changes; "Submit again with this change…" leads to a confirmation whose form (CSRF
    token, the change's rank) submits the changed package as the match stored it: the
    new package is matched and offered, at least by the change's agency, and the
    earlier one is withdrawn. A forged token and an unknown change are refused."""
    import re

    from matcher.market_samples import early_riser
    from tests.api.conftest import running_service

    market = json.loads(MARKET_URBAN.read_text())
    market["agencies"] = market["agencies"][:2]
    with running_service(f"sqlite:///{tmp_path / 'carematch.db'}") as service:
        service.import_market(market)
        broker = service.key("broker")
        submitted = service.client.post(
            "/v1/packages", json=early_riser().model_dump(mode="json"), headers=service.auth(broker)
        )
        package_id = submitted.json()["id"]
        before = service.wait_for(f"/v1/packages/{package_id}", broker, ("offered", "no_offer"))
        assert before["status"] == "no_offer" and before["changes"]
        change = before["changes"][0]
        client = service.client
        client.post("/signin", data={"key": broker})
        link = f"/broker/packages/{package_id}/resubmit?change={change['rank']}"
        assert (
            f'href="{link}">Submit again with this change…</a>'
            in client.get(f"/broker/packages/{package_id}").text
        )
        assert client.get(f"/broker/packages/{package_id}/resubmit?change=99").status_code == 404
        confirm = client.get(link).text
        assert change["description"].replace("'", "&#39;") in confirm
        (csrf,) = set(re.findall(r'name="csrf" value="([^"]+)"', confirm))
        action = f"/broker/packages/{package_id}/resubmit"
        assert client.post(action, data={"change": change["rank"], "csrf": "x"}).status_code == 403
        sent = client.post(
            action, data={"change": change["rank"], "csrf": csrf}, follow_redirects=False
        )
        assert sent.status_code == 303, sent.text
        new_id = sent.headers["location"].rsplit("/", 1)[1]
        assert new_id != package_id
        after = service.wait_for(f"/v1/packages/{new_id}", broker, ("offered", "no_offer"))
        assert after["package"] == change["package"]
        assert after["status"] == "offered"
        assert change["agency_id"] in {o["agency_id"] for o in after["offers"] if o["feasible"]}
        old = client.get(f"/v1/packages/{package_id}", headers=service.auth(broker)).json()
        assert old["status"] == "withdrawn"
