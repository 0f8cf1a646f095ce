"""Exact money for the living week: pence as fractions, written as decimal strings.

Care is priced by the minute at an hourly rate in pence (`matcher.timeutil.cost_pence`),
so a quarter of an hour at £12.50 is 312.5 pence: exact money is a fraction of a penny,
not a whole number of pence, and never a float. Inside the engine money is a
`fractions.Fraction`; in JSON it is a string holding the exact decimal number of pence
("8437.5", "438750"), which a reader turns back into a `Decimal` without loss. A rate
and a minute count whose price does not end in decimal (1 minute at £12.50 is 20⅚
pence) are written as the exact fraction ("125/6"): rounded nowhere.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from matcher.timeutil import format_pounds

__all__ = ["pence_json", "pence_text"]


def pence_json(amount: Fraction | int) -> str:
    """The exact amount of pence as a string: a decimal when it ends, else "p/q"."""
    value = Fraction(amount)
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(exact.normalize(), "f")
    return text


def pence_text(amount: Fraction | int) -> str:
    """£1,234.56 for people (rounded half up to the penny only here, for display)."""
    return format_pounds(Fraction(amount))
