"""Hypothesis strategies that mutate a valid JSON document into a hostile one: the
fuzz tests of both edges (`tests/test_fuzz_cli.py`, `tests/api/test_fuzz_hostile.py`)
start from real inputs and break them the ways section 4 of issue 16 lists (types,
bounds, unicode, nesting, sizes), one to three places at a time, so that most examples
get past the parser and reach deep validation, or the engine itself.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]

HUGE = [10**20, -(10**20), 2**63, 2**64 + 1, 10**400]
FLOATS = [float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 0.5, 1e-300]
TEXTS = [
    "",
    " ",
    "30",
    "1e3",
    "NaN",
    "Monkey",
    "mon",
    "MONDAY",
    "\u0660\u0667:00",
    "07:00\n",
    "24:01",
    "[/]",
    "[bold]x[/bold",
    ":smile:",
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "\x00",
    "é" * 300,
    "x" * 30_000,
]


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every place in the document (the root excluded), depth first."""
    found: list[Path] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found.append((*prefix, i))
            found.extend(paths(child, (*prefix, i)))
    return found


def get(doc: Any, path: Path) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def replacements(original: Any) -> st.SearchStrategy[Any]:
    """What a place may become: another type, a value out of bounds, odd unicode, deep
    nesting, a long list of copies of itself."""
    same_type: list[st.SearchStrategy[Any]] = []
    if isinstance(original, bool):
        same_type.append(st.booleans())
    elif isinstance(original, int):
        same_type += [st.integers(), st.sampled_from(HUGE), st.just(-original), st.just(0)]
    elif isinstance(original, float):
        same_type += [st.floats(), st.sampled_from(FLOATS)]
    elif isinstance(original, str):
        same_type += [
            st.text(max_size=40),
            st.sampled_from(TEXTS),
            st.just(original * 50),
            st.just(original.upper()),
            st.just(original[:3]),
        ]
    elif isinstance(original, list):
        same_type += [
            st.just([]),
            st.just(original * 60),
            st.just(original[:1] * 3),
        ]
    elif isinstance(original, dict):
        same_type += [st.just({}), st.just({**original, "unknown_key": 1})]
    other = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(HUGE + FLOATS + TEXTS),
        st.just(str(original)[:50]),
        st.just({"unknown_key": original}),
        st.just([original]),
        st.integers(min_value=50, max_value=500).map(nested),
    )
    return st.one_of(*same_type, other) if same_type else other


@st.composite
def mutated(draw: st.DrawFn, document: Any, *, max_changes: int = 3) -> Any:
    """`document` with one to `max_changes` places replaced, deleted, or given a key
    nobody knows."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=max_changes))):
        places = paths(doc)
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = get(doc, path[:-1])
        last = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add_key"]))
        if action == "delete":
            del parent[last]
        elif action == "add_key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "Mon", "speed", "1", "[key]"]))] = draw(
                replacements(0)
            )
        else:
            parent[last] = draw(replacements(parent[last]))
    return doc


def encoded(document: Any) -> bytes:
    """The document as a careless tool writes it: NaN and Infinity as bare words,
    lone surrogates passed through (so the bytes are not UTF-8)."""
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def hostile_bytes(draw: st.DrawFn, document: Any) -> bytes:
    """A mutated document, sometimes also cut short, given a byte that is not UTF-8,
    or wrapped in deep nesting."""
    data = encoded(draw(mutated(document)))
    twist = draw(st.sampled_from(["none", "none", "none", "truncate", "bad_byte", "deep"]))
    if twist == "truncate":
        data = data[: draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))]
    elif twist == "bad_byte":
        at = draw(st.integers(min_value=0, max_value=len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[at:]
    elif twist == "deep":
        depth = draw(st.integers(min_value=900, max_value=200_000))
        data = b"[" * depth + data + b"]" * depth
    return data
