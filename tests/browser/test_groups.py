"""Peer groups in Chromium, inside a cross-site LMS iframe with third-party cookies blocked:
staff open a self-signup set, a student joins a group and posts in its thread, a second
student joins and reads it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import FrameLocator, Page, expect

from ..lti_harness import CLIENT_ID, INSTRUCTOR, LEARNER
from . import test_qa
from .test_qa import COURSE, Lms, Person, tool_frame

profiles = test_qa.profiles  # more browser profiles (fixture)

pytestmark = pytest.mark.browser

GIULIA = Person("s1", "Giulia Rossi", [LEARNER])
MARCO = Person("s2", "Marco Bianchi", [LEARNER])
ANNA = Person("t1", "Anna Neri", [INSTRUCTOR])


@pytest.fixture
def lms(cross_site: Any) -> Lms:
    return Lms(cross_site)


def launch_groups(lms: Lms, page: Page, who: Person) -> FrameLocator:
    """Launch ``who`` into the course's peer-groups widget; the tool's frame."""
    prepared = lms.cross_site.lms.platform.prepare_launch(
        CLIENT_ID,
        user={"sub": who.sub, "name": who.name},
        roles=who.roles,
        context=COURSE,
        resource_link={"id": "rl-groups", "title": "Gruppi"},
        custom={"widget": "groups"},
        launch_presentation={"document_target": "iframe"},
    )
    frame = lms.show(page, prepared.login_url)
    # A student's first launch shows the code of conduct first, then the welcome prompt.
    landed = tool_frame(page, lms.tool_url, re.compile(r"/w/[^/]+/(groups/(\?welcome=1)?)?$"))
    accept = frame.locator("form[action$='/moderation/conduct/accept'] button")
    if accept.count():
        accept.click()
    landed.wait_for_url(re.compile(r"/w/[^/]+/groups/(\?welcome=1)?$"))
    expect(frame.locator("main h1")).to_have_text("Peer groups")
    return frame


def test_a_student_joins_a_self_signup_group_and_posts(
    app: Flask, lms: Lms, page: Page, profiles: Callable[[], Page]
) -> None:
    staff = launch_groups(lms, page, ANNA)
    staff.get_by_role("link", name="New group set").click()
    staff.get_by_label("Name", exact=True).fill("Gruppi di studio")
    staff.get_by_label("Group size", exact=True).fill("3")
    staff.get_by_label("Self-signup", exact=True).check()
    staff.get_by_label("Number of groups", exact=False).fill("2")
    staff.get_by_role("button", name="Create group set").click()
    expect(staff.get_by_role("status")).to_contain_text("Group set created.")

    giulia_page = profiles()
    giulia = launch_groups(lms, giulia_page, GIULIA)
    giulia.get_by_role("link", name="Gruppi di studio").click()
    giulia.get_by_role("button", name="Join Group 1").click()
    expect(giulia.locator("main h1")).to_have_text("Group 1")
    giulia.get_by_label("Your message (Markdown)").fill("Ciao a tutti, **giovedì** alle 18?")
    giulia.get_by_role("button", name="Send message").click()
    expect(giulia.locator(".qa-body strong")).to_have_text("giovedì")

    marco_page = profiles()
    marco = launch_groups(lms, marco_page, MARCO)
    marco.get_by_role("link", name="Gruppi di studio").click()
    expect(marco.get_by_text("1 of 3 places taken")).to_be_visible()
    marco.get_by_role("button", name="Join Group 1").click()
    expect(marco.get_by_text("Ciao a tutti,")).to_be_visible()
    expect(marco.get_by_role("listitem").filter(has_text="Giulia Rossi")).to_have_count(2)
