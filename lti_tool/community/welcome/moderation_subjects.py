"""What the moderation queue shows of introductions and their replies (registered at start-up)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.community.content import plain_text
from lti_tool.community.moderation.subjects import Subject, register
from lti_tool.community.welcome.models import Introduction, Welcome
from lti_tool.community.welcome.services import SUBJECT_INTRO, SUBJECT_REPLY, names

EXCERPT = 400


def introductions(session: Session, course_id: int, ids: Collection[int]) -> dict[int, Subject]:
    """Introductions of a course: shown under their author's name, linked to the introduction."""
    rows = list(
        session.scalars(
            select(Introduction).where(
                Introduction.course_id == course_id, Introduction.id.in_(ids)
            )
        )
    )
    authors = names(session, {i.member_id for i in rows})
    return {
        intro.id: Subject(
            subject_type=SUBJECT_INTRO,
            subject_id=intro.id,
            author_id=intro.member_id,
            anonymous=False,
            title=authors.get(intro.member_id, ""),
            excerpt=plain_text(intro.body, EXCERPT),
            endpoint="welcome.index",
            values={"intro": intro.id, "_anchor": f"intro-{intro.id}"},
        )
        for intro in rows
    }


def replies(session: Session, course_id: int, ids: Collection[int]) -> dict[int, Subject]:
    """Replies of a course: shown under the name of who introduced themselves, linked to it."""
    rows = session.execute(
        select(Welcome, Introduction.member_id)
        .join(Introduction, Introduction.id == Welcome.introduction_id)
        .where(Welcome.course_id == course_id, Welcome.id.in_(ids))
    ).all()
    introduced = names(session, {member_id for _reply, member_id in rows})
    return {
        reply.id: Subject(
            subject_type=SUBJECT_REPLY,
            subject_id=reply.id,
            author_id=reply.author_id,
            anonymous=False,
            title=introduced.get(member_id, ""),
            excerpt=plain_text(reply.body, EXCERPT),
            endpoint="welcome.index",
            values={"intro": reply.introduction_id, "_anchor": f"welcome-reply-{reply.id}"},
        )
        for reply, member_id in rows
    }


def register_welcome_subjects() -> None:
    """Tell moderation how to show introductions and replies."""
    register(SUBJECT_INTRO, introductions)
    register(SUBJECT_REPLY, replies)
