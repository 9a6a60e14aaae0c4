"""Pulse fixtures: the Q&A test course (same people), seen as pulse actors."""

from __future__ import annotations

from lti_tool.community.pulse.services import Actor
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

__all__ = ["CourseWorld", "form_token", "make_course", "make_platform", "pulse_actor", "sign_in"]


def pulse_actor(course: CourseWorld, key: str) -> Actor:
    """The pulse actor of one person of the world (staff and managers manage, learners answer)."""
    qa = course[key]
    manages = qa.role >= CourseRole.TEACHING_ASSISTANT or qa.community_manager
    return Actor(
        member_id=qa.member_id,
        course_id=qa.course_id,
        can_manage=manages,
        learner=qa.role == CourseRole.LEARNER and not manages,
    )
