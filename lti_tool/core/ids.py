"""Row ids and counts typed into forms and query strings, read the same way everywhere."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger number would fail the query, not miss


def parse_id(raw: Any) -> int | None:
    """A whole number from ASCII digits within the integer column range, else None.

    ``str.isdigit`` alone also accepts other scripts' digits and numbers of any size, which
    PostgreSQL refuses with an error rather than finding no row.
    """
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes, bounded like ``parse_id``: a larger number is a 404."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
