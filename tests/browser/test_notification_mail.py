"""Notification e-mails in Chromium: the switch on My profile inside the LMS iframe, worked with
the keyboard, in English and in Italian; and the link at the bottom of a real e-mail (sent to an
SMTP server on 127.0.0.1), opened in a top-level tab with none of the tool's cookies.

The tool runs with SMTP_HOST and PUBLIC_URL set to its own address, as in production: without
them My profile has no "E-mails" section and an e-mail has no link.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import FrameLocator, Locator, Page, Playwright, expect

from lti_tool import create_app
from lti_tool.community.notifications.mail import (
    UNSUBSCRIBE_PATH,
    queue_due_mail,
    unsubscribe_token,
)
from lti_tool.community.qa import services
from lti_tool.config import Settings
from lti_tool.courses.models import Enrolment, Member
from lti_tool.demo.platform import RunningServer, serve_in_thread
from lti_tool.extensions import db

from ..community.conftest import Inbox
from ..community.conftest import inbox as inbox  # the SMTP server's fixture
from ..community.qa.conftest import make_platform
from ..conftest import base_config
from ..lti_harness import LEARNER
from .conftest import CHROMIUM, CHROMIUM_ARGS, CrossSite, dispose, new_tab
from .test_qa import GIULIA, Lms, actor_for, tool_frame

pytestmark = pytest.mark.browser

EMAIL = "giulia@academy.example"
SWITCH = "E-mail me about answers, mentions and messages I have not read"
HINT = f"Sent to {EMAIL}, gathered into one e-mail, only for what you have not seen in Bottega."
OFF = "Bottega will not e-mail you about notifications."
ON = "Bottega will e-mail you about notifications you have not read."
TITLE = "Perché la derivata di x² è 2x?"


@pytest.fixture
def tool_server(
    tmp_path: Path, keys_dir: Path, database_url: str, inbox: tuple[Inbox, int]
) -> Iterator[RunningServer]:
    """The tool on http://127.0.0.1:PORT, mailing through the test SMTP server, with its own
    address as PUBLIC_URL (the link in an e-mail leads back to it)."""
    apps: list[Flask] = []

    def factory(url: str) -> Flask:
        config = base_config(
            tmp_path,
            keys_dir,
            DATABASE_URL=database_url,
            PUBLIC_URL=url,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(inbox[1]),
            SMTP_STARTTLS="0",
            SMTP_FROM="Bottega <noreply@academy.example>",
            NOTIFY_EMAIL_DELAY="0",  # due at once
        )
        apps.append(create_app(config))
        return apps[-1]

    try:
        with serve_in_thread(factory=factory) as server:
            yield server
    finally:
        for app in apps:
            dispose(app)


@pytest.fixture
def app(tool_server: RunningServer) -> Flask:
    assert isinstance(tool_server.app, Flask)
    return tool_server.app


@pytest.fixture
def lms(cross_site: CrossSite, monkeypatch: pytest.MonkeyPatch) -> Lms:
    """The demo LMS, sharing Giulia's e-mail address in her launches (as Moodle does)."""
    platform = cross_site.lms.platform
    prepare = platform.prepare_launch

    def with_email(*args: Any, user: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        user = dict(user or {})
        if user.get("sub") == GIULIA.sub:
            user["email"] = EMAIL
        return prepare(*args, user=user, **kwargs)

    monkeypatch.setattr(platform, "prepare_launch", with_email)
    return Lms(cross_site)


@pytest.fixture
def italian_browser(playwright: Playwright, tmp_path: Path) -> Iterator[Callable[[], Page]]:
    """Tabs of another chromium, set to Italian (Accept-Language: it-IT), with none of the
    tool's cookies: where someone reads their e-mail. Fails the test on a CSP refusal."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "mail-reader"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        locale="it-IT",
        viewport={"width": 1280, "height": 900},
    )
    refused: list[str] = []

    def open_tab() -> Page:
        tab = new_tab(context)
        tab.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return tab

    try:
        yield open_tab
    finally:
        context.close()
    assert refused == [], refused


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until ``target`` has the focus (as a keyboard user moves through the page)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def open_my_profile(page: Page, lms: Lms, frame: FrameLocator) -> FrameLocator:
    """Follow the "My profile" link in the tool's navigation; the frame once there."""
    frame.get_by_role("link", name=re.compile(r"^(My profile|Il mio profilo)$")).first.click()
    tool_frame(page, lms.tool_url, re.compile(r"/w/[^/]+/me$"))
    return frame


def toggle_with_keyboard(page: Page, switch: Locator, save: Locator) -> None:
    """From the top of the tool's frame: Tab to the switch, Space, Tab to Save, Enter."""
    page.locator("#tool-frame").focus()
    tab_to(page, switch)
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(save).to_be_focused()
    page.keyboard.press("Enter")


def mail_round(app: Flask) -> None:
    """What the schedule does every few minutes: queue who is due, then the workers send."""
    with app.app_context():
        queue_due_mail(db.session, {}, None)  # type: ignore[arg-type]
    work(app)


def work(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "work", "--burst", "--json"])
    assert result.exit_code == 0, result.output
    json.loads(result.output)


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


