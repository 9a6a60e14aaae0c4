"""Tenancy and course models.

LMS ids are unique only inside a scope, so each is keyed together with its scope:
a platform registration is (issuer, client_id); a deployment is (platform, deployment id);
a course is (platform, deployment, LMS course id); a member is (platform, LMS user id);
a placement (an LTI resource link) is (course, LMS placement id).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import JSON, Enum, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.extensions import UTCDateTime, db, utcnow


class PlatformStatus(enum.StrEnum):
    """Whether launches from a registered LMS are accepted."""

    ACTIVE = "active"
    PENDING = "pending"  # registered dynamically, waiting for Bottega's administrator to approve
    DISABLED = "disabled"


class EnrolmentStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Platform(db.Model):  # type: ignore[name-defined]
    """An LMS registration (LTI 1.3 Core, section 3.1.3): one tenant of Bottega."""

    __tablename__ = "platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    auth_login_url: Mapped[str] = mapped_column(Text)
    auth_token_url: Mapped[str] = mapped_column(Text)
    key_set_url: Mapped[str] = mapped_column(Text)
    auth_audience: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[PlatformStatus] = mapped_column(
        _enum(PlatformStatus, "platform_status"), default=PlatformStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="platform", cascade="all, delete-orphan", order_by="Deployment.id"
    )

    def __repr__(self) -> str:
        return f"<Platform {self.issuer} {self.client_id}>"


class Deployment(db.Model):  # type: ignore[name-defined]
    """A deployment of Bottega inside a platform (ids such as "1" are unique per platform only)."""

    __tablename__ = "platform_deployment"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    platform: Mapped[Platform] = relationship(back_populates="deployments")


class Course(db.Model):  # type: ignore[name-defined]
    """A course of an LMS, seen through one deployment."""

    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id", "lms_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("platform_deployment.id", ondelete="CASCADE")
    )
    lms_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text, default="")
    label: Mapped[str] = mapped_column(String(255), default="")
    # LMS service endpoints (roster, grades) as last seen in a launch, for later sync.
    services: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    platform: Mapped[Platform] = relationship()
    deployment: Mapped[Deployment] = relationship()


class Member(db.Model):  # type: ignore[name-defined]
    """A person known to one platform. Personal data is optional: LMSs may send none."""

    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("platform_id", "lms_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    lms_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(Text, default=None)
    given_name: Mapped[str | None] = mapped_column(Text, default=None)
    family_name: Mapped[str | None] = mapped_column(Text, default=None)
    email: Mapped[str | None] = mapped_column(Text, default=None)
    picture: Mapped[str | None] = mapped_column(Text, default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    platform: Mapped[Platform] = relationship()

    @property
    def display_name(self) -> str:
        """A name to show; a neutral handle when the LMS shared none."""
        return display_name(self.id, self.name, self.given_name, self.family_name)


# The name of an erased member (sync.privacy): shown translated, as "Former member".
ERASED_NAME = "Former member"


def display_name(
    member_id: int, name: str | None, given_name: str | None, family_name: str | None
) -> str:
    """``Member.display_name`` from the columns alone (for pages that read only these)."""
    if name == ERASED_NAME:
        return str(_("Former member"))
    full = " ".join(p for p in (given_name, family_name) if p)
    return name or full or str(_("Member #%(id)s", id=member_id))


class Enrolment(db.Model):  # type: ignore[name-defined]
    """A member's place in a course, with the LMS roles (full URIs) they hold there."""

    __tablename__ = "enrolment"
    __table_args__ = (UniqueConstraint("course_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[EnrolmentStatus] = mapped_column(
        _enum(EnrolmentStatus, "enrolment_status"), default=EnrolmentStatus.ACTIVE
    )
    # Bottega's own role, granted by an instructor: sees the dashboard and moderates.
    community_manager: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A student recognised by staff as a peer mentor: a mark by their name, may endorse answers.
    peer_mentor: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Launches into this course; NULL first_launch_at = on the roster but never opened Bottega.
    first_launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Kept by engagement.record(): the last time they took part, the first time they were
    # recognised (an upvote, endorsement, accepted answer or kudos received). The dashboard reads
    # these instead of scanning every event.
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    recognised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    course: Mapped[Course] = relationship()
    member: Mapped[Member] = relationship()


class Placement(db.Model):  # type: ignore[name-defined]
    """Where a widget sits in a course (an LTI resource link), with its settings."""

    __tablename__ = "placement"
    __table_args__ = (UniqueConstraint("course_id", "lms_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    lms_id: Mapped[str] = mapped_column(String(255))
    widget: Mapped[str] = mapped_column(String(32), default="home")
    title: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The LMS's grade service endpoint for this placement (AGS line item), from the launch.
    services: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    course: Mapped[Course] = relationship()
