"""`make run`'s demo mode in a browser: the tool and its demo LMS on one server.

A newcomer opens ``/``, picks a person and lands in the demo course with Bottega in the iframe;
the instructor places a new widget through deep linking. Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lti_tool.demo.platform import RunningServer

pytestmark = pytest.mark.browser


def test_index_opens_the_demo_course_as_a_student(
    page: Page, demo_server: RunningServer, screenshots: Path
) -> None:
    page.goto(demo_server.url + "/")
    expect(page.get_by_role("heading", name="Try the demo course")).to_be_visible()
    page.screenshot(path=screenshots / "demo-index.png", full_page=True)

    page.get_by_role("link", name="Open the demo course as a student").click()
    expect(page).to_have_url(demo_server.url + "/demo/lms/course/student")
    frame = page.frame_locator("#tool-frame")
    # A student's first launch in the course: the code of conduct, accepted in the frame.
    expect(frame.get_by_role("heading", level=1)).to_have_text("Code of conduct")
    frame.get_by_role("button", name="I accept").click()
    expect(frame.get_by_role("heading", level=1)).to_have_text("Community home")
    expect(frame.locator("main")).to_contain_text("Giulia Rossi")
    expect(frame.locator("main")).to_contain_text("Student")
    expect(page.locator("#lti-storage-log li").filter(has_text="lti.put_data")).to_have_count(1)
    expect(page.get_by_role("link", name="Community dashboard")).to_have_count(0)
    page.screenshot(path=screenshots / "demo-student-widget.png")

    frame.get_by_role("link", name="My profile").click()
    expect(frame.get_by_role("heading", level=1)).to_have_text("My profile")
    expect(frame.locator("dd").filter(has_text="Storia dell'arte (demo)")).to_have_count(1)


def test_tutor_sees_the_staff_dashboard(
    page: Page, demo_server: RunningServer, screenshots: Path
) -> None:
    page.goto(demo_server.url + "/")
    page.get_by_role("link", name="Open the demo course as a tutor").click()
    page.get_by_role("link", name="Community dashboard").click()
    frame = page.frame_locator("#tool-frame")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Engagement overview")
    # Who is signed in, with which role, is in the page's banner, above its content.
    expect(frame.get_by_role("banner")).to_contain_text("Signed in as Marco Bianchi")
    expect(frame.get_by_role("banner")).to_contain_text("Tutor")
    page.screenshot(path=screenshots / "demo-tutor-dashboard.png")


def test_instructor_adds_a_widget_by_deep_linking(
    page: Page, demo_server: RunningServer, screenshots: Path
) -> None:
    page.goto(demo_server.url + "/")
    page.get_by_role("link", name="Open the demo course as an instructor").click()
    expect(page.frame_locator("#tool-frame").locator("main")).to_contain_text("Anna Verdi")

    page.get_by_role("link", name="Add a widget").click()
    frame = page.frame_locator("#tool-frame")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Add Bottega to your course")
    frame.locator("#w-kudos").check()
    frame.locator("#title-kudos").fill("Grazie, compagni!")
    page.screenshot(path=screenshots / "demo-instructor-add-widget.png")
    frame.get_by_role("button", name="Add to course").click()

    expect(frame.get_by_role("heading", level=1)).to_have_text("Items received")
    page.screenshot(path=screenshots / "demo-instructor-widget-placed.png")
    frame.get_by_role("link", name="Grazie, compagni!").click()  # opens in the whole page
    expect(page.get_by_role("heading", level=1)).to_have_text("Grazie, compagni!")
    expect(page.get_by_role("link", name="Grazie, compagni!")).to_have_attribute(
        "aria-current", "page"
    )
    placed = page.frame_locator("#tool-frame")
    expect(placed.get_by_role("heading", level=1)).to_have_text("Kudos wall")
    # Staff see the staff pages of the widget.
    expect(placed.get_by_role("link", name="Kudos settings")).to_be_visible()