# --- 1. My profile, with the keyboard ----------------------------------------------------------


def test_a_learner_turns_the_emails_off_and_on_with_the_keyboard(page: Page, lms: Lms) -> None:
    frame, _qa_url = lms.launch(page, GIULIA)
    frame = open_my_profile(page, lms, frame)
    expect(frame.locator("main h1")).to_have_text("My profile")
    expect(frame.get_by_role("heading", name="E-mails")).to_be_visible()
    switch = frame.get_by_label(SWITCH)
    expect(switch).to_have_count(1)
    expect(switch).to_have_role("checkbox")
    expect(switch).to_have_accessible_name(SWITCH)
    expect(switch).to_have_accessible_description(HINT)
    expect(switch).to_be_checked()  # on by default
    save = frame.get_by_role("button", name="Save")

    toggle_with_keyboard(page, switch, save)
    expect(frame.get_by_role("status")).to_have_text(OFF)
    expect(switch).not_to_be_checked()
    me_url = tool_frame(page, lms.tool_url).url

    frame = lms.show(page, me_url)  # again, later: the choice is kept
    switch = frame.get_by_label(SWITCH)
    expect(frame.locator("main h1")).to_have_text("My profile")
    expect(switch).not_to_be_checked()
    expect(frame.get_by_role("status")).to_have_count(0)  # said once

    toggle_with_keyboard(page, switch, frame.get_by_role("button", name="Save"))
    expect(frame.get_by_role("status")).to_have_text(ON)
    expect(switch).to_be_checked()
    frame = lms.show(page, me_url)
    expect(frame.get_by_label(SWITCH)).to_be_checked()


# --- 2. In Italian ---------------------------------------------------------------------------


def test_an_italian_launch_shows_the_switch_and_its_confirmation_in_italian(
    page: Page, lms: Lms
) -> None:
    frame, _qa_url = lms.launch(page, GIULIA, locale="it-IT")
    frame = open_my_profile(page, lms, frame)
    expect(frame.locator("html")).to_have_attribute("lang", "it")
    expect(frame.locator("main h1")).to_have_text("Il mio profilo")
    expect(frame.get_by_role("heading", name="E-mail", exact=True)).to_be_visible()
    switch = frame.get_by_label(
        "Scrivimi via e-mail di risposte, menzioni e messaggi che non ho letto"
    )
    expect(switch).to_be_checked()
    expect(switch).to_have_accessible_description(
        f"Inviate a {EMAIL}, raccolte in un'unica e-mail, solo per ciò che non hai visto in "
        "Bottega."
    )
    switch.uncheck()
    frame.get_by_role("button", name="Salva", exact=True).click()
    expect(frame.get_by_role("status")).to_have_text(
        "Bottega non ti scriverà via e-mail delle notifiche."
    )
    expect(switch).not_to_be_checked()
    expect(frame.locator("html")).to_have_attribute("lang", "it")
    switch.check()
    frame.get_by_role("button", name="Salva", exact=True).click()
    expect(frame.get_by_role("status")).to_have_text(
        "Bottega ti scriverà via e-mail delle notifiche che non hai letto."
    )
    expect(switch).to_be_checked()


# --- 3. The link in a real e-mail --------------------------------------------------------------


