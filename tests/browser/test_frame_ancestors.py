"""Only the LMS a page was launched from may frame it (CSP frame-ancestors), in Chromium."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from flask import Flask, request
from markupsafe import escape
from playwright.sync_api import Page, expect

from lti_tool.demo.platform import serve_in_thread

from .conftest import CrossSite
from .test_cross_site import tool_frame

pytestmark = pytest.mark.browser


def framing_site() -> Flask:
    """A page on another origin that puts any URL in an iframe (a clickjacking attempt)."""
    app = Flask(__name__)

    @app.get("/frame")
    def frame() -> str:
        src = escape(request.args.get("src", ""))
        return f'<!doctype html><title>Other site</title><iframe id="framed" src="{src}"></iframe>'

    return app


def test_a_page_framed_by_an_unregistered_origin_is_refused(
    page: Page, cross_site: CrossSite, csp_refused: list[str]
) -> None:
    page.goto(f"{cross_site.lms_url}/course/student")
    frame = page.frame_locator("#tool-frame")
    # The registered LMS frames the tool: the widget shows.
    expect(frame.get_by_role("heading", level=1)).to_have_text("Code of conduct")
    widget_url = tool_frame(page, cross_site.tool_url).url
    assert csp_refused == []
    # What the browser keeps for the tool: server-set cookies only (the login page's script
    # probe is gone), each HttpOnly, Secure, SameSite=None and partitioned under the LMS.
    cookies = [c for c in page.context.cookies() if c["domain"] == "127.0.0.1"]
    assert {c["name"] for c in cookies} >= {"bottega_session"}, cookies
    assert not [c for c in cookies if c["name"] == "bottega_probe"], cookies
    for cookie in cookies:
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "None", cookie
        assert cookie.get("partitionKey"), cookie

    # The same page, same browser and session, framed by an origin no registration names: the
    # other site is on localhost too (same site, so the partitioned session cookie goes with
    # it), only its port differs. Chromium refuses to render the frame.
    with serve_in_thread(framing_site(), host="localhost") as other:
        page.goto(f"{other.url}/frame?src={quote(widget_url, safe='')}")
        deadline = time.monotonic() + 10
        while not any("frame-ancestors" in m for m in csp_refused) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert any("frame-ancestors" in m for m in csp_refused), csp_refused
        # Chromium's own error page stands in the frame, not the tool's.
        framed = page.frame_locator("#framed")
        expect(framed.get_by_text("Code of conduct")).to_have_count(0)
        assert all(f.url.startswith("chrome-error:") for f in page.frames[1:]), page.frames
    csp_refused.clear()

    # And back in the LMS, the page frames as before.
    page.goto(f"{cross_site.lms_url}/course/student")
    expect(page.frame_locator("#tool-frame").get_by_role("heading", level=1)).to_have_text(
        "Code of conduct"
    )
