"""The pages in a real browser (Debian's Chromium through Playwright) against a real
`carematch serve`: issue 14's acceptance path, the server's errors beside the field
they name, one agency kept out of another's pages, no console errors and no serious
accessibility faults on any page (each page's screenshot kept)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.api.conftest import MARY
from tests.web.conftest import Visit, open_visit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def fill_package(visit: Visit, package: dict[str, Any]) -> None:
    """Type a package into the new-package form, field by field, as a broker would."""
    page = visit.page
    client = package["client"]
    page.get_by_label("Package reference").fill(package["id"])
    page.get_by_label("Client reference").fill(client["id"])
    page.get_by_label("Client's name").fill(client["name"])
    page.get_by_label("Home latitude").fill(str(client["location"]["lat"]))
    page.get_by_label("Home longitude").fill(str(client["location"]["lon"]))
    page.get_by_label("Carers' gender").select_option(client.get("gender_preference", "none"))
    if "budget" in package:
        pounds, pence = divmod(package["budget"]["amount_pence"], 100)
        page.get_by_label("Budget (£)").fill(f"{pounds}.{pence:02d}")
        page.get_by_label("per", exact=True).select_option(package["budget"].get("period", "year"))
    for row, line in enumerate(package["visits"]):
        box = page.locator(f"#visit-{row}")
        for day in line["weekdays"]:
            box.get_by_role("checkbox", name=day).check()
        box.get_by_label("Preferred start from").fill(line["window"]["start"])
        box.get_by_label("to", exact=True).fill(line["window"]["end"])
        box.get_by_label("Minutes").fill(str(line["duration_min"]))
        box.get_by_label("Carers").select_option(str(line.get("carers", 1)))
        box.get_by_label("Skills").fill(", ".join(line.get("skills", [])))
        box.get_by_label("Tasks").fill(", ".join(line.get("tasks", [])))
        box.get_by_label("Line id (optional)").fill(line.get("id", ""))


def test_mary_from_the_broker_to_the_winning_agency(visit: Visit, browser: Any) -> None:
    """Issue 14's acceptance path. A broker signs in, types Mary's package, sees the
    ranked offers (the £12.50 agency feasible at exactly £4,387.50 a year, the £13.00
    one refused on the budget), accepts; the winning agency signs in and finds the
    package in its inbox, Mary's 14 visits on its Gantt and her home on its map."""
    page = visit.page
    see = expect()
    visit.goto("/")
    visit.check("signin")
    visit.sign_in(visit.site.broker)
    see(page).to_have_url(re.compile(r"/broker/packages$"))
    visit.check("broker-packages-empty")

    page.get_by_role("link", name="New package").first.click()
    fill_package(visit, json.loads(MARY.read_text()))
    visit.check("broker-new-package")
    page.get_by_role("button", name="Submit for matching").click()
    see(page).to_have_url(re.compile(r"/broker/packages/pkg_"))
    see(page.locator("#package-status")).to_have_text("offered", timeout=90_000)

    isl = page.locator("#offer-isl-agency")
    see(isl.locator(".rank")).to_have_text("#1")
    see(isl.locator(".cost strong")).to_have_text("£4,387.50")
    see(isl).to_contain_text("£12.50 an hour")
    see(page.locator("#offer-cam-agency")).to_have_count(0)  # not among the feasible
    cam = page.locator("#refused-cam-agency")
    see(cam).to_contain_text("£13.00 an hour")
    see(cam.locator(".reason").first).to_contain_text(re.compile(r"^budget: .*£13\.00/h"))
    visit.check("broker-offers")

    isl.get_by_role("link", name=re.compile("^Accept")).click()
    see(page.get_by_role("heading", level=1)).to_contain_text("Accept")
    visit.check("broker-accept-confirm")
    page.get_by_role("button", name="Yes, accept").click()
    see(page.locator("#package-status")).to_have_text("accepted")
    see(page.locator("#accepted-agency")).to_have_text("isl-agency")
    visit.check("broker-accepted")

    page.get_by_role("link", name="My packages").click()
    see(page.locator("#packages tbody tr")).to_have_count(1)
    page.get_by_label("Status").select_option("no_offer")
    page.get_by_role("button", name="Filter").click()
    see(page.locator("#packages")).to_have_count(0)
    page.get_by_label("Status").select_option("accepted")
    page.get_by_role("button", name="Filter").click()
    see(page.locator("#packages tbody tr")).to_contain_text("Mary")
    visit.check("broker-packages")

    # The winning agency, in a browser of its own.
    agency = open_visit(browser, visit.site, visit.screens)
    try:
        see_the_agency_side(agency)
    finally:
        agency.page.context.close()


