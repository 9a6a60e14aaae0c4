"""What the moderation queue shows of Q&A posts (registered with moderation at start-up)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.community.content import plain_text
from lti_tool.community.moderation.subjects import Resolver, Subject, register
from lti_tool.community.qa.models import Answer, Comment, Question
from lti_tool.community.qa.services import SUBJECT_TYPES

EXCERPT = 400


def _subject(
    kind: str, post: Question | Answer | Comment, title: str, values: dict[str, Any]
) -> Subject:
    return Subject(
        subject_type=SUBJECT_TYPES[kind],
        subject_id=post.id,
        author_id=post.author_id,
        anonymous=post.anonymous,
        title=title,
        excerpt=plain_text(post.body, EXCERPT),
        endpoint="qa.question",
        values=values,
        deleted=post.deleted_at is not None,
    )


def questions(session: Session, course_id: int, ids: Collection[int]) -> dict[int, Subject]:
    rows = session.scalars(
        select(Question).where(Question.course_id == course_id, Question.id.in_(ids))
    )
    return {q.id: _subject("question", q, q.title, {"question_id": q.id}) for q in rows}


def _in_thread(kind: str, model: type[Answer] | type[Comment]) -> Resolver:
    """Answers and comments: shown under their question's title, linked to their anchor."""

    def resolve(session: Session, course_id: int, ids: Collection[int]) -> dict[int, Subject]:
        rows: list[Any] = list(
            session.execute(
                select(model, Question.title)
                .join(Question, Question.id == model.question_id)
                .where(model.course_id == course_id, model.id.in_(ids))
            )
        )
        found = {}
        for post, title in rows:
            anchor = {"question_id": post.question_id, "_anchor": f"{kind}-{post.id}"}
            found[post.id] = _subject(kind, post, title, anchor)
        return found

    return resolve


def register_qa_subjects() -> None:
    """Tell moderation how to show questions, answers and comments."""
    register(SUBJECT_TYPES["question"], questions)
    register(SUBJECT_TYPES["answer"], _in_thread("answer", Answer))
    register(SUBJECT_TYPES["comment"], _in_thread("comment", Comment))
