"""The course navigation shared by the home, dashboard, moderation, grades and other pages:
every destination once, whatever widget the placement shows, and the current section marked."""

from __future__ import annotations

import re

import pytest

from ..lti.conftest import lms, tool_server  # noqa: F401  (real-HTTP fixtures)
from ..lti_harness import INSTRUCTOR, Lms, browser


def _nav(html: str) -> list[tuple[str, bool]]:
    block = re.search(r'<nav class="tool-nav" aria-label="Bottega">(.*?)</nav>', html, re.S)
    assert block is not None, html[:2000]
    links = re.findall(r"<a href=\"[^\"]*\"( aria-current=\"page\")?>([^<]+)</a>", block.group(1))
    return [(label, bool(current)) for current, label in links]


@pytest.mark.parametrize("widget", ["home", "dashboard", "qa", "kudos", "groups"])
def test_staff_navigation_names_each_destination_once(
    lms: Lms,  # noqa: F811
    widget: str,
) -> None:
    client = browser()
    result = lms.launch(client, roles=[INSTRUCTOR], custom={"widget": widget})
    assert result.page is not None and result.page.status_code == 200
    base = result.page.url.split("/w/")[0] + "/w/" + result.page.url.split("/w/")[1].split("/")[0]
    for path, current in (
        ("/members", "Members"),
        ("/dashboard/", "Community dashboard"),
        ("/moderation/", "Moderation"),
    ):
        page = client.get(base + path, timeout=10)
        assert page.status_code == 200, (path, page.status_code)
        nav = _nav(page.text)
        labels = [label for label, _ in nav]
        assert len(labels) == len(set(labels)), (widget, path, labels)
        assert [label for label, here in nav if here] == [current], (path, nav)
        assert ("Community home" in labels) == (widget == "home"), labels
        assert {"Questions and answers", "Community dashboard", "Grades"} <= set(labels)
