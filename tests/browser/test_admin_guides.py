"""The pages an LMS administrator meets, in a browser: they are the screenshots of docs/admin/.

Registration (dynamic, as Moodle 4.x starts it), and every kind of refused login, launch or
registration, each reached the way an admin would reach it (a misconfigured LMS, a stale tab),
with the page asserted before its screenshot. With UPDATE_SCREENSHOTS=1 the screenshots go to
docs/screenshots/ (committed); otherwise to a temporary folder.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from lti_tool.courses.models import Platform as PlatformRow
from lti_tool.courses.models import PlatformStatus
from lti_tool.demo.platform import (
    DEPLOYMENT_ID,
    REMOVE,
    RunningServer,
    Tamper,
    serve_platform,
)
from lti_tool.extensions import db

from ..lti_harness import Lms, browser, register_both_sides

pytestmark = pytest.mark.browser

SIZE = {"width": 1000, "height": 300}


@pytest.fixture
def lms(app: Flask, tool_server: RunningServer) -> Iterator[Lms]:
    """A test LMS with Bottega registered on both sides (deployment "1")."""
    with serve_platform() as server:
        register_both_sides(app, server.platform, tool_server.url, name="Test LMS")
        yield Lms(server=server, tool_url=tool_server.url)


def refused(page: Page, title: str, says: str, status: int, shot: Path) -> None:
    """The page is Bottega's refusal with this title, message and status; screenshot it."""
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator("main")).to_contain_text(says)
    expect(page.locator("main")).to_contain_text(f"Error code: {status}")
    assert "Traceback" not in page.content()
    page.screenshot(path=shot)