def see_the_agency_side(visit: Visit) -> None:
    page = visit.page
    see = expect()
    visit.sign_in(visit.site.agency["isl-agency"])
    see(page).to_have_url(re.compile(r"/agency/isl-agency/roster$"))
    see(page.locator("#gantt[data-ready=true]")).to_have_count(1)
    see(page.locator("#roster-table tr[data-client=mary-client]")).to_have_count(14)
    see(page.locator("#verdict")).to_have_text("every hard rule kept")
    visit.check("agency-roster")

    page.get_by_role("link", name="Inbox").click()
    won = page.locator("li.event-package-won[data-package=mary]")
    see(won).to_contain_text("£4,387.50")
    visit.check("agency-inbox")

    won.get_by_role("link", name="the roster").click()  # her carers' rows only
    see(page.get_by_label("Carers of")).to_have_value("mary-client")
    see(page.locator("#gantt[data-ready=true]")).to_have_count(1)
    marys = page.locator(".vis-item.client-mary-client.focus")
    see(marys).to_have_count(14)  # the week view: every one of her visits drawn
    page.get_by_role("button", name="Mon", exact=True).click()  # the day view
    page.locator(".vis-item.client-mary-client.focus:visible").first.click()
    see(page.locator("#visit-detail")).to_contain_text("Mary (mary-client), Monday")
    visit.check("agency-roster-mary")

    page.get_by_role("link", name="Map").click()
    home = page.locator("#home-mary-client")
    see(home).to_have_count(1)
    box = home.bounding_box()
    frame = page.locator("svg#map").bounding_box()
    assert box is not None and frame is not None
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
    visit.check("agency-map")


def test_a_bad_field_shows_the_servers_message_beside_it(visit: Visit) -> None:
    """A preferred window that ends before it starts (no browser hint can know) comes
    back from the server; its message, word for word the JSON API's for the same
    package, stands beside that line's window and the form keeps what was typed."""
    page = visit.page
    see = expect()
    visit.sign_in(visit.site.broker)
    visit.goto("/broker/packages/new")
    package = json.loads(MARY.read_text())
    package["id"], package["client"]["id"] = "mary-bad", "mary-bad-client"
    package["visits"][1]["window"] = {"start": "08:00", "end": "07:00"}
    fill_package(visit, package)
    page.get_by_role("button", name="Submit for matching").click()

    api = httpx.post(
        visit.site.url + "/v1/packages",
        json=package,
        headers={"Authorization": f"Bearer {visit.site.broker}"},
    )
    assert api.status_code == 422
    [error] = api.json()["errors"]
    assert error["field"] == "body.visits[1].window"

    shown = page.locator('[data-field="visits[1].window"]')
    see(shown).to_have_text(error["message"])
    end = page.locator("#visit-1").get_by_label("to", exact=True)
    see(end).to_have_value("07:00")
    # beside the field: in the same form field as the window's end
    field = page.locator("#visit-1 .field", has=page.locator("#v1-end"))
    see(field.locator(".error")).to_have_text(error["message"])
    see(end).to_have_attribute("aria-invalid", "true")
    see(page.locator("#error-summary")).to_contain_text("visits[1].window")
    see(page.locator("#visit-0 .error")).to_have_count(0)
    visit.check("broker-new-package-error")


def test_an_agency_key_cannot_open_another_agencys_pages(visit: Visit) -> None:
    """isl-agency's coordinator asks for kgx-agency's pages: 404, as the API answers,
    and nothing of kgx-agency on them; a broker key gets 403 on agency pages."""
    page = visit.page
    visit.sign_in(visit.site.agency["isl-agency"])
    kgx_workers = [
        w["name"]
        for a in visit.site.market["agencies"]
        for w in a["workers"]
        if a["agency"]["id"] == "kgx-agency"
    ]
    for part in ("roster", "map", "inbox", "slots", "workers", "clients", "workers/kgx-w01"):
        response = visit.goto(f"/agency/kgx-agency/{part}")
        assert response is not None and response.status == 404, part
        body = page.content()
        assert "kgx-w" not in body and not any(name in body for name in kgx_workers), part
        assert page.locator("#gantt, svg#map, table").count() == 0, part
    visit.check("agency-other-agency-404")

    page.context.clear_cookies()
    visit.sign_in(visit.site.broker)
    response = visit.goto("/agency/isl-agency/roster")
    assert response is not None and response.status == 403
    assert page.locator("#gantt").count() == 0
    visit.check("broker-on-agency-page-403")


def test_signed_out_pages_lead_to_sign_in(visit: Visit) -> None:
    """Without a session every page leads back to the sign-in page; a wrong key is
    refused there; signing out ends the session."""
    page = visit.page
    see = expect()
    visit.goto("/agency/isl-agency/roster")
    see(page).to_have_url(visit.site.url + "/")
    visit.sign_in("cm_0000000000000000.wrong")
    see(page.locator("#key-error")).to_have_text("that key is not valid")
    visit.check("signin-refused")
    visit.sign_in(visit.site.broker)
    see(page).to_have_url(re.compile("/broker/packages$"))
    page.get_by_role("button", name="Sign out").click()
    see(page).to_have_url(visit.site.url + "/")
    visit.goto("/broker/packages")
    see(page).to_have_url(visit.site.url + "/")


