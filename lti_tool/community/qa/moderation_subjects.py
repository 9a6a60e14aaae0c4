"""What the moderation queue shows of Q&A posts (registered with moderation at start-up)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.community.content import plain_text
from lti_tool.community.moderation.subjects import Subject, register
from lti_tool.community.qa.models import Answer, Comment, Question
from lti_tool.community.qa.services import SUBJECT_TYPES

EXCERPT = 400


def questions(session: Session, course_id: int, ids: Collection[int]) -> dict[int, Subject]:
    rows = session.scalars(
        select(Question).where(Question.course_id == course_id, Question.id.in_(ids))
    )
    return {
        q.id: Subject(
            subject_type=SUBJECT_TYPES["question"],
            subject_id=q.id,
            author_id=q.author_id,
            anonymous=q.anonymous,
            title=q.title,
            excerpt=plain_text(q.body, EXCERPT),
            endpoint="qa.question",
            values={"question_id": q.id},
            deleted=q.deleted_at is not None,
        )
        for q in rows
    }


def answers(session: Session, course_id: int, ids: Collection[int]) -> dict[int, Subject]:
    rows = session.execute(
        select(Answer, Question.title)
        .join(Question, Question.id == Answer.question_id)
        .where(Answer.course_id == course_id, Answer.id.in_(ids))
    ).all()
    return {
        a.id: Subject(
            subject_type=SUBJECT_TYPES["answer"],
            subject_id=a.id,
            author_id=a.author_id,
            anonymous=a.anonymous,
            title=title,
            excerpt=plain_text(a.body, EXCERPT),
            endpoint="qa.question",
            values={"question_id": a.question_id, "_anchor": f"answer-{a.id}"},
            deleted=a.deleted_at is not None,
        )
        for a, title in rows
    }


def comments(session: Session, course_id: int, ids: Collection[int]) -> dict[int, Subject]:
    rows = session.execute(
        select(Comment, Question.title)
        .join(Question, Question.id == Comment.question_id)
        .where(Comment.course_id == course_id, Comment.id.in_(ids))
    ).all()
    return {
        c.id: Subject(
            subject_type=SUBJECT_TYPES["comment"],
            subject_id=c.id,
            author_id=c.author_id,
            anonymous=c.anonymous,
            title=title,
            excerpt=plain_text(c.body, EXCERPT),
            endpoint="qa.question",
            values={"question_id": c.question_id, "_anchor": f"comment-{c.id}"},
            deleted=c.deleted_at is not None,
        )
        for c, title in rows
    }


def register_qa_subjects() -> None:
    """Tell moderation how to show questions, answers and comments."""
    register(SUBJECT_TYPES["question"], questions)
    register(SUBJECT_TYPES["answer"], answers)
    register(SUBJECT_TYPES["comment"], comments)
