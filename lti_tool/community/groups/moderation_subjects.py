"""What the moderation queue shows of group posts (registered with moderation at start-up)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.community.content import plain_text
from lti_tool.community.groups.models import Group, GroupPost
from lti_tool.community.groups.services import SUBJECT_POST
from lti_tool.community.moderation.subjects import Subject, register

EXCERPT = 400


def posts(session: Session, course_id: int, ids: Collection[int]) -> dict[int, Subject]:
    """Group posts of a course: shown under their group's name, linked to the group's thread."""
    rows = session.execute(
        select(GroupPost, Group.name)
        .join(Group, Group.id == GroupPost.group_id)
        .where(GroupPost.course_id == course_id, GroupPost.id.in_(ids))
    ).all()
    return {
        post.id: Subject(
            subject_type=SUBJECT_POST,
            subject_id=post.id,
            author_id=post.author_id,
            anonymous=False,
            title=name,
            excerpt=plain_text(post.body, EXCERPT),
            endpoint="groups.group_page",
            values={"group_id": post.group_id, "_anchor": f"post-{post.id}"},
            deleted=post.deleted_at is not None,
        )
        for post, name in rows
    }


def register_group_subjects() -> None:
    """Tell moderation how to show group posts."""
    register(SUBJECT_POST, posts)