def test_forms_need_the_sessions_csrf_token(visit: Visit) -> None:
    """A signed-in browser's POST without the form's CSRF token, or from another
    site, is refused (403) and changes nothing."""
    visit.sign_in(visit.site.broker)
    request = visit.page.request
    before = httpx.get(
        visit.site.url + "/v1/packages",
        headers={"Authorization": f"Bearer {visit.site.broker}"},
    ).json()["packages"]
    form = {"id": "csrf-probe", "client.id": "csrf-probe-client"}
    refused = request.post(visit.site.url + "/broker/packages", form=form)
    assert refused.status == 403
    token = re.search(
        r'name="csrf" value="([^"]+)"', visit.goto("/broker/packages/new").text()
    ).group(1)
    elsewhere = request.post(
        visit.site.url + "/broker/packages",
        form={**form, "csrf": token},
        headers={"Origin": "http://evil.example"},
    )
    assert elsewhere.status == 403
    after = httpx.get(
        visit.site.url + "/v1/packages",
        headers={"Authorization": f"Bearer {visit.site.broker}"},
    ).json()["packages"]
    assert after == before


def busy_worker(site: Any, agency_id: str) -> tuple[str, str]:
    """A worker of the agency with committed visits, and a weekday they work."""
    entry = next(a for a in site.market["agencies"] if a["agency"]["id"] == agency_id)
    first = entry["roster"][0]
    return first["workers"][0], first["weekday"]


def test_the_agencys_other_pages(visit: Visit) -> None:
    """Where does it fit? lists slots best first and draws them on the Gantt, and its
    server errors stand beside their field; workers and clients are listed; a worker
    edit that would break the committed roster is refused with the checker's
    reasons and nothing changes, a harmless one is saved. No console error and no
    serious accessibility fault on any of these pages."""
    page = visit.page
    see = expect()
    site = visit.site
    visit.sign_in(site.agency["isl-agency"])
    page.get_by_role("link", name="Where does it fit?").click()
    visit.check("agency-slots-form")
    page.get_by_label("Minutes", exact=True).fill("45")
    page.get_by_label("Earliest start").fill("10:00")
    page.get_by_label("Latest start").fill("09:00")
    page.get_by_role("button", name="Find slots").click()
    see(page.locator('[data-field="between"]')).to_contain_text("before start")
    visit.check("agency-slots-error")
    page.get_by_label("Latest start").fill("14:00")
    page.get_by_role("checkbox", name="Tue").check()
    page.get_by_role("button", name="Find slots").click()
    rows = page.locator("#slots tbody tr")
    see(rows.first).to_be_visible()
    travel = [int(t.split()[0]) for t in rows.locator("td:nth-child(5)").all_inner_texts()]
    assert travel == sorted(travel)  # best (least added travel) first
    see(page.locator("#gantt[data-ready=true]")).to_have_count(1)
    see(page.locator(".vis-item.slot").first).to_be_visible()
    visit.check("agency-slots")

    page.get_by_role("link", name="Clients").click()
    see(page.locator("#clients tbody tr").first).to_be_visible()
    visit.check("agency-clients")
    entry = next(a for a in site.market["agencies"] if a["agency"]["id"] == "isl-agency")
    visited = entry["roster"][0]
    client_api = f"{site.url}/v1/agencies/isl-agency/clients/{visited['client_id']}"
    auth = {"Authorization": f"Bearer {site.agency['isl-agency']}"}
    client_before = httpx.get(client_api, headers=auth).json()
    page.locator(f"#clients tr[data-client={visited['client_id']}]").get_by_role("link").click()
    page.get_by_label("Excluded carers").fill(visited["workers"][0])
    page.get_by_role("button", name="Save").click()
    see(page.locator("#violations li").first).to_contain_text(visited["workers"][0])
    assert httpx.get(client_api, headers=auth).json() == client_before
    visit.check("agency-client-refused")
    page.get_by_role("link", name="Workers").click()
    worker_id, day = busy_worker(site, "isl-agency")
    visit.check("agency-workers")
    visit.goto(f"/agency/isl-agency/workers/{worker_id}")
    api = f"{site.url}/v1/agencies/isl-agency/workers/{worker_id}"
    before = httpx.get(api, headers=auth).json()
    for shift in range(2):
        page.locator(f"#a-{day}-{shift}-s").fill("")
        page.locator(f"#a-{day}-{shift}-e").fill("")
    page.get_by_role("button", name="Save").click()
    see(page.locator("#violations li").first).to_be_visible()
    see(page.locator("#error-summary")).to_contain_text("break")
    assert httpx.get(api, headers=auth).json() == before
    visit.check("agency-worker-refused")
    visit.goto(f"/agency/isl-agency/workers/{worker_id}")
    page.get_by_label("Name").fill(before["name"] + " (edited)")
    page.get_by_role("button", name="Save").click()
    see(page.get_by_role("status")).to_contain_text("Saved")
    assert httpx.get(api, headers=auth).json()["name"] == before["name"] + " (edited)"
    visit.check("agency-worker-saved")
