"""Who may do what in a course's Q&A, and the errors a refused use case raises.

The rules, in one place:

* everyone enrolled in the course reads, asks, answers, comments, follows and flags;
* a post is edited or deleted by its author, or by staff (instructors, teaching assistants)
  and community managers;
* "helpful" votes: one per member and post, never on one's own post, a second vote takes it back;
* only the asker accepts an answer, and only an answer to that question;
* staff and community managers endorse questions and answers; peer mentors (a role staff grant,
  see community/recognition) endorse answers of others;
* anonymous posts show "Anonymous classmate" to students; instructors and teaching assistants
  see the author when the course allows it (``QASettings.staff_see_anonymous``); the author
  always sees their own posts as theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from lti_tool.courses.roles import CourseRole


class QAError(Exception):
    """A Q&A use case that cannot be carried out; ``message`` is shown to the member."""

    default_message: Any = _l("This action cannot be completed.")

    def __init__(self, message: Any = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(str(self.message))


class NotFound(QAError):
    """No such post in the viewer's course (also for posts of other courses and tenants)."""

    default_message = _l("There is no such question or answer in this course.")


class PermissionDenied(QAError):
    default_message = _l("You are not allowed to do this.")


class InvalidInput(QAError):
    """What was sent does not make a valid post; ``errors`` maps form fields to messages."""

    default_message = _l("Please correct the highlighted fields.")

    def __init__(self, errors: dict[str, Any], message: Any = None) -> None:
        self.errors = errors
        super().__init__(message)


class Conflict(QAError):
    default_message = _l("This clashes with a change made meanwhile. Reload and try again.")


@dataclass(frozen=True)
class Actor:
    """The member acting in a course, and their rights there (from the launch's roles)."""

    member_id: int
    course_id: int
    role: CourseRole = CourseRole.LEARNER
    community_manager: bool = False
    peer_mentor: bool = False

    @property
    def is_staff(self) -> bool:
        """Instructors and teaching assistants."""
        return self.role.is_staff

    @property
    def can_moderate(self) -> bool:
        """Edit, delete and endorse any post: staff and community managers."""
        return self.is_staff or self.community_manager

    def can_endorse(self, kind: str, author_id: int) -> bool:
        """Endorse a question or answer: moderators; peer mentors an answer of someone else."""
        if self.can_moderate:
            return True
        return self.peer_mentor and kind == "answer" and author_id != self.member_id

    def can_withdraw_endorsement(self, endorsed_by: int | None, by_mentor: bool) -> bool:
        """Withdraw an endorsement: moderators any; a peer mentor only their own (never staff's)."""
        if self.can_moderate:
            return True
        return self.peer_mentor and by_mentor and endorsed_by == self.member_id

    def can_change(self, author_id: int) -> bool:
        """Edit or delete a post."""
        return author_id == self.member_id or self.can_moderate

    def sees_anonymous_authors(self, staff_see_anonymous: bool) -> bool:
        return self.is_staff and staff_see_anonymous
