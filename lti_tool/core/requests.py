"""The request class: what every view reads from a form or a query string.

PostgreSQL refuses the NUL character in text, so a pasted U+0000 in any field would end a post
in a database error instead of a saved post or a clear message. Form fields and query
parameters arrive without it, for every view at once (services still strip it from text that
comes from elsewhere).
"""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, iter_multi_items


class NulFreeMultiDict(ImmutableMultiDict[str, Any]):
    """Request parameters with every NUL character taken out of their names and values."""

    def __init__(self, mapping: Any = None) -> None:
        if mapping is None:
            super().__init__()
            return
        super().__init__([(_clean(key), _clean(value)) for key, value in iter_multi_items(mapping)])


def _clean(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


class BottegaRequest(Request):
    parameter_storage_class = NulFreeMultiDict
