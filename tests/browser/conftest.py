"""Browser fixtures: Debian's chromium driven by Playwright, with third-party cookies blocked.

Chromium runs headless on a persistent profile whose preferences block third-party cookies
(``profile.cookie_controls_mode`` = 1, the setting behind chrome://settings/cookies "Block
third-party cookies"), as Chrome does for more and more users. Partitioned (CHIPS) cookies still
work, which is what Bottega relies on inside an LMS iframe. The tests check that an
unpartitioned third-party cookie is really refused, so they cannot pass by accident.

The tool is served on http://127.0.0.1:PORT and the LMS on http://localhost:PORT: two sites,
so the tool's frame is a third-party frame, as in production. Never ``playwright install``:
``scripts/browser-deps.sh`` installs Debian's chromium; without it these tests are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask

from lti_tool import create_app
from lti_tool.demo.lms import DemoLms, get_demo_lms, install_course_pages
from lti_tool.demo.platform import (
    RunningServer,
    create_platform_app,
    get_platform,
    serve_in_thread,
)
from lti_tool.extensions import db

from ..conftest import base_config
from ..lti_harness import CLIENT_ID, register_both_sides

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    # Every frame in its page's process. With site isolation, the tool's frame moves between
    # processes at each hop of a launch (tool, LMS, tool), and Playwright can miss one of those
    # moves under load: the frame then stays at the LMS's URL for good (CI, stop 16). Cookies,
    # their partitions and CSP are the browser process's business and work the same.
    "--disable-site-isolation-trials",
]
BLOCK_THIRD_PARTY_COOKIES = {
    "profile": {"cookie_controls_mode": 1, "block_third_party_cookies": True},
}
BLOCK_ALL_COOKIES = {
    "profile": {"default_content_setting_values": {"cookies": 2}, "cookie_controls_mode": 1},
}
TIMEOUT_MS = 15_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: these tests are about the browser, the database runs are elsewhere."""
    path = tmp_path / "bottega.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/browser-deps.sh installs it (needs root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as running:
        yield running


def launch(playwright: Playwright, profile: Path, preferences: dict[str, Any]) -> BrowserContext:
    """Headless chromium on a new profile with these preferences (Default/Preferences)."""
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps(preferences))
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        locale="en-US",
        viewport={"width": 1280, "height": 900},
    )


@pytest.fixture(scope="package")
def browser_context(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """One headless chromium for all browser tests, third-party cookies blocked."""
    context = launch(playwright, tmp_path_factory.mktemp("chromium"), BLOCK_THIRD_PARTY_COOKIES)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="package")
def no_cookies_context(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """A chromium that blocks every cookie (as Safari does in a third-party frame)."""
    context = launch(playwright, tmp_path_factory.mktemp("chromium"), BLOCK_ALL_COOKIES)
    try:
        yield context
    finally:
        context.close()


def new_tab(context: BrowserContext) -> Page:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    return tab


@pytest.fixture
def no_cookies_page(no_cookies_context: BrowserContext) -> Iterator[Page]:
    tab = new_tab(no_cookies_context)
    try:
        yield tab
    finally:
        tab.close()


@pytest.fixture
def csp_refused() -> list[str]:
    """What the page fixture's tab was refused by a Content-Security-Policy; a test that
    provokes a refusal on purpose checks and clears it."""
    return []


@pytest.fixture
def page(browser_context: BrowserContext, csp_refused: list[str]) -> Iterator[Page]:
    """A new tab with no cookies left over from another test; fails the test when the page
    broke the tool's Content-Security-Policy (Chromium reports it on the console)."""
    browser_context.clear_cookies()
    tab = new_tab(browser_context)
    refused = csp_refused
    tab.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        yield tab
    finally:
        tab.close()
    assert refused == [], refused


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where tests save screenshots: docs/screenshots/ with UPDATE_SCREENSHOTS=1, else a tmp dir.

    The admin guides use the committed ones; a normal test run must not rewrite tracked files.
    """
    target = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "shots"
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def tool_server(app: Flask) -> Iterator[RunningServer]:
    """The tool on http://127.0.0.1:PORT."""
    with serve_in_thread(app) as server:
        yield server


@dataclass
class CrossSite:
    """The demo LMS on http://localhost:PORT and the tool on http://127.0.0.1:PORT."""

    lms: DemoLms
    lms_url: str
    tool_url: str


@pytest.fixture
def cross_site(app: Flask, tool_server: RunningServer) -> Iterator[CrossSite]:
    """The demo LMS's course pages on another site than the tool, registered both ways."""
    tool = tool_server.url

    def lms_app(url: str) -> Flask:
        lms = create_platform_app(url)
        get_platform(lms).register_tool(
            CLIENT_ID,
            login_url=f"{tool}/lti/login",
            redirect_uris=[f"{tool}/lti/launch"],
            jwks_url=f"{tool}/.well-known/jwks.json",
            deployment_ids=["1"],
        )
        install_course_pages(lms, CLIENT_ID)
        return lms

    with serve_in_thread(factory=lms_app, host="localhost") as server:
        assert isinstance(server.app, Flask)
        register_both_sides(app, server.platform, tool, name="Demo LMS on another site")
        yield CrossSite(lms=get_demo_lms(server.app), lms_url=server.url, tool_url=tool)


def demo_app(tmp_path: Path, keys_dir: Path, database: str, public_url: str) -> Flask:
    """The tool in demo mode, as ``make run`` starts it."""
    return create_app(
        base_config(
            tmp_path, keys_dir, DATABASE_URL=database, PUBLIC_URL=public_url, BOTTEGA_DEMO="1"
        )
    )


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def demo_server(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[RunningServer]:
    """The tool in demo mode with its demo LMS mounted at /demo/lms, on one server."""
    apps: list[Flask] = []

    def factory(url: str) -> Flask:
        apps.append(demo_app(tmp_path, keys_dir, database_url, url))
        return apps[-1]

    try:
        with serve_in_thread(factory=factory) as server:
            yield server
    finally:
        for app in apps:
            dispose(app)
