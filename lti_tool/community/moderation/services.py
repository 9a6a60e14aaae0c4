"""Raising a flag: once per member and post; the reason is from a fixed list."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.community.moderation.models import Flag, FlagReason


class FlagError(ValueError):
    """A flag that cannot be raised (unknown reason, already flagged)."""


def flag_content(
    session: Session,
    *,
    course_id: int,
    reporter_id: int,
    subject_type: str,
    subject_id: int,
    reason: str,
    note: str = "",
) -> Flag:
    """Store a member's flag on a post (the caller has checked the post is in the course)."""
    try:
        checked = FlagReason(reason)
    except ValueError as exc:
        raise FlagError("unknown reason") from exc
    existing = session.scalar(
        select(Flag).where(
            Flag.reporter_id == reporter_id,
            Flag.subject_type == subject_type,
            Flag.subject_id == subject_id,
        )
    )
    if existing is not None:
        raise FlagError("already flagged")
    flag = Flag(
        course_id=course_id,
        reporter_id=reporter_id,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=checked.value,
        note=note.strip()[:1000],
    )
    session.add(flag)
    session.commit()
    return flag
