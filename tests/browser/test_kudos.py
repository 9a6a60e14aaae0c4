"""Kudos in Chromium, inside the cross-site LMS iframe: a student thanks a classmate from the
classmate's answer; the classmate sees it on the wall, with the notifications of the kudos and of
the badge the answer earned."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from lti_tool.community.qa import services
from lti_tool.extensions import db
from lti_tool.jobs.runtime import runtime_of

from .test_qa import GIULIA, MARCO, Lms, actor_for, lms, profiles  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_a_student_thanks_a_classmate_who_sees_it_and_gets_a_badge(
    page: Page,
    lms: Lms,  # noqa: F811
    app: Flask,
    profiles: Callable[[], Page],  # noqa: F811
) -> None:
    giulia_tab, marco_tab = page, profiles()
    giulia, giulia_qa = lms.launch(giulia_tab, GIULIA)
    _marco, marco_qa = lms.launch(marco_tab, MARCO)
    with app.app_context():
        question = services.ask(
            db.session(),
            actor_for(app, GIULIA),
            services.QuestionInput(title="Perché la derivata di x² è 2x?"),
        )
        services.answer(
            db.session(), actor_for(app, MARCO), question.id, "Dal rapporto incrementale."
        )
        question_id = question.id

    # Giulia thanks Marco from his answer, with the keyboard-reachable form.
    giulia = lms.show(giulia_tab, f"{giulia_qa}{question_id}")
    giulia.get_by_role("link", name="Give kudos").click()
    expect(giulia.locator("main h1")).to_have_text("Give kudos")
    expect(giulia.get_by_label("Who is it for?")).to_have_value(
        str(actor_for(app, MARCO).member_id)
    )
    giulia.get_by_label("Helpful answer").check()
    giulia.get_by_label("Your message").fill("Grazie Marco, ora è chiaro!")
    giulia.get_by_role("button", name="Send kudos").click()
    expect(giulia.locator("main")).to_contain_text("Your kudos is on the wall.")
    expect(giulia.locator("li.kudos-item").first).to_contain_text("Grazie Marco, ora è chiaro!")

    # The badge job runs (a worker does this in production).
    runtime_of(app).drain("browser-test")

    kudos_wall = marco_qa.replace("/qa/", "/kudos/")
    marco = lms.show(marco_tab, kudos_wall)
    item = marco.locator("li.kudos-item").first
    expect(item).to_contain_text("Giulia Rossi")
    expect(item).to_contain_text("Helpful answer")
    expect(item.get_by_role("link", name="Perché la derivata di x² è 2x?")).to_be_visible()
    marco = lms.show(marco_tab, f"{marco_qa}notifications")
    expect(marco.locator("main")).to_contain_text("You received kudos: Grazie Marco, ora è chiaro!")
    expect(marco.locator("main")).to_contain_text("You earned a badge: First answer")
    marco = lms.show(marco_tab, kudos_wall.replace("/kudos/", "/recognition/celebrations"))
    expect(marco.locator("li.kudos-item").first).to_contain_text("First answer")
