"""Groups fixtures: the Q&A fixtures' course builder, with more students and groups actors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import update

from lti_tool.community.groups.permissions import Actor
from lti_tool.courses.models import Enrolment, EnrolmentStatus
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from ..qa.conftest import PEOPLE, CourseWorld, form_token, make_course, make_platform, sign_in

__all__ = ["GroupsWorld", "form_token", "sign_in"]

STUDENTS = {f"s{i}": (f"Student {i:02d}", CourseRole.LEARNER) for i in range(1, 9)}
EVERYONE = {**PEOPLE, **STUDENTS}


@dataclass
class GroupsWorld:
    """A course (and its Q&A-style world) with groups actors for its people."""

    world: CourseWorld

    @property
    def course_id(self) -> int:
        return self.world.course_id

    @property
    def platform_id(self) -> int:
        return self.world.platform_id

    def __getitem__(self, key: str) -> Actor:
        a = self.world[key]
        return Actor(a.member_id, a.course_id, a.role, a.community_manager)

    def member_id(self, key: str) -> int:
        return self.world[key].member_id

    def students(self) -> list[int]:
        return sorted(
            a.member_id for a in self.world.actors.values() if a.role == CourseRole.LEARNER
        )

    def deactivate(self, *keys: str) -> None:
        db.session.execute(
            update(Enrolment)
            .where(
                Enrolment.course_id == self.course_id,
                Enrolment.member_id.in_([self.member_id(k) for k in keys]),
            )
            .values(status=EnrolmentStatus.INACTIVE)
        )
        db.session.commit()


def build(
    platform_issuer: str = "https://moodle.example.org", lms_id: str = "course-1"
) -> GroupsWorld:
    platform = make_platform(platform_issuer)
    return GroupsWorld(make_course(platform, lms_id, EVERYONE, managers=("cm",)))


@pytest.fixture
def gw(app: Flask) -> Iterator[GroupsWorld]:
    """A course with 12 students, an instructor, a TA and a community manager (who is also
    a student), inside an app context."""
    with app.app_context():
        yield build()


@pytest.fixture
def gsite(app: Flask) -> GroupsWorld:
    """The same course for page tests, built outside any app context."""
    with app.app_context():
        return build()


@pytest.fixture
def other_course(app: Flask) -> GroupsWorld:
    """A second course on another LMS, for isolation tests."""
    with app.app_context():
        return build("https://canvas.example.org", "course-x")
