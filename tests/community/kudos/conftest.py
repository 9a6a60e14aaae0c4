"""Kudos and recognition fixtures: the Q&A test course (same people), seen as kudos actors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from lti_tool.community.kudos.services import Actor
from lti_tool.courses.roles import CourseRole

from ..qa.conftest import PEOPLE, CourseWorld, form_token, make_course, make_platform, sign_in

__all__ = ["CourseWorld", "form_token", "kudos_actor", "make_course", "make_platform", "sign_in"]


def kudos_actor(world: CourseWorld, key: str) -> Actor:
    """The kudos actor of one person of the world (staff and managers manage)."""
    qa = world[key]
    return Actor(
        member_id=qa.member_id,
        course_id=qa.course_id,
        can_manage=qa.role >= CourseRole.TEACHING_ASSISTANT or qa.community_manager,
    )


@pytest.fixture
def world(app: Flask) -> Iterator[CourseWorld]:
    """One course on one LMS, inside an app context."""
    with app.app_context():
        platform = make_platform("https://moodle.example.org")
        yield make_course(platform, "course-1", PEOPLE, managers=("cm",))


@pytest.fixture
def site(app: Flask) -> CourseWorld:
    """The same course for page tests, built outside the requests' app contexts."""
    with app.app_context():
        platform = make_platform("https://moodle.example.org")
        return make_course(platform, "course-1", PEOPLE, managers=("cm",))
