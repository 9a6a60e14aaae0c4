"""Q&A tables: questions, answers, threaded comments, votes, followers, revisions and tags.

Every row carries its ``course_id`` (answers and comments too) so that a lookup by id is always
filtered by the viewer's course in the same query. Posts are soft-deleted: moderation keeps them.
Counters shown on list pages (answers, helpful votes) are kept on the question so that a page of
questions is one query whatever the course's size.

Rendered once: ``body_html`` is ``content.render_markdown(body)`` (Markdown without raw HTML,
then cleaned by nh3), stored when the post is written, so a page of fifty answers renders no
Markdown. A change to the renderer or its allowlist must re-render stored posts
(``community.rerender``, ``flask content rerender``).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.community.qa import schema  # noqa: F401  (Alembic must leave the search objects alone)
from lti_tool.courses.models import Member
from lti_tool.extensions import UTCDateTime, db, utcnow

TITLE_MAX = 200
TAG_MAX = 48


class QuestionState(enum.StrEnum):
    """Where a question stands: nobody answered, someone did, the asker accepted an answer."""

    UNANSWERED = "unanswered"
    ANSWERED = "answered"
    RESOLVED = "resolved"


class QASettings(db.Model):  # type: ignore[name-defined]
    """A course's Q&A options; a course without a row uses the defaults."""

    __tablename__ = "qa_settings"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    # Students may post "anonymous to classmates".
    allow_anonymous: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Instructors and TAs see who wrote an anonymous post (moderation, pastoral care).
    staff_see_anonymous: Mapped[bool] = mapped_column(default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Tag(db.Model):  # type: ignore[name-defined]
    """A course's tag, optionally tied to a module or learning objective."""

    __tablename__ = "qa_tag"
    __table_args__ = (UniqueConstraint("course_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(TAG_MAX))
    label: Mapped[str] = mapped_column(String(255), default="")  # module or objective
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuestionTag(db.Model):  # type: ignore[name-defined]
    __tablename__ = "qa_question_tag"

    question_id: Mapped[int] = mapped_column(
        ForeignKey("qa_question.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("qa_tag.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Question(db.Model):  # type: ignore[name-defined]
    """A question asked in a course."""

    __tablename__ = "qa_question"
    __table_args__ = (
        # Each list order is an index order, so that a page is read straight from the index,
        # also under PostgreSQL's generic plans for prepared statements (no sort of the course).
        Index("ix_qa_question_course_created", "course_id", "created_at", "id"),
        Index("ix_qa_question_course_state_created", "course_id", "state", "created_at", "id"),
        Index("ix_qa_question_course_helpful", "course_id", "helpful_count", "created_at"),
        Index("ix_qa_question_course_activity", "course_id", "last_activity_at", "id"),
        Index("ix_qa_question_course_author", "course_id", "author_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  # see "Rendered once" above
    state: Mapped[QuestionState] = mapped_column(
        Enum(
            QuestionState,
            name="qa_question_state",
            native_enum=False,
            length=16,
            values_callable=lambda members: [m.value for m in members],
            validate_strings=True,
        ),
        default=QuestionState.UNANSWERED,
    )
    endorsed: Mapped[bool] = mapped_column(default=False, server_default=false())
    endorsed_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    # Answers are created after their question, so this reference is added once both exist.
    accepted_answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_answer.id", ondelete="SET NULL", use_alter=True), default=None
    )
    answer_count: Mapped[int] = mapped_column(default=0, server_default="0")
    helpful_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    first_staff_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    # Search: title and text (question and answers) lemmatised and without accents, each form
    # with the course in front (``c12xderivat``, migration 0020), see search.py.
    # SQLite indexes them in the FTS5 table qa_question_fts (migration 0004); PostgreSQL in the
    # table qa_question_search (a tsvector per question, filled by a trigger, with a GIN index;
    # migration 0019). Both are kept in step by triggers on every write of these two columns.
    search_title: Mapped[str] = mapped_column(Text, default="", deferred=True)
    search_body: Mapped[str] = mapped_column(Text, default="", deferred=True)

    author: Mapped[Member] = relationship(foreign_keys=[author_id])
    tags: Mapped[list[Tag]] = relationship(
        secondary="qa_question_tag", order_by="Tag.name", viewonly=True
    )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Answer(db.Model):  # type: ignore[name-defined]
    """An answer to a question; staff answers are marked when written."""

    __tablename__ = "qa_answer"
    __table_args__ = (Index("ix_qa_answer_question_created", "question_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("qa_question.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    is_staff_answer: Mapped[bool] = mapped_column(default=False, server_default=false())
    endorsed: Mapped[bool] = mapped_column(default=False, server_default=false())
    endorsed_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    # Endorsed by a peer mentor (not by staff): the badge says which.
    endorsed_by_mentor: Mapped[bool] = mapped_column(default=False, server_default=false())
    helpful_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )

    author: Mapped[Member] = relationship(foreign_keys=[author_id])

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Comment(db.Model):  # type: ignore[name-defined]
    """A follow-up on a question or one of its answers, optionally replying to another comment."""

    __tablename__ = "qa_comment"
    __table_args__ = (Index("ix_qa_comment_question_created", "question_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    # Always the thread's question, so one query loads every comment of a page.
    question_id: Mapped[int] = mapped_column(ForeignKey("qa_question.id", ondelete="CASCADE"))
    answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_answer.id", ondelete="CASCADE"), default=None, index=True
    )
    parent_comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_comment.id", ondelete="CASCADE"), default=None, index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # last edit
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )

    author: Mapped[Member] = relationship(foreign_keys=[author_id])

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Vote(db.Model):  # type: ignore[name-defined]
    """One "helpful" vote of one member on one question or answer."""

    __tablename__ = "qa_vote"
    __table_args__ = (
        UniqueConstraint("member_id", "question_id"),
        UniqueConstraint("member_id", "answer_id"),
        CheckConstraint("(question_id IS NULL) <> (answer_id IS NULL)", name="one_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_question.id", ondelete="CASCADE"), default=None, index=True
    )
    answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_answer.id", ondelete="CASCADE"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Follower(db.Model):  # type: ignore[name-defined]
    """A member who is notified of a question's answers and acceptance."""

    __tablename__ = "qa_follower"

    question_id: Mapped[int] = mapped_column(
        ForeignKey("qa_question.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Exactly one of a revision's question_id, answer_id and comment_id is set.
REVISION_ONE_SUBJECT = (
    " + ".join(
        f"CASE WHEN {column} IS NULL THEN 0 ELSE 1 END"
        for column in ("question_id", "answer_id", "comment_id")
    )
    + " = 1"
)


class Revision(db.Model):  # type: ignore[name-defined]
    """The text of a question, answer or comment before one edit: who changed it, when, and
    from what."""

    __tablename__ = "qa_revision"
    __table_args__ = (CheckConstraint(REVISION_ONE_SUBJECT, name="one_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_question.id", ondelete="CASCADE"), default=None, index=True
    )
    answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_answer.id", ondelete="CASCADE"), default=None, index=True
    )
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_comment.id", ondelete="CASCADE"), default=None, index=True
    )
    editor_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    previous_title: Mapped[str | None] = mapped_column(String(TITLE_MAX), default=None)
    previous_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
