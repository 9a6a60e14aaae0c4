"""The staff playbook: guidelines written by the community manager and reply templates."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.community.content import MAX_BODY, render_markdown
from lti_tool.community.dashboard.models import Playbook, ReplyTemplate
from lti_tool.extensions import utcnow

TITLE_MAX = 120
MAX_TEMPLATES = 100


class PlaybookError(ValueError):
    """Input refused; the message is a code the view words (empty, too_long, too_many)."""


def guidelines(session: Session, course_id: int) -> Playbook | None:
    return session.get(Playbook, course_id)


def save_guidelines(session: Session, course_id: int, editor_id: int, body: str) -> Playbook:
    body = body.strip()
    if len(body) > MAX_BODY:
        raise PlaybookError("too_long")
    row = session.get(Playbook, course_id)
    if row is None:
        row = Playbook(course_id=course_id)
        session.add(row)
    row.body, row.body_html = body, str(render_markdown(body)) if body else ""
    row.updated_by, row.updated_at = editor_id, utcnow()
    session.commit()
    return row


def templates(session: Session, course_id: int) -> list[ReplyTemplate]:
    return list(
        session.scalars(
            select(ReplyTemplate)
            .where(ReplyTemplate.course_id == course_id)
            .order_by(ReplyTemplate.title, ReplyTemplate.id)
        )
    )


def add_template(
    session: Session, course_id: int, author_id: int, title: str, body: str
) -> ReplyTemplate:
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise PlaybookError("empty")
    if len(title) > TITLE_MAX or len(body) > MAX_BODY:
        raise PlaybookError("too_long")
    if len(templates(session, course_id)) >= MAX_TEMPLATES:
        raise PlaybookError("too_many")
    template = ReplyTemplate(
        course_id=course_id, title=title, body=body, created_by=author_id, created_at=utcnow()
    )
    session.add(template)
    session.commit()
    return template


def delete_template(session: Session, course_id: int, template_id: int) -> bool:
    """False when the template is not one of this course's."""
    template = session.get(ReplyTemplate, template_id)
    if template is None or template.course_id != course_id:
        return False
    session.delete(template)
    session.commit()
    return True
