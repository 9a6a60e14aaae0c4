"""LTI Data Privacy Launch over real HTTP: the LMS opens Bottega's privacy page for a user (or,
with ``for_user``, for the person an LMS administrator acts for); no name or e-mail needed."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

from flask import Flask
from sqlalchemy import func, select

from lti_tool.courses.models import Member
from lti_tool.demo.platform import Tamper
from lti_tool.extensions import db
from lti_tool.lti.claims import FOR_USER
from lti_tool.sync.privacy import ErasureLog

from ..lti_harness import INSTITUTION_ADMIN, INSTRUCTOR, LEARNER, Lms, browser, csrf_token

PRIVACY = "LtiDataPrivacyLaunchRequest"
ANONYMOUS_STUDENT = {"sub": "student-77"}  # no name, no e-mail, no picture


def _privacy_launch(lms: Lms, client: Any = None, **kwargs: Any) -> Any:
    kwargs.setdefault("user", ANONYMOUS_STUDENT)
    kwargs.setdefault("roles", [LEARNER])
    return lms.launch(client, message_type=PRIVACY, context=None, **kwargs)


def _post(client: Any, page: Any, path: str) -> Any:
    return client.post(
        urljoin(page.url, path), data={"csrf_token": csrf_token(page.text)}, timeout=10
    )


def _member(app: Flask, sub: str) -> Member | None:
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.lms_id == sub))
        if member is not None:
            db.session.expunge(member)
        return member


def test_a_launch_without_name_or_email_works_and_every_page_renders(lms: Lms) -> None:
    client = browser()
    result = lms.launch(client, user=ANONYMOUS_STUDENT, custom={"widget": "home"})
    assert result.page is not None and result.page.status_code == 200
    page_url = result.page.url
    lid_root = page_url.rstrip("/")
    for path in ("", "/me", "/qa/", "/kudos/", "/groups/", "/privacy/", "/welcome/"):
        page = client.get(lid_root + path, timeout=10)
        assert page.status_code == 200, (path, page.text[:300])
        assert "Traceback" not in page.text
    me = client.get(lid_root + "/me", timeout=10).text
    assert "not shared by your LMS" in me


def test_the_student_sees_their_data_downloads_it_and_requests_erasure(
    lms: Lms, app: Flask
) -> None:
    client = browser()
    course_launch = lms.launch(client, user=ANONYMOUS_STUDENT, custom={"widget": "qa"})
    assert course_launch.page is not None  # enrolled in a course
    result = _privacy_launch(lms, client)
    assert result.launch_response.status_code == 303
    page = result.page
    assert page is not None and page.status_code == 200
    assert "/privacy/" in page.url
    assert "Your data in Bottega" in page.text
    assert "Course enrolments" in page.text

    export = client.get(urljoin(page.url, "export.json"), timeout=10)
    assert export.status_code == 200
    assert "attachment" in export.headers["Content-Disposition"]
    data = json.loads(export.text)
    assert data["member"]["lms_user_id"] == "student-77"
    assert data["member"]["name"] is None and data["member"]["email"] is None
    assert len(data["tables"]["enrolment"]) == 1

    requested = _post(client, page, "request")
    assert requested.status_code == 200  # after the 303
    assert "Your request is recorded" in requested.text
    assert "You asked for erasure on" in requested.text

    # The course's instructor finds the request and carries it out.
    teacher = browser()
    staff = lms.launch(teacher, user={"sub": "teacher-1"}, roles=[INSTRUCTOR])
    assert staff.page is not None
    privacy_page = teacher.get(staff.page.url.rstrip("/") + "/privacy/", timeout=10)
    assert "Erasure requests from this course" in privacy_page.text
    found = re.search(r'action="([^"]*/requests/\d+/erase)"', privacy_page.text)
    assert found is not None
    erase_path = found.group(1)
    done = teacher.post(
        urljoin(privacy_page.url, erase_path),
        data={"csrf_token": csrf_token(privacy_page.text)},
        timeout=10,
    )
    assert done.status_code == 200 and "personal data was erased" in done.text
    # A second press (a double click, a resent form) says the same, it was done once.
    twice = teacher.post(
        urljoin(privacy_page.url, erase_path),
        data={"csrf_token": csrf_token(privacy_page.text)},
        timeout=10,
    )
    assert twice.status_code == 200 and "personal data was erased" in twice.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ErasureLog)) == 1
    assert _member(app, "student-77") is None  # the sub maps to nobody now
    # Their browser's course launch no longer opens their pages.
    assert client.get(course_launch.page.url, timeout=10).status_code == 401

    # Checking their privacy page again says so, and stores nothing of them again (a new
    # member would be enrolled in every course by the next roster sync).
    again = _privacy_launch(
        lms, browser(), user={**ANONYMOUS_STUDENT, "name": "Giulia Rossi", "email": "g@x.org"}
    )
    assert again.page is not None and "Your data in Bottega" in again.page.text
    assert "The personal data was erased" in again.page.text
    assert "Giulia Rossi" not in again.page.text
    assert _member(app, "student-77") is None
    with app.app_context():
        assert db.session.scalar(select(Member).where(Member.name == "Giulia Rossi")) is None
    # Their next course launch makes a fresh member, holding nothing of the erased one.
    back = lms.launch(browser(), user=ANONYMOUS_STUDENT, custom={"widget": "qa"})
    assert back.page is not None and back.page.status_code == 200
    fresh = _member(app, "student-77")
    assert fresh is not None
    mine = _privacy_launch(lms, browser())
    assert mine.page is not None and "The personal data was erased" not in mine.page.text
    assert "Questions (anonymous ones included)" not in mine.page.text


def test_an_lms_admin_acting_for_someone_exports_and_erases_directly(lms: Lms, app: Flask) -> None:
    lms.launch(browser(), user={"sub": "student-5", "name": "Sara Verdi"})
    admin = browser()
    result = _privacy_launch(
        lms,
        admin,
        user={"sub": "admin-1"},
        roles=[INSTITUTION_ADMIN],
        tamper=Tamper(claims={FOR_USER: {"user_id": "student-5", "roles": [LEARNER]}}),
    )
    page = result.page
    assert page is not None and page.status_code == 200, result.launch_response.text[:300]
    assert "Data Bottega holds about this person" in page.text
    assert "Sara Verdi" in page.text
    assert "Records that refer to them, in every course of this LMS" in page.text
    assert "not shared by the LMS" in page.text  # her e-mail
    assert "refer to you" not in page.text and "your LMS" not in page.text
    export = admin.get(urljoin(page.url, "export.json"), timeout=10).json()
    assert export["member"]["lms_user_id"] == "student-5"
    erased = _post(admin, page, "erase")
    assert erased.status_code == 200
    assert "The personal data was erased" in erased.text
    assert _member(app, "student-5") is None
    # A later privacy launch for the same person says they were erased, not "never seen".
    later = _privacy_launch(
        lms,
        browser(),
        user={"sub": "admin-1"},
        roles=[INSTITUTION_ADMIN],
        tamper=Tamper(claims={FOR_USER: {"user_id": "student-5", "roles": [LEARNER]}}),
    )
    assert later.page is not None and "The personal data was erased" in later.page.text
    assert "never opened it" not in later.page.text


def test_for_user_unknown_to_bottega_says_nothing_is_held(lms: Lms) -> None:
    result = _privacy_launch(
        lms,
        user={"sub": "admin-1"},
        roles=[INSTITUTION_ADMIN],
        tamper=Tamper(claims={FOR_USER: {"user_id": "never-launched"}}),
    )
    assert result.page is not None
    assert "Bottega holds no data about this person" in result.page.text


def test_someone_else_s_page_is_refused_to_a_non_admin(lms: Lms) -> None:
    lms.launch(browser(), user={"sub": "student-5"})
    result = _privacy_launch(lms, tamper=Tamper(claims={FOR_USER: {"user_id": "student-5"}}))
    assert result.status == 403
    assert "Only an LMS administrator" in result.launch_response.text
    assert result.page is None


def test_for_user_without_a_user_id_is_a_clear_400(lms: Lms) -> None:
    result = _privacy_launch(lms, tamper=Tamper(claims={FOR_USER: {"name": "x"}}))
    assert result.status == 400
    assert "for_user claim has no user_id" in result.launch_response.text


def test_pylti1p3_s_spelling_of_the_message_type_is_read_too(lms: Lms) -> None:
    result = lms.launch(
        user=ANONYMOUS_STUDENT,
        message_type="DataPrivacyLaunchRequest",
        context=None,
        tamper=Tamper(claims={FOR_USER: {"user_id": "student-77"}}),
    )
    assert result.page is not None and "Your data in Bottega" in result.page.text


def test_a_privacy_launch_records_no_enrolment(lms: Lms, app: Flask) -> None:
    # Even if an LMS adds a context, the privacy launch is about a person, not a course.
    result = lms.launch(user={"sub": "student-8"}, message_type=PRIVACY)
    assert result.page is not None and result.page.status_code == 200
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.lms_id == "student-8"))
        assert member is not None
        from lti_tool.courses.models import Enrolment

        assert (
            db.session.scalars(select(Enrolment).where(Enrolment.member_id == member.id)).all()
            == []
        )


def test_config_lists_the_data_privacy_message(lms: Lms) -> None:
    config = browser().get(f"{lms.tool_url}/lti/config", timeout=5).json()
    assert PRIVACY in config["messages"]


def test_the_privacy_page_speaks_the_launch_s_language(lms: Lms) -> None:
    result = _privacy_launch(lms, launch_presentation={"locale": "it-IT"})
    assert result.page is not None and "I tuoi dati in Bottega" in result.page.text
    assert "Chiedi la cancellazione dei miei dati" in result.page.text


def test_students_cannot_erase_directly_nor_reach_other_courses_requests(lms: Lms) -> None:
    client = browser()
    lms.launch(client, user=ANONYMOUS_STUDENT)  # enrolled in course-101 only
    result = _privacy_launch(lms, client)
    page = result.page
    assert page is not None
    assert _post(client, page, "erase").status_code == 403  # only through a request
    assert _post(client, page, "requests/1/erase").status_code == 403  # staff only
    # An instructor of another course does not see, nor reach, this student's request.
    _post(client, page, "request")
    teacher = browser()
    staff = lms.launch(
        teacher, user={"sub": "teacher-2"}, roles=[INSTRUCTOR], context={"id": "other-course"}
    )
    assert staff.page is not None
    other = teacher.get(staff.page.url.rstrip("/") + "/privacy/", timeout=10)
    assert "Erasure requests from this course" not in other.text
    refused = teacher.post(
        staff.page.url.rstrip("/") + "/privacy/requests/1/erase",
        data={"csrf_token": csrf_token(other.text)},
        timeout=10,
    )
    assert refused.status_code == 404
