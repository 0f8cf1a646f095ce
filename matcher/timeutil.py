"""Week-relative time and money helpers shared by every layer.

Inside the engine a moment is an integer number of minutes from Monday 00:00 of the
planning week; at the edges (JSON, CLI, reasons) it is a weekday plus "HH:MM". Money is
integer pence; annual figures derived from weekly minutes are exact fractions and are
only rounded when shown.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

MINUTES_PER_DAY = 24 * 60
WEEKS_PER_YEAR = 52


class Weekday(StrEnum):
    """Days of the planning week, in order, Monday first."""

    MON = "Mon"
    TUE = "Tue"
    WED = "Wed"
    THU = "Thu"
    FRI = "Fri"
    SAT = "Sat"
    SUN = "Sun"

    @property
    def index(self) -> int:
        """0 for Monday to 6 for Sunday (a table: the checker and timelines ask it
        hundreds of thousands of times a match)."""
        return _INDEX[self]

    @property
    def full_name(self) -> str:
        return _FULL_NAMES[self.index]

    @classmethod
    def parse(cls, text: str) -> Weekday:
        """Accept "Mon", "mon", "Monday" or "MONDAY": the short or the full name, in any
        case, and nothing else ("Monkey" once passed as Monday, on its first letters)."""
        day = _BY_NAME.get(text.lower())
        if day is None:
            names = ", ".join(d.value for d in cls)
            raise ValueError(f"unknown weekday {shorten(text)!r} (use one of {names})")
        return day


_FULL_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)
_INDEX: Mapping[Weekday, int] = MappingProxyType({d: i for i, d in enumerate(WEEKDAYS)})
_BY_NAME: dict[str, Weekday] = {
    **{d.value.lower(): d for d in WEEKDAYS},
    **{name.lower(): d for name, d in zip(_FULL_NAMES, WEEKDAYS, strict=True)},
}
# ASCII digits only: str.isdigit() also takes Arabic-Indic and other digits, which
# int() then reads, so "٠٧:٠٠" once parsed as 07:00.
_HHMM = re.compile(r"([0-9]{1,2}):([0-9]{2})", re.ASCII)


def shorten(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters with an ellipsis: error messages quote what
    they refuse, and a 30,000-character value must not become a 30,000-character line."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=4096)
def parse_hhmm(text: str) -> int:
    """Minutes after midnight for "HH:MM"; "24:00" is allowed as an end of day.

    Cached: `TimeRange` keeps its text and parses it on every use, millions of times
    in a broker match, and there are only 1,441 valid times (errors are not cached).
    """
    found = _HHMM.fullmatch(text)
    if found is None:
        raise ValueError(f"time {shorten(text)!r} is not HH:MM")
    hours, minutes = int(found[1]), int(found[2])
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes > 0):
        raise ValueError(f"time {text!r} is not a time of day")
    return hours * 60 + minutes


def format_hhmm(minute_of_day: int) -> str:
    hours, minutes = divmod(minute_of_day, 60)
    return f"{hours:02d}:{minutes:02d}"


def week_minute(day: Weekday, minute_of_day: int) -> int:
    return day.index * MINUTES_PER_DAY + minute_of_day


def split_week_minute(minute: int) -> tuple[Weekday, int]:
    day, minute_of_day = divmod(minute, MINUTES_PER_DAY)
    return WEEKDAYS[day], minute_of_day


def format_week_minute(minute: int) -> str:
    day, minute_of_day = split_week_minute(minute)
    return f"{day.value} {format_hhmm(minute_of_day)}"


def format_pounds(pence: int | Fraction) -> str:
    """£1,234.56, rounding half up to the penny (only for display)."""
    value = Fraction(pence)
    whole_pence = int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))
    pounds, rest = divmod(abs(whole_pence), 100)
    sign = "-" if whole_pence < 0 else ""
    return f"{sign}£{pounds:,}.{rest:02d}"


def cost_pence(carer_minutes: int, hourly_rate_pence: int) -> Fraction:
    """Exact price of `carer_minutes` of care at an hourly rate."""
    return Fraction(carer_minutes * hourly_rate_pence, 60)
