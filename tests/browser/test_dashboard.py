"""The community dashboard in Chromium, inside the cross-site LMS iframe (third-party cookies
blocked): an instructor sees the students at risk with their reasons, logs a reach-out, resolves
a flag and downloads a CSV; the overview is photographed in English and Italian."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import FrameLocator, Page, expect
from sqlalchemy import select

from lti_tool.community.dashboard.playbook import add_template
from lti_tool.community.moderation.services import flag_content
from lti_tool.community.qa import services
from lti_tool.courses.models import Course, Enrolment, Member
from lti_tool.extensions import db, utcnow

from ..lti_harness import CLIENT_ID, INSTRUCTOR, LEARNER
from .test_qa import COURSE, GIULIA, Lms, Person, actor_for, tool_frame

pytestmark = pytest.mark.browser

ANNA = Person("t1", "Anna Neri", [INSTRUCTOR])
# The test run keeps these as artefacts (ignored by git); the admin guides use docs/screenshots.
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


@pytest.fixture
def lms(cross_site: Any) -> Lms:
    return Lms(cross_site)


def launch_dashboard(lms: Lms, page: Page, who: Person, locale: str | None = None) -> str:
    """Launch ``who`` into the dashboard widget; the dashboard's base URL."""
    presentation: dict[str, Any] = {"document_target": "iframe"}
    if locale:
        presentation["locale"] = locale
    prepared = lms.cross_site.lms.platform.prepare_launch(
        CLIENT_ID,
        user={"sub": who.sub, "name": who.name},
        roles=who.roles,
        context=COURSE,
        resource_link={"id": "rl-dash", "title": "Cruscotto"},
        custom={"widget": "dashboard"},
        launch_presentation=presentation,
    )
    lms.show(page, prepared.login_url)
    landed = tool_frame(page, lms.tool_url, re.compile(r"/w/[^/]+/dashboard/$"))
    return landed.url


def seed(app: Flask) -> int:
    """A student on the roster who never opened Bottega, a flagged question (its id) and a
    reply template."""
    with app.app_context():
        course_id = db.session.scalar(select(Course.id).where(Course.lms_id == COURSE["id"]))
        assert course_id is not None
        platform_id = db.session.scalar(select(Course.platform_id).where(Course.id == course_id))
        silent = Member(platform_id=platform_id, lms_id="s9", name="Sara Verdi")
        db.session.add(silent)
        db.session.flush()
        db.session.add(
            Enrolment(
                course_id=course_id,
                member_id=silent.id,
                roles=[LEARNER],
                created_at=utcnow() - timedelta(days=6),
            )
        )
        db.session.commit()
        giulia = actor_for(app, GIULIA)
        question = services.ask(
            db.session(), giulia, services.QuestionInput(title="Compra follower a poco prezzo")
        )
        flag_content(
            db.session(),
            course_id=course_id,
            reporter_id=giulia.member_id,
            subject_type="qa_question",
            subject_id=question.id,
            reason="spam",
        )
        db.session.commit()
        add_template(db.session, course_id, giulia.member_id, "Syllabus", "See the syllabus, §2.")
        return question.id


def test_an_instructor_works_the_dashboard(app: Flask, lms: Lms, page: Page) -> None:
    lms.launch(page, GIULIA)  # a student, so the course and a flagger exist
    base = launch_dashboard(lms, page, ANNA)
    question_id = seed(app)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)

    frame: FrameLocator = lms.show(page, base)
    expect(frame.locator("main h1")).to_have_text("Engagement overview")
    expect(frame.locator("table.dash-table caption")).to_have_text("Weekly figures")
    page.screenshot(path=ARTEFACTS / "dashboard-overview-en.png")

    frame = lms.show(page, base + "at-risk")
    student = frame.locator("li.dash-student").filter(has_text="Sara Verdi")
    expect(student.locator("[data-reason='never_launched']")).to_contain_text(
        "Never opened Bottega"
    )
    student.get_by_text("Log a reach-out").click()
    student.get_by_label("Note for staff").fill("Phoned Sara: she will log in tonight.")
    student.get_by_label("Message to the student").fill("Ciao Sara, ti aspettiamo!")
    student.get_by_role("button", name="Log reach-out").click()
    expect(frame.get_by_role("status")).to_contain_text("Reach-out logged and message sent.")
    expect(frame.locator("li.dash-student").filter(has_text="Sara Verdi")).to_contain_text(
        "1 reach-out logged"
    )

    with page.expect_download() as download:
        frame.get_by_role("link", name="Download this list (CSV)").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    assert rows[0][:2] == ["Student", "Enrolled"]
    assert any(row[0] == "Sara Verdi" and "Never opened Bottega" in row[3] for row in rows[1:])

    frame = lms.show(page, base.replace("/dashboard/", "/moderation/"))
    frame.get_by_role("link", name=re.compile("Compra follower")).click()
    expect(frame.locator("main h1")).to_have_text("Flagged post")
    frame.get_by_label("Why").fill("Spam: removed the link and warned the author.")
    frame.get_by_role("button", name="Resolve (action taken)").click()
    expect(frame.locator("main")).to_contain_text("Resolved")

    # Answering, staff insert one of the playbook's reply templates.
    frame = lms.show(page, base.replace("/dashboard/", "/qa/") + str(question_id))
    frame.get_by_label("Reply template").select_option(label="Syllabus")
    frame.get_by_role("button", name="Insert the template").click()
    expect(frame.get_by_label("Answer", exact=True)).to_have_value("See the syllabus, §2.")

    # At 360 px (a phone's LMS app) the wide tables scroll in their own box: the page itself
    # never scrolls sideways, and the box can be scrolled from the keyboard.
    for path, landing in (("", r"/dashboard/$"), ("staff", r"/dashboard/staff$")):
        frame = lms.show(page, base + path)
        expect(frame.locator("table.dash-table").first).to_be_visible()
        page.evaluate('document.getElementById("tool-frame").width = 360')
        tool = tool_frame(page, lms.tool_url, re.compile(landing))
        page.wait_for_function(
            "() => document.getElementById('tool-frame').getBoundingClientRect().width <= 360"
        )
        sideways = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert tool.evaluate(sideways) <= 0, path
        box = frame.locator(".table-scroll").first
        expect(box).to_have_attribute("tabindex", "0")
        expect(box).to_have_attribute("role", "region")

    italian = launch_dashboard(lms, page, ANNA, locale="it-IT")
    frame = lms.show(page, italian)
    expect(frame.locator("main h1")).to_have_text("Panoramica della partecipazione")
    page.screenshot(path=ARTEFACTS / "dashboard-overview-it.png")
    assert (ARTEFACTS / "dashboard-overview-en.png").stat().st_size > 10_000


def test_the_skip_link_passes_over_both_menus(lms: Lms, page: Page) -> None:
    """From the keyboard, the first Tab shows "Skip to content"; following it, the next Tab
    reaches the page's own content, not one of the two menus' fifteen links."""
    lms.show(page, launch_dashboard(lms, page, ANNA))
    tool = tool_frame(page, lms.tool_url, re.compile(r"/w/[^/]+/dashboard/$"))
    tool.locator("body").focus()
    tool.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("Tab")
    skip = tool.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["x"] >= 0  # type: ignore[index]  # on screen once focused
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = tool.evaluate(
        "() => [document.activeElement.closest('main') !== null,"
        " document.activeElement.closest('nav') === null, document.activeElement.textContent]"
    )
    assert focused[:2] == [True, True], focused
