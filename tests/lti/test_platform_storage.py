"""LTI Platform Storage: with no cookie at all, the browser proves the state through the LMS frame.

The JavaScript half (postMessage to the LMS frame) runs in the browser tests; these tests play
the browser's part of the exchange over real HTTP, without any cookie.
"""

from __future__ import annotations

import re
from html import unescape

import requests

from ..lti_harness import Lms, parse_form, post_launch


def _data(page: str, name: str) -> str:
    match = re.search(rf'data-{name}="([^"]*)"', page)
    assert match, name
    return unescape(match.group(1))


def _login_with_storage(lms: Lms, target: str) -> tuple[str, dict[str, str], str]:
    client = requests.Session()  # plain requests: it drops the Secure cookies on http
    prepared = lms.prepare(storage_target=target)
    login = client.get(prepared.login_url, timeout=5)
    assert login.status_code == 200
    assert _data(login.text, "target") == target
    assert _data(login.text, "origin") == lms.issuer
    binding = _data(login.text, "value")  # what the page puts into the LMS's storage
    auth = client.get(_data(login.text, "next"), timeout=5)
    action, fields = parse_form(auth.text)
    return action, fields, binding


def test_launch_without_cookies_asks_the_platform_storage_then_succeeds(lms: Lms) -> None:
    for target in ("_parent", "post_message_forwarding"):  # spec name and Canvas's name
        action, fields, binding = _login_with_storage(lms, target)
        client = requests.Session()
        first = client.post(action, data=fields, timeout=5)
        assert first.status_code == 200  # the page that reads the LMS storage
        assert _data(first.text, "mode") == "launch"
        assert _data(first.text, "key") == f"bottega_state_{fields['state']}"
        result = post_launch(client, action, {**fields, "lti_storage_proof": binding})
        assert result.ok


def test_wrong_storage_value_ends_in_403(lms: Lms) -> None:
    action, fields, _ = _login_with_storage(lms, "_parent")
    result = post_launch(requests.Session(), action, {**fields, "lti_storage_proof": "guess"})
    assert result.status == 403


def test_empty_storage_answer_ends_in_403_not_a_loop(lms: Lms) -> None:
    action, fields, _ = _login_with_storage(lms, "_parent")
    result = post_launch(requests.Session(), action, {**fields, "lti_storage_proof": ""})
    assert result.status == 403
