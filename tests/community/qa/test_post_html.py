"""The Q&A pages' HTML pieces built in Python (post_html.py)."""

from __future__ import annotations

from markupsafe import Markup, escape

from lti_tool.community.qa.post_html import _e

from .xss_corpus import XSS_CORPUS


def test_escaping_writes_what_markupsafe_writes() -> None:
    values = [*XSS_CORPUS, "", "plain", 'Anna & Luca\'s "notes" <b>', "già è & più", 42, None]
    for value in values:
        assert _e(value) == str(escape(value))


def test_escaping_keeps_safe_markup() -> None:
    assert _e(Markup("<b>bold</b>")) == "<b>bold</b>"