def post_from_browser(page: Page, action: str, fields: dict[str, str]) -> None:
    """Post a form the way the LMS's auto-submitting page does, from this browser."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    page.set_content(f'<form method="post" action="{html.escape(action)}">{inputs}</form>')
    with page.expect_navigation():
        page.locator("form").evaluate("form => form.submit()")


def set_status(app: Flask, status: PlatformStatus) -> None:
    with app.app_context():
        row = db.session.scalar(db.select(PlatformRow))
        assert row is not None
        row.status = status
        db.session.commit()
    # The registry caches registrations per process for 30 s: drop it, as the CLI's change
    # would be seen by then.
    app.extensions["bottega_registry"].clear()


# -- dynamic registration (Moodle 4.x: Site administration > Plugins > Manage tools) -----------


def test_admin_registers_bottega_dynamically(
    page: Page, tool_server: RunningServer, screenshots: Path
) -> None:
    page.set_viewport_size(SIZE)
    with serve_platform() as moodle:
        start = moodle.platform.registration_start_url(f"{tool_server.url}/lti/register")
        page.goto(start)
        expect(page.get_by_role("heading", level=1)).to_contain_text("Register Bottega with")
        expect(page.locator("main")).to_contain_text("Send scores to the LMS gradebook.")
        page.screenshot(path=screenshots / "register-confirm.png", full_page=True)

        page.get_by_role("button", name="Register Bottega").click()
        expect(page.locator("main")).to_contain_text("Manage tools")
        (client_id,) = moodle.platform.registrations
        expect(page.locator("main")).to_contain_text(client_id)
        page.screenshot(path=screenshots / "register-done.png", full_page=True)

        # The admin reloads the confirmation page: the LMS's token was good for one use.
        page.goto(start)
        page.get_by_role("button", name="Register Bottega").click()
        refused(
            page,
            "Bottega could not be registered",
            "start the registration again",
            403,
            screenshots / "error-register-token-used.png",
        )


def test_register_address_opened_directly_explains_where_to_paste_it(
    page: Page, tool_server: RunningServer, screenshots: Path
) -> None:
    page.set_viewport_size(SIZE)
    page.goto(f"{tool_server.url}/lti/register")
    refused(
        page,
        "Bottega could not be registered",
        "Manage tools",
        400,
        screenshots / "error-register-no-configuration.png",
    )


def test_registration_with_an_unreachable_lms(
    page: Page, tool_server: RunningServer, screenshots: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    page.set_viewport_size(SIZE)
    config = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
    page.goto(f"{tool_server.url}/lti/register?openid_configuration={config}&registration_token=t")
    refused(
        page,
        "Bottega could not be registered",
        "could not be reached",
        400,
        screenshots / "error-register-unreachable.png",
    )


# -- refused logins ---------------------------------------------------------------------------


def test_login_from_an_lms_bottega_does_not_know(page: Page, lms: Lms, screenshots: Path) -> None:
    page.set_viewport_size(SIZE)
    page.goto(
        f"{lms.tool_url}/lti/login?iss=https://moodle.example.org&client_id=abc123"
        f"&login_hint=1&target_link_uri={lms.tool_url}/lti/launch"
    )
    refused(
        page,
        "The login from your LMS could not start",
        "https://moodle.example.org, client abc123) is not registered",
        400,
        screenshots / "error-login-unregistered.png",
    )


def test_login_missing_parameters(page: Page, lms: Lms, screenshots: Path) -> None:
    page.set_viewport_size(SIZE)
    page.goto(f"{lms.tool_url}/lti/login?iss={lms.issuer}")
    refused(
        page,
        "The login from your LMS could not start",
        "missing: login_hint, target_link_uri",
        400,
        screenshots / "error-login-missing-parameters.png",
    )


def test_login_to_a_target_that_is_not_bottega(page: Page, lms: Lms, screenshots: Path) -> None:
    page.set_viewport_size(SIZE)
    page.goto(lms.prepare(target_link_uri="https://old-tool.example.org/launch").login_url)
    refused(
        page,
        "The login from your LMS could not start",
        "is not an address of this tool",
        400,
        screenshots / "error-login-target-elsewhere.png",
    )


@pytest.mark.parametrize(
    ("status", "says", "shot"),
    [
        (PlatformStatus.PENDING, "waiting for the approval", "error-login-pending.png"),
        (PlatformStatus.DISABLED, "are disabled in Bottega", "error-login-disabled.png"),
    ],
)
def test_login_from_a_registration_that_is_not_active(
    page: Page,
    app: Flask,
    lms: Lms,
    screenshots: Path,
    status: PlatformStatus,
    says: str,
    shot: str,
) -> None:
    set_status(app, status)
    page.set_viewport_size(SIZE)
    page.goto(lms.prepare().login_url)
    refused(page, "The login from your LMS could not start", says, 403, screenshots / shot)


# -- refused launches (the browser follows login, the LMS's form, and the launch) -------------

TAMPERED = [
    ("unknown-deployment", Tamper(claims={DEPLOYMENT_ID: "7"}), "The deployment 7", 400),
    ("signature", Tamper(sign_with_other_key=True), "signature does not verify", 401),
    ("unknown-key", Tamper(headers={"kid": "retired-key"}), "retired-key", 401),
    ("expired-token", Tamper(exp_offset=-3600, iat_offset=-3900), "Check the LMS server", 401),
    ("audience", Tamper(aud="another-tool"), "not addressed to Bottega", 400),
    (
        "no-roles",
        Tamper(claims={"https://purl.imsglobal.org/spec/lti/claim/roles": REMOVE}),
        "no roles claim",
        400,
    ),
]


@pytest.mark.parametrize(
    ("slug", "tamper", "says", "status"), TAMPERED, ids=[t[0] for t in TAMPERED]
)
def test_refused_launch_says_what_to_fix(
    page: Page, lms: Lms, screenshots: Path, slug: str, tamper: Tamper, says: str, status: int
) -> None:
    page.set_viewport_size(SIZE)
    page.goto(lms.prepare(tamper=tamper).login_url)
    refused(
        page,
        "This launch could not be completed",
        says,
        status,
        screenshots / f"error-launch-{slug}.png",
    )


def test_launch_posted_from_another_browser(page: Page, lms: Lms, screenshots: Path) -> None:
    # The login ran in one browser (its state cookie there); the id_token arrives in another.
    action, fields = lms.id_token_post(browser(), lms.prepare())
    page.set_viewport_size(SIZE)
    post_from_browser(page, action, fields)
    refused(
        page,
        "This launch could not be completed",
        "started in another browser or your browser blocked",
        403,
        screenshots / "error-launch-other-browser.png",
    )


def test_launch_posted_twice(page: Page, lms: Lms, screenshots: Path) -> None:
    client = browser()
    action, fields = lms.id_token_post(client, lms.prepare())
    assert client.post(action, data=fields, allow_redirects=False, timeout=10).status_code == 200
    page.set_viewport_size(SIZE)
    post_from_browser(page, action, fields)
    refused(
        page,
        "This launch could not be completed",
        "This launch was already used",
        400,
        screenshots / "error-launch-already-used.png",
    )


def test_launch_the_lms_refused(page: Page, lms: Lms, screenshots: Path) -> None:
    page.set_viewport_size(SIZE)
    post_from_browser(
        page,
        f"{lms.tool_url}/lti/launch",
        {"error": "login_required", "error_description": "The user is not logged in."},
    )
    refused(
        page,
        "This launch could not be completed",
        "The LMS refused the login: login_required",
        400,
        screenshots / "error-launch-lms-refused.png",
    )


def test_widget_page_without_a_launch(page: Page, lms: Lms, screenshots: Path) -> None:
    # A bookmarked or shared widget address, or a session that ended: open it from the course.
    page.set_viewport_size(SIZE)
    response = page.goto(f"{lms.tool_url}/w/3b9f1c/qa/")
    assert response is not None and response.status == 401
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in needed")
    expect(page.locator("main")).to_contain_text("Open Bottega again from your course")
    page.screenshot(path=screenshots / "error-sign-in-needed.png")
