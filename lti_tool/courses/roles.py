"""Course roles, from the LMS's context role URIs (LTI 1.3 Core, appendix A.2).

Only context (membership) roles give rights in a course. Institution and system roles, such as
an LMS-wide Administrator, never make someone course staff: a student who is also a system
administrator of the LMS is a student in this course. Unknown or missing roles get the least
privilege and can still use the course.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
MEMBERSHIP_SUB = "http://purl.imsglobal.org/vocab/lis/v2/membership/"


class CourseRole(enum.IntEnum):
    """What a member may do in a course, ordered by privilege."""

    GUEST = 0  # no recognised context role
    LEARNER = 10
    MENTOR = 20
    TEACHING_ASSISTANT = 30
    INSTRUCTOR = 40

    @property
    def is_staff(self) -> bool:
        return self >= CourseRole.TEACHING_ASSISTANT

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").title()


# Context role name -> course role. ContentDeveloper and Administrator (as a *context* role)
# maintain the course, so they count as instructors.
_CONTEXT_ROLES = {
    "Learner": CourseRole.LEARNER,
    "Mentor": CourseRole.MENTOR,
    "TeachingAssistant": CourseRole.TEACHING_ASSISTANT,
    "Instructor": CourseRole.INSTRUCTOR,
    "ContentDeveloper": CourseRole.INSTRUCTOR,
    "Administrator": CourseRole.INSTRUCTOR,
    "Manager": CourseRole.INSTRUCTOR,
    "Member": CourseRole.LEARNER,
    "Officer": CourseRole.LEARNER,
}


def _context_role(uri: str) -> CourseRole | None:
    uri = uri.strip()
    if uri.startswith(MEMBERSHIP):
        return _CONTEXT_ROLES.get(uri[len(MEMBERSHIP) :])
    if uri.startswith(MEMBERSHIP_SUB):
        # Sub-roles: .../membership/Instructor#TeachingAssistant is a TA, not an instructor.
        principal, _, sub = uri[len(MEMBERSHIP_SUB) :].partition("#")
        if sub in ("TeachingAssistant", "TeachingAssistantSection", "Grader"):
            return CourseRole.TEACHING_ASSISTANT
        if sub == "Mentor" or principal == "Mentor":
            return CourseRole.MENTOR
        return _CONTEXT_ROLES.get(principal)
    if "/" not in uri and "#" not in uri:
        # Short (simple) names are allowed for context roles only (LTI 1.3 Core A.2.3.1).
        return _CONTEXT_ROLES.get(uri)
    return None  # institution, system or unknown role: no course right


def course_role(roles: Iterable[str]) -> CourseRole:
    """The highest course role among the LMS roles; GUEST when none is a context role."""
    best = CourseRole.GUEST
    for uri in roles:
        if isinstance(uri, str):
            role = _context_role(uri)
            if role is not None and role > best:
                best = role
    return best


_ADMIN_ROLES = frozenset(
    {
        "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
        "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
        "http://purl.imsglobal.org/vocab/lis/v2/system/person#SysAdmin",
    }
)


def is_lms_admin(roles: Iterable[str]) -> bool:
    """An administrator of the whole LMS (institution or system role), not of one course.

    It gives no right inside a course (see the module docstring); it opens the academy-wide
    views of that LMS's courses.
    """
    return any(isinstance(r, str) and r.strip() in _ADMIN_ROLES for r in roles)