def test_the_link_in_an_email_stops_them_in_the_readers_language(
    page: Page,
    lms: Lms,
    app: Flask,
    inbox: tuple[Inbox, int],
    italian_browser: Callable[[], Page],
) -> None:
    _frame, qa_url = lms.launch(page, GIULIA)  # her launch: no locale, English e-mails
    giulia = actor_for(app, GIULIA)
    with app.app_context():  # a classmate the LMS has not launched yet: straight into the roster
        platform_id = db.session.get_one(Member, giulia.member_id).platform_id
        marco = Member(platform_id=platform_id, lms_id="s2", name="Marco Bianchi")
        db.session.add(marco)
        db.session.flush()
        db.session.add(Enrolment(course_id=giulia.course_id, member_id=marco.id, roles=[LEARNER]))
        db.session.commit()
        classmate = dataclasses.replace(giulia, member_id=marco.id)
        question = services.ask(db.session(), giulia, services.QuestionInput(title=TITLE))
        services.answer(db.session(), classmate, question.id, "Il limite di (2xh + h²)/h è 2x.")
        db.session.commit()
    work(app)  # what the answer sets off (badges, ...)
    mail_round(app)

    [message] = inbox[0].messages
    assert message["To"] == EMAIL
    text = body(message)
    assert "Hello Giulia Rossi," in text and f"“{TITLE}”" in text, text
    found = re.search(r"http://\S+" + re.escape(UNSUBSCRIBE_PATH) + r"/\S+", text)
    assert found, text
    link = found.group(0)
    assert link.startswith(lms.tool_url + UNSUBSCRIBE_PATH + "/")
    assert str(message["List-Unsubscribe"]) == f"<{link}>"

    reader = italian_browser()
    assert reader.context.cookies() == []  # no launch, no session: the link alone
    opened = reader.goto(link)
    assert opened is not None and opened.status == 200
    expect(reader.locator("html")).to_have_attribute("lang", "it")
    expect(reader.locator("main h1")).to_have_text("E-mail di Bottega")
    expect(reader.locator("main")).to_contain_text(
        "Vuoi smettere di ricevere le e-mail di Bottega sulle notifiche che non hai letto?"
    )
    stop = reader.get_by_role("button", name="Non inviarmi più queste e-mail")
    tab_to(reader, stop)
    with reader.expect_response(lambda r: r.request.method == "POST") as posted:
        reader.keyboard.press("Enter")
    assert posted.value.status == 200
    expect(reader.get_by_role("status")).to_have_text(
        "Fatto: Bottega non ti scriverà più via e-mail delle notifiche."
    )
    expect(reader.locator("html")).to_have_attribute("lang", "it")
    expect(stop).to_have_count(0)

    # Giulia, back in her course: My profile shows the switch off (in her launch's English).
    frame = lms.show(page, qa_url.replace("/qa/", "/me"))
    expect(frame.locator("main h1")).to_have_text("My profile")
    expect(frame.get_by_label(SWITCH)).not_to_be_checked()


# --- 4. A damaged link -----------------------------------------------------------------------


def test_a_damaged_link_shows_a_translated_error_with_status_400(
    app: Flask, tool_server: RunningServer, italian_browser: Callable[[], Page]
) -> None:
    with app.app_context():
        platform = make_platform("https://moodle.example.org")
        member = Member(platform_id=platform.id, lms_id="s1", name="Giulia Rossi", email=EMAIL)
        db.session.add(member)
        db.session.commit()
        settings: Settings = app.extensions["bottega_settings"]
        token = unsubscribe_token(settings.secret_key, member)
    link = f"{tool_server.url}{UNSUBSCRIBE_PATH}/{token}"
    reader = italian_browser()

    whole = reader.goto(link)  # the link as sent: it works
    assert whole is not None and whole.status == 200
    expect(reader.get_by_role("button", name="Non inviarmi più queste e-mail")).to_be_visible()

    cut = reader.goto(link[:-6])  # as a mail program that wrapped the line leaves it
    assert cut is not None and cut.status == 400
    expect(reader.locator("html")).to_have_attribute("lang", "it")
    expect(reader.locator("main h1")).to_have_text("E-mail di Bottega")
    expect(reader.get_by_role("alert")).to_contain_text("Questo link non è valido")
    expect(reader.get_by_role("button")).to_have_count(0)
