"""Kudos and recognition fixtures: the Q&A test course (same people), seen as kudos actors."""

from __future__ import annotations

from lti_tool.community.kudos.services import Actor
from lti_tool.courses.roles import CourseRole

from ..qa.conftest import (  # noqa: F401  (the Q&A course fixtures, shared)
    CourseWorld,
    form_token,
    make_course,
    make_platform,
    sign_in,
    site,
    world,
)

__all__ = ["CourseWorld", "form_token", "kudos_actor", "make_course", "make_platform", "sign_in"]


def kudos_actor(course: CourseWorld, key: str) -> Actor:
    """The kudos actor of one person of the world (staff and managers manage)."""
    qa = course[key]
    return Actor(
        member_id=qa.member_id,
        course_id=qa.course_id,
        can_manage=qa.role >= CourseRole.TEACHING_ASSISTANT or qa.community_manager,
    )
