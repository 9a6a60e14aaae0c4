"""Peer-group tables: sets of groups, their members, the joining survey and the group space.

Every row carries its ``course_id``, so that a lookup by id is filtered by the viewer's course
in the same query (an id from another course is a 404). A member is in at most one group of a
set (``groups_membership`` is unique on set and member); every placement, move and departure
is written to ``groups_change``, which staff read as the set's log.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.courses.models import Member
from lti_tool.extensions import UTCDateTime, db, utcnow

NAME_MAX = 120
URL_MAX = 2000


class AssignMode(enum.StrEnum):
    """How a set's members are placed."""

    MANUAL = "manual"  # staff place people
    RANDOM = "random"
    BALANCED = "balanced"  # from the joining survey
    SELF_SIGNUP = "self_signup"  # students choose, up to a cap, until a deadline

    @property
    def automatic(self) -> bool:
        """Sets whose late joiners are placed without anyone choosing."""
        return self in (AssignMode.RANDOM, AssignMode.BALANCED)


class ChangeReason(enum.StrEnum):
    """Why a membership changed (the log's wording comes from this)."""

    FORMED = "formed"  # the set's groups were formed
    LATE_JOINER = "late_joiner"
    LEFT_COURSE = "left_course"
    MOVED = "moved"  # by staff
    REMOVED = "removed"  # by staff
    JOINED = "joined"  # self-signup
    LEFT_GROUP = "left_group"  # self-signup


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class GroupSet(db.Model):  # type: ignore[name-defined]
    """A way of splitting a course into groups ("Study groups, weeks 1-6")."""

    __tablename__ = "groups_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    group_size: Mapped[int]
    mode: Mapped[AssignMode] = mapped_column(_enum(AssignMode, "groups_assign_mode"))
    # Self-signup: at most this many per group, until the deadline (None: no deadline).
    signup_cap: Mapped[int | None] = mapped_column(default=None)
    signup_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    rotating_facilitator: Mapped[bool] = mapped_column(default=False, server_default=false())
    seed: Mapped[int] = mapped_column(default=0, server_default="0")
    # Random and balanced sets: when staff formed the groups; late joiners are placed after.
    formed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    groups: Mapped[list[Group]] = relationship(
        back_populates="group_set", order_by="Group.number", viewonly=True
    )


class Group(db.Model):  # type: ignore[name-defined]
    """One group of a set, with its space: next meeting, facilitator of the turn."""

    __tablename__ = "groups_group"
    __table_args__ = (UniqueConstraint("set_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("groups_set.id", ondelete="CASCADE"))
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(NAME_MAX), default="")  # "": "Group <number>"
    meeting_note: Mapped[str] = mapped_column(Text, default="")
    meeting_note_html: Mapped[str] = mapped_column(Text, default="")
    meeting_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    facilitator_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    facilitator_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Posts, links and meeting notes; None until the first.
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    group_set: Mapped[GroupSet] = relationship(back_populates="groups")


class Membership(db.Model):  # type: ignore[name-defined]
    """A member's place in one group of a set."""

    __tablename__ = "groups_membership"
    __table_args__ = (
        UniqueConstraint("set_id", "member_id"),
        Index("ix_groups_membership_group", "group_id"),
        Index("ix_groups_membership_course_member", "course_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    set_id: Mapped[int] = mapped_column(ForeignKey("groups_set.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups_group.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member: Mapped[Member] = relationship()


class MembershipChange(db.Model):  # type: ignore[name-defined]
    """One line of a set's log: who moved from which group to which, why, and by whom."""

    __tablename__ = "groups_change"
    __table_args__ = (Index("ix_groups_change_set_time", "set_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    set_id: Mapped[int] = mapped_column(ForeignKey("groups_set.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    from_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups_group.id", ondelete="SET NULL"), default=None
    )
    to_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups_group.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[ChangeReason] = mapped_column(_enum(ChangeReason, "groups_change_reason"))
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyQuestion(db.Model):  # type: ignore[name-defined]
    """A joining-survey question of a balanced set; its options are a list of labels."""

    __tablename__ = "groups_question"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    set_id: Mapped[int] = mapped_column(ForeignKey("groups_set.id", ondelete="CASCADE"), index=True)
    prompt: Mapped[str] = mapped_column(String(300))
    strategy: Mapped[str] = mapped_column(String(8))  # assignment.Strategy
    options: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyAnswer(db.Model):  # type: ignore[name-defined]
    """A member's chosen option (index into the question's options)."""

    __tablename__ = "groups_answer"

    question_id: Mapped[int] = mapped_column(
        ForeignKey("groups_question.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    option: Mapped[int]
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupPost(db.Model):  # type: ignore[name-defined]
    """A message in a group's discussion thread (Markdown, rendered once when written)."""

    __tablename__ = "groups_post"
    __table_args__ = (
        Index("ix_groups_post_group_created", "group_id", "created_at"),
        Index("ix_groups_post_course_author", "course_id", "author_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups_group.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )

    author: Mapped[Member] = relationship(foreign_keys=[author_id])


class GroupLink(db.Model):  # type: ignore[name-defined]
    """A shared link or note in a group's space."""

    __tablename__ = "groups_link"
    __table_args__ = (Index("ix_groups_link_group_created", "group_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups_group.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(URL_MAX), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[Member] = relationship(foreign_keys=[author_id])
