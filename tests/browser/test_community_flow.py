"""Issue 6 end to end in Chromium, inside the cross-site LMS iframe (third-party cookies blocked):
a student joins a self-signup group and posts in its thread, then thanks a classmate with kudos;
the classmate sees the kudos on the wall and the notification of the badge they earned."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from lti_tool.community.qa import services
from lti_tool.extensions import db
from lti_tool.jobs.runtime import runtime_of

from .test_groups import ANNA, GIULIA, MARCO, launch_groups, lms, profiles  # noqa: F401
from .test_qa import Lms, actor_for, tool_frame

pytestmark = pytest.mark.browser


def test_join_a_group_post_give_kudos_and_the_peer_sees_wall_and_badge(
    app: Flask,
    lms: Lms,  # noqa: F811
    page: Page,
    profiles: Callable[[], Page],  # noqa: F811
) -> None:
    staff = launch_groups(lms, page, ANNA)
    staff.get_by_role("link", name="New group set").click()
    staff.get_by_label("Name", exact=True).fill("Gruppi di studio")
    staff.get_by_label("Group size", exact=True).fill("3")
    staff.get_by_label("Self-signup", exact=True).check()
    staff.get_by_label("Number of groups", exact=False).fill("2")
    staff.get_by_role("button", name="Create group set").click()
    expect(staff.get_by_role("status")).to_contain_text("Group set created.")

    # Giulia joins a group and writes in its thread.
    giulia_tab = profiles()
    giulia = launch_groups(lms, giulia_tab, GIULIA)
    giulia.get_by_role("link", name="Gruppi di studio").click()
    giulia.get_by_role("button", name="Join Group 1").click()
    expect(giulia.locator("main h1")).to_have_text("Group 1")
    giulia.get_by_label("Your message (Markdown)").fill("Chi ha capito l'esercizio 3?")
    giulia.get_by_role("button", name="Send message").click()
    expect(giulia.get_by_text("Chi ha capito l'esercizio 3?")).to_be_visible()
    giulia_lid = re.search(r"/w/([^/]+)/", tool_frame(giulia_tab, lms.tool_url).url)
    assert giulia_lid

    # Marco joins the same group, and answers Giulia's question in the Q&A.
    marco_tab = profiles()
    marco = launch_groups(lms, marco_tab, MARCO)
    marco_lid = re.search(r"/w/([^/]+)/", tool_frame(marco_tab, lms.tool_url).url)
    assert marco_lid
    marco.get_by_role("link", name="Gruppi di studio").click()
    marco.get_by_role("button", name="Join Group 1").click()
    expect(marco.get_by_text("Chi ha capito l'esercizio 3?")).to_be_visible()
    with app.app_context():
        question = services.ask(
            db.session(),
            actor_for(app, GIULIA),
            services.QuestionInput(title="Esercizio 3: da dove si parte?"),
        )
        services.answer(db.session(), actor_for(app, MARCO), question.id, "Dalla definizione.")
        question_id = question.id

    # Giulia thanks Marco from his answer.
    tool = lms.tool_url
    giulia = lms.show(giulia_tab, f"{tool}/w/{giulia_lid.group(1)}/qa/{question_id}")
    giulia.get_by_role("link", name="Give kudos").click()
    expect(giulia.locator("main h1")).to_have_text("Give kudos")
    giulia.get_by_label("Helpful answer").check()
    giulia.get_by_label("Your message").fill("Grazie Marco, gentilissimo!")
    giulia.get_by_role("button", name="Send kudos").click()
    expect(giulia.locator("main")).to_contain_text("Your kudos is on the wall.")

    runtime_of(app).drain("browser-test")  # the badge job (a worker runs it in production)

    # Marco sees the kudos on the wall and the badge among his notifications.
    base = f"{tool}/w/{marco_lid.group(1)}"
    marco = lms.show(marco_tab, f"{base}/kudos/")
    item = marco.locator("li.kudos-item").first
    expect(item).to_contain_text("Giulia Rossi")
    expect(item).to_contain_text("Grazie Marco, gentilissimo!")
    marco = lms.show(marco_tab, f"{base}/qa/notifications")
    expect(marco.locator("main")).to_contain_text("You received kudos: Grazie Marco, gentilissimo!")
    expect(marco.locator("main")).to_contain_text("You earned a badge: First answer")
