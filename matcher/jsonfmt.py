"""Readable JSON for committed sample files: short things on one line, the rest nested.

`json.dumps(indent=...)` puts every list item on its own line, which makes a roster of
thousands of assignments unreadable and large; this writes any value whose line fits
in `width` on one line and nests only what does not.
"""

from __future__ import annotations

import json


def pretty_json(value: object, *, width: int, step: int = 2, compact: bool = False) -> str:
    """`value` as JSON text; `compact` drops the spaces after "," and ":"."""
    item_sep, key_sep = (",", ":") if compact else (", ", ": ")

    def render(item: object, indent: int, key: str = "") -> str:
        flat = json.dumps(item, ensure_ascii=False, separators=(item_sep, key_sep))
        if not isinstance(item, dict | list) or indent + len(key) + len(flat) < width:
            return " " * indent + key + flat
        if isinstance(item, dict):
            parts = [render(v, indent + step, f"{json.dumps(k)}{key_sep}") for k, v in item.items()]
            opening, closing = "{", "}"
        else:
            parts = [render(v, indent + step) for v in item]
            opening, closing = "[", "]"
        body = ",\n".join(parts)
        return f"{' ' * indent}{key}{opening}\n{body}\n{' ' * indent}{closing}"

    return render(value, 0)
