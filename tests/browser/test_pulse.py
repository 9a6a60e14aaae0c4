"""Course pulse in Chromium, inside the cross-site LMS iframe: an instructor opens a pulse from
the dashboard's navigation; a student answers it on the Q&A page with the keyboard alone; the
instructor sees the answer counted, its figures withheld below three answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .test_qa import ANNA, GIULIA, Lms, lms, profiles  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_a_pulse_opened_by_staff_is_answered_with_the_keyboard(
    page: Page,
    lms: Lms,  # noqa: F811
    profiles: Callable[[], Page],  # noqa: F811
) -> None:
    anna_tab, giulia_tab = page, profiles()
    _anna, anna_qa = lms.launch(anna_tab, ANNA)
    anna = lms.show(anna_tab, anna_qa.replace("/qa/", "/dashboard/"))
    anna.get_by_role("link", name="Course pulse").click()
    expect(anna.locator("main h1")).to_have_text("Course pulse")
    anna.get_by_label("Question").fill("Are the exercises useful?")
    anna.get_by_label("Open for how many days").fill("5")
    anna.get_by_role("button", name="Open the pulse").click()
    expect(anna.locator("main")).to_contain_text("The pulse is open")

    giulia, _giulia_qa = lms.launch(giulia_tab, GIULIA)
    box = giulia.locator("section#pulse")
    scale = box.get_by_role("group", name="Are the exercises useful?")
    expect(scale).to_be_visible()
    # The keyboard alone: the arrow keys move along the scale, Tab reaches the comment.
    scale.get_by_label("1 \u2013 Not well").focus()
    for _ in range(3):
        giulia_tab.keyboard.press("ArrowRight")
    expect(scale.get_by_label("4")).to_be_checked()
    giulia_tab.keyboard.press("Tab")
    expect(box.get_by_label("Comment (optional)")).to_be_focused()
    giulia_tab.keyboard.type("More worked examples, please")
    giulia_tab.keyboard.press("Tab")
    expect(box.get_by_role("button", name="Send my answer")).to_be_focused()
    giulia_tab.keyboard.press("Enter")
    expect(giulia.locator("main")).to_contain_text("Thank you for your answer!")
    expect(giulia.locator("section#pulse")).to_contain_text("you answered 4 out of 5")
    expect(giulia.locator("section#pulse form")).not_to_be_visible()  # folded away

    anna = lms.show(anna_tab, anna_qa.replace("/qa/", "/pulse/"))
    expect(anna.locator("main")).to_contain_text("1 answer")
    expect(anna.locator("main")).to_contain_text(
        "Too few answers yet to show without identifying anyone"
    )
    expect(anna.locator("main")).not_to_contain_text("More worked examples")
    expect(anna.locator("main")).not_to_contain_text("Giulia")
