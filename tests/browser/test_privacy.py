"""The privacy page in Chromium, inside the cross-site LMS iframe: a student downloads their
export and requests erasure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from lti_tool.community.qa import services
from lti_tool.extensions import db

from .test_qa import GIULIA, Lms, actor_for, lms  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_a_student_downloads_their_data_and_requests_erasure(
    page: Page,
    lms: Lms,  # noqa: F811
    app: Flask,
) -> None:
    _frame, qa_url = lms.launch(page, GIULIA)
    giulia = actor_for(app, GIULIA)
    with app.app_context():
        services.ask(
            db.session(),
            giulia,
            services.QuestionInput(title="Sono in ritardo col programma?", anonymous=True),
        )
    privacy_url = qa_url.replace("/qa/", "/privacy/")
    frame = lms.show(page, privacy_url)
    expect(frame.locator("main h1")).to_have_text("Your data in Bottega")
    expect(frame.locator("table.privacy-held")).to_contain_text(
        "Questions (anonymous ones included)"
    )

    with page.expect_download() as download_info:
        frame.get_by_role("link", name="Download my data (JSON)").click()
    download = download_info.value
    assert download.suggested_filename == f"bottega-export-{giulia.member_id}.json"
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert data["member"]["name"] == "Giulia Rossi"
    [question] = data["tables"]["qa_question"]
    assert (question["title"], question["anonymous"]) == ("Sono in ritardo col programma?", True)

    frame.get_by_role("button", name="Request erasure of my data").click()
    expect(frame.locator("main [role=status]").first).to_contain_text("Your request is recorded")
    expect(frame.locator("p.privacy-pending")).to_contain_text("You asked for erasure on")
    expect(frame.get_by_role("button", name="Request erasure of my data")).to_have_count(0)
