"""Who may do what with peer groups, and the errors a refused use case raises.

The rules, in one place:

* staff (instructors, teaching assistants) and community managers create sets, define the
  joining survey, form groups, move people, see every group, its log and its health;
* students see the sets of their course, answer surveys, join and leave self-signup groups
  (up to the cap, before the deadline), and open only the groups they belong to: any other
  group id is a 404, as is an id from another course;
* a group's members post, share links and edit the next-meeting note; a post is deleted by
  its author or by staff; the facilitator's turn is passed on by the facilitator or by staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from lti_tool.courses.roles import CourseRole


class GroupsError(Exception):
    """A groups use case that cannot be carried out; ``message`` is shown to the member."""

    default_message: Any = _l("This action cannot be completed.")

    def __init__(self, message: Any = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(str(self.message))


class NotFound(GroupsError):
    """No such set, group or post for this viewer (also other courses' and other groups')."""

    default_message = _l("There is no such group in this course.")


class PermissionDenied(GroupsError):
    default_message = _l("You are not allowed to do this.")


class InvalidInput(GroupsError):
    """What was sent is not valid; ``errors`` maps form fields to messages."""

    default_message = _l("Please correct the highlighted fields.")

    def __init__(self, errors: dict[str, Any], message: Any = None) -> None:
        self.errors = errors
        super().__init__(message)


class Refused(GroupsError):
    """A valid request the set's rules refuse now (group full, deadline passed)."""


@dataclass(frozen=True)
class Actor:
    """The member acting in a course, and their rights there (from the launch's roles)."""

    member_id: int
    course_id: int
    role: CourseRole = CourseRole.LEARNER
    community_manager: bool = False

    @property
    def manages_groups(self) -> bool:
        """Staff and community managers."""
        return self.role.is_staff or self.community_manager
