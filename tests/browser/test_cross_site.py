"""The issue's browser test: Bottega in an iframe of an LMS on another site, third-party cookies
blocked, then a click through to a second page of the tool with the session intact.

Two paths: (a) the LMS offers LTI Platform Storage, and the launch proves the login state
through ``postMessage`` (the state cookie is taken away before the launch, so the storage path
really runs); (b) the LMS offers no storage target, and only partitioned cookies carry it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Frame, FrameLocator, Page, Route, expect

from .conftest import CrossSite

pytestmark = pytest.mark.browser

PROBE = """() => {
    document.cookie = "plain_probe=1; Path=/; SameSite=None; Secure; Max-Age=60";
    document.cookie = "chips_probe=1; Path=/; SameSite=None; Secure; Partitioned; Max-Age=60";
    return document.cookie;
}"""


def tool_frame(page: Page, tool_url: str) -> Frame:
    frame = page.frame(url=lambda url: url.startswith(tool_url + "/"))
    assert frame is not None, [f.url for f in page.frames]
    return frame


def assert_third_party_cookies_blocked(frame: Frame) -> None:
    """In the tool's frame: a partitioned cookie is kept, an unpartitioned one is refused."""
    cookies = str(frame.evaluate(PROBE))
    assert "chips_probe=1" in cookies, cookies
    assert "plain_probe" not in cookies, f"third-party cookies are not blocked: {cookies}"


@pytest.mark.parametrize("storage", ["_parent", None], ids=["platform-storage", "cookies-only"])
def test_tool_in_cross_site_iframe_keeps_its_session_on_a_second_page(
    page: Page, cross_site: CrossSite, storage: str | None, screenshots: Path
) -> None:
    lms, tool_url = cross_site.lms, cross_site.tool_url
    assert re.match(r"http://localhost:\d+$", cross_site.lms_url)
    assert re.match(r"http://127\.0\.0\.1:\d+$", tool_url)
    lms.storage_target = storage
    if storage:
        # Take the state cookie away before the id_token comes back: the tool must then read
        # the state from the LMS page's storage (lti.get_data), as when no cookie survives.
        def forget_state_cookie(route: Route) -> None:
            page.context.clear_cookies(name=re.compile(r"^lti_state_"))
            route.continue_()

        page.route(lambda url: url.startswith(cross_site.lms_url + "/auth?"), forget_state_cookie)

    page.goto(f"{cross_site.lms_url}/course/student")
    frame = page.frame_locator("#tool-frame")
    # A student's first launch in the course: the code of conduct, accepted in the frame.
    expect(frame.get_by_role("heading", level=1)).to_have_text("Code of conduct")
    frame.get_by_role("button", name="I accept").click()
    expect(frame.get_by_role("heading", level=1)).to_have_text("Community home")
    expect(frame.locator("main")).to_contain_text("Giulia Rossi")
    expect(frame.locator("main")).to_contain_text("Student")
    assert_third_party_cookies_blocked(tool_frame(page, tool_url))
    session = [c for c in page.context.cookies(tool_url) if c["name"] == "bottega_session"]
    assert len(session) == 1 and session[0].get("partitionKey"), session

    frame.get_by_role("link", name="My profile").click()
    expect(frame.get_by_role("heading", level=1)).to_have_text("My profile")
    expect(frame.locator("dd").filter(has_text="Giulia Rossi")).to_have_count(1)
    expect(frame.locator("dd").filter(has_text="Student")).to_have_count(1)
    assert tool_frame(page, tool_url).url.endswith("/me")

    log = page.locator("#lti-storage-log li")
    if storage:
        expect(log.filter(has_text=re.compile(r"lti\.put_data .* ok$"))).to_have_count(1)
        expect(log.filter(has_text=re.compile(r"lti\.get_data .* ok$"))).to_have_count(1)
    else:
        expect(log).to_have_count(0)
        page.screenshot(path=screenshots / "cross-site-student-profile.png")


def _end_state(frame: FrameLocator) -> str:
    """The heading the tool's frame settles on: a widget, an error, or the blocked notice."""
    heading = frame.locator("h1:visible")
    expect(heading).to_have_count(1)
    return heading.inner_text()


def test_cookies_blocked_without_storage_offers_a_new_window(
    no_cookies_page: Page, cross_site: CrossSite, screenshots: Path
) -> None:
    cross_site.lms.storage_target = None
    no_cookies_page.goto(f"{cross_site.lms_url}/course/student")
    frame = no_cookies_page.frame_locator("#tool-frame")
    expect(frame.get_by_role("link", name="Open in a new window")).to_be_visible()
    assert _end_state(frame) == "Your browser blocks Bottega inside this page"
    no_cookies_page.screenshot(path=screenshots / "cookies-blocked-open-in-new-window.png")


def test_cookies_blocked_with_platform_storage_offers_a_new_window(
    no_cookies_page: Page, cross_site: CrossSite
) -> None:
    cross_site.lms.storage_target = "_parent"
    no_cookies_page.goto(f"{cross_site.lms_url}/course/student")
    frame = no_cookies_page.frame_locator("#tool-frame")
    assert _end_state(frame) == "Your browser blocks Bottega inside this page"
