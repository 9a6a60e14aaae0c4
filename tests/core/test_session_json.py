"""The session cookie's JSON: the plain-JSON shortcut writes what Flask's tagged JSON writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.json.tag import TaggedJSONSerializer
from markupsafe import Markup

from lti_tool.extensions import SessionJSON

CASES: list[Any] = [
    {
        "launches": {"a1": {"p": 1, "m": 2, "c": None, "e": 4.5, "r": 1, "w": "home", "l": "é"}},
        "_permanent": True,
        "passed": ["a1", "b2"],
    },
    {" t": 1},
    {"a": {" di": 2}},
    {"a": [{" u": 1}]},
    {"a": (1, 2)},
    {"a": b"x"},
    {"a": Markup("<b>")},
    {"a": uuid.UUID(int=5)},
    {"a": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
    {"_flashes": [("message", "hi")]},
    {"z": 1, "b": [True, False, 1e300]},
    {},
]


@pytest.mark.parametrize("value", CASES)
def test_same_text_and_value(value: Any) -> None:
    fast, tagged = SessionJSON(), TaggedJSONSerializer()
    with Flask(__name__).app_context():
        text = fast.dumps(value)
        assert text == tagged.dumps(value)
        assert fast.loads(text) == tagged.loads(text)
