"""Every cookie Bottega sets crosses the LMS iframe: HttpOnly, Secure, SameSite=None, Partitioned.

A whole visit over real HTTP (login as a page in an iframe and as a redirect, the launch, pages,
a post that changes the session, the state cookie's removal), with every Set-Cookie collected.
"""

from __future__ import annotations

from typing import Any

import requests

from ..lti_harness import Lms, browser, csrf_token, parse_form, post_launch

REQUIRED = ("httponly", "secure", "partitioned")


def _collect(seen: list[str]) -> Any:
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.extend(response.raw.headers.getlist("Set-Cookie"))

    return hook


def _flags(header: str) -> tuple[str, set[str], str]:
    name = header.split("=", 1)[0].strip()
    parts = [p.strip() for p in header.split(";")[1:]]
    flags = {p.split("=", 1)[0].lower() for p in parts}
    samesite = next((p.split("=", 1)[1] for p in parts if p.lower().startswith("samesite=")), "")
    return name, flags, samesite


def test_every_cookie_is_httponly_secure_samesite_none_and_partitioned(lms: Lms) -> None:
    seen: list[str] = []
    client = browser()
    client.hooks["response"].append(_collect(seen))

    # The login as the page an iframe gets (it checks cookies and may use platform storage).
    framed = lms.prepare()
    page = client.get(framed.login_url, headers={"Sec-Fetch-Dest": "iframe"}, timeout=10)
    assert page.status_code == 200 and "lti-launch" in page.text

    # A complete launch (login redirect, id_token POST), then pages and a post.
    prepared = lms.prepare(
        user={"sub": "t-cookies", "name": "Prof Neri"},
        roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
    )
    login = client.get(prepared.login_url, allow_redirects=False, timeout=10)
    auth = client.get(login.headers["Location"], allow_redirects=False, timeout=10)
    result = post_launch(client, *parse_form(auth.text))
    assert result.page is not None and result.page.status_code == 200
    lid = str(result.page.url).split("/w/", 1)[1].split("/", 1)[0]
    base = lms.tool_url + f"/w/{lid}/qa/"
    ask = client.get(base + "ask", timeout=10)
    posted = client.post(
        base + "ask",
        data={"csrf_token": csrf_token(ask.text), "title": "Where do cookies go?", "body": "?"},
        timeout=10,
    )
    assert posted.status_code == 200
    client.get(lms.tool_url + "/", timeout=10)

    names = set()
    for header in seen:
        name, flags, samesite = _flags(header)
        names.add(name)
        assert all(f in flags for f in REQUIRED), header
        assert samesite == "None", header
    assert "bottega_session" in names
    assert any(n.startswith("lti_state_") for n in names), names
    assert names <= {"bottega_session"} | {n for n in names if n.startswith("lti_state_")}
    # The state cookie is removed by the launch (an expired Set-Cookie, with the same flags).
    assert any(h.startswith("lti_state_") and "Max-Age=0" in h for h in seen), seen
