"""Who may still open pages of a course through a launch their browser holds."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import update

from lti_tool.courses.models import Enrolment, EnrolmentStatus
from lti_tool.courses.services import enrol
from lti_tool.extensions import db

from ..community.qa.conftest import PEOPLE, CourseWorld, make_course, make_platform, sign_in


@pytest.fixture
def site(app: Flask) -> CourseWorld:
    with app.app_context():
        return make_course(make_platform("https://moodle.example.org"), "course-1", PEOPLE)


def _drop(app: Flask, site: CourseWorld, key: str) -> None:
    """What a roster sync does when the LMS no longer lists someone in the course."""
    with app.app_context():
        db.session.execute(
            update(Enrolment)
            .where(Enrolment.course_id == site.course_id)
            .where(Enrolment.member_id == site[key].member_id)
            .values(status=EnrolmentStatus.INACTIVE)
        )
        db.session.commit()


def test_a_student_dropped_from_the_course_loses_the_launch_they_hold(
    app: Flask, site: CourseWorld
) -> None:
    giulia = sign_in(app, site, "giulia")
    assert giulia.get("/w/L1/qa/").status_code == 200
    _drop(app, site, "giulia")
    refused = giulia.get("/w/L1/qa/")
    assert refused.status_code == 401
    assert "Open Bottega again from your course in the LMS." in refused.text
    assert sign_in(app, site, "marco").get("/w/L1/qa/").status_code == 200  # others keep theirs
    # Enrolled again: her next launch from the LMS re-activates the enrolment.
    with app.app_context():
        enrol(db.session(), site.course_id, site["giulia"].member_id, [])
        db.session.commit()
    assert giulia.get("/w/L1/qa/").status_code == 200


def test_staff_the_roster_does_not_list_keep_their_launch(app: Flask, site: CourseWorld) -> None:
    """An LMS administrator or a teacher may open a course whose roster leaves them out."""
    prof = sign_in(app, site, "prof")
    _drop(app, site, "prof")
    assert prof.get("/w/L1/qa/").status_code == 200
