"""Moderation fixtures: the Q&A test course (members of each role) and a second LMS's course."""

from __future__ import annotations

from flask import Flask

from lti_tool.courses.roles import CourseRole

from ..qa.conftest import (  # noqa: F401  (fixtures)
    CourseWorld,
    make_course,
    make_platform,
    site,
    world,
)


def other_course(app: Flask) -> CourseWorld:
    """A course on another LMS, with its own instructor (call outside an app context)."""
    with app.app_context():
        platform = make_platform("https://canvas.example.net")
        return make_course(platform, "course-9", {"olga": ("Olga Ferri", CourseRole.INSTRUCTOR)})
