"""Reading the Q&A: list pages, a question's thread, the staff queue, edit history.

Each function runs a fixed number of queries whatever the course's size (counters live on the
question; related rows load with one query each, or come in the same statement as JSON or a
``UNION ALL``). Authors come out already resolved for
the viewer, so an anonymous author can only reach a page, search result or notification through
``Author.revealed`` (see permissions.py).
"""

from __future__ import annotations

import enum
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from cachetools import TTLCache
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Subquery,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, selectinload

from lti_tool.community.moderation.models import HiddenPost
from lti_tool.community.moderation.services import hidden_subjects, not_hidden
from lti_tool.community.moderation.subjects import registered, resolve
from lti_tool.community.notifications.models import Notification
from lti_tool.community.notifications.services import recent
from lti_tool.community.qa import search
from lti_tool.community.qa.models import (
    Answer,
    Comment,
    Follower,
    QASettings,
    Question,
    QuestionState,
    QuestionTag,
    Revision,
    Tag,
    Vote,
)
from lti_tool.community.qa.permissions import Actor, NotFound
from lti_tool.community.qa.services import (
    find_answer,
    find_comment,
    find_question,
    get_settings,
)
from lti_tool.courses.models import Enrolment, Member, display_name
from lti_tool.courses.services import member_names
from lti_tool.extensions import UTCDateTime, utcnow

PER_PAGE = 20
SEARCH_POOL = 500  # matches considered when a search is also filtered or sorted otherwise


@dataclass(frozen=True)
class Author:
    """Who wrote a post, as this viewer may see it."""

    name: str  # empty when hidden
    member_id: int | None  # None when hidden
    anonymous: bool  # the post was made anonymously
    is_viewer: bool = False
    mentor: bool = False  # a peer mentor of the course (never shown on anonymous posts)

    @property
    def hidden(self) -> bool:
        return self.member_id is None

    @property
    def revealed(self) -> bool:
        """An anonymous post whose author this viewer may see (their own, or staff)."""
        return self.anonymous and not self.hidden


class AuthorResolver:
    """Applies the anonymity rule for one viewer."""

    def __init__(
        self,
        actor: Actor,
        settings: QASettings,
        names: dict[int, str],
        mentors: frozenset[int] = frozenset(),
    ) -> None:
        self.actor = actor
        self.names = names
        self.mentors = mentors
        self.staff_sees = actor.sees_anonymous_authors(settings.staff_see_anonymous)
        self._made: dict[tuple[int, bool], Author] = {}

    def __call__(self, author_id: int, anonymous: bool) -> Author:
        # A page shows the same few authors many times: each is made once.
        key = (author_id, anonymous)
        author = self._made.get(key)
        if author is None:
            author = self._made[key] = self._author(author_id, anonymous)
        return author

    def _author(self, author_id: int, anonymous: bool) -> Author:
        is_viewer = author_id == self.actor.member_id
        if anonymous and not (is_viewer or self.staff_sees):
            return Author(name="", member_id=None, anonymous=True)
        name = self.names.get(author_id) or display_name(author_id, None, None, None)
        return Author(
            name=name,
            member_id=author_id,
            anonymous=anonymous,
            is_viewer=is_viewer,
            mentor=not anonymous and author_id in self.mentors,
        )


def peer_mentors(session: Session, course_id: int) -> frozenset[int]:
    """The course's peer mentors (members staff granted the role), for the mark by their name."""
    return frozenset(
        session.scalars(
            select(Enrolment.member_id).where(
                Enrolment.course_id == course_id, Enrolment.peer_mentor.is_(True)
            )
        )
    )


_NAME_COLUMNS = (Member.name, Member.given_name, Member.family_name)


# --- lists -----------------------------------------------------------------------------------


class Sort(enum.StrEnum):
    NEWEST = "newest"
    HELPFUL = "helpful"
    UNANSWERED = "unanswered"
    ACTIVITY = "activity"
    RELEVANCE = "relevance"


@dataclass(frozen=True)
class ListFilters:
    state: QuestionState | None = None
    tag_id: int | None = None
    mine: bool = False
    following: bool = False
    sort: Sort = Sort.NEWEST
    query: str = ""


@dataclass(frozen=True)
class QuestionSummary:
    id: int
    title: str
    author: Author
    state: QuestionState
    endorsed: bool
    answer_count: int
    helpful_count: int
    tags: list[Any]  # with .id and .name: Tag objects or rows
    created_at: datetime
    last_activity_at: datetime


def summary_of(question: Any, author: Author, tags: list[Any]) -> QuestionSummary:
    """A list entry from a question (an ORM object or a row with the same names)."""
    return QuestionSummary(
        id=question.id,
        title=question.title,
        author=author,
        state=question.state,
        endorsed=question.endorsed,
        answer_count=question.answer_count,
        helpful_count=question.helpful_count,
        tags=tags,
        created_at=question.created_at,
        last_activity_at=question.last_activity_at,
    )


@dataclass(frozen=True)
class QuestionPage:
    items: list[QuestionSummary]
    page: int
    has_next: bool
    filters: ListFilters
    searched: bool = False


def _summaries(
    session: Session, actor: Actor, questions: list[Question], settings: QASettings | None = None
) -> list[QuestionSummary]:
    settings = settings or get_settings(session, actor.course_id)
    resolve = AuthorResolver(
        actor,
        settings,
        member_names(session, (q.author_id for q in questions)),
        peer_mentors(session, actor.course_id) if questions else frozenset(),
    )
    return [summary_of(q, resolve(q.author_id, q.anonymous), list(q.tags)) for q in questions]


def _list_select(
    filters: ListFilters, moderator: bool, ranked: Subquery | None, dialect: str
) -> Any:
    """The list's SELECT: the questions' columns, their authors' names and their tags (JSON),
    with parameters course_id, me, state, tag_id, page_limit and page_offset."""
    stmt = _with_author(select(*_LIST_COLUMNS, _tags_json(dialect)).select_from(_q), _q).where(
        _q.c.course_id == _COURSE, _q.c.deleted_at.is_(None)
    )
    if not moderator:  # posts hidden by moderators leave students' lists
        stmt = stmt.where(not_hidden("qa_question", _q.c.id))
    if filters.state is not None:
        stmt = stmt.where(_q.c.state == bindparam("state"))
    if filters.tag_id is not None:
        stmt = stmt.where(
            _q.c.id.in_(
                select(QuestionTag.question_id).where(QuestionTag.tag_id == bindparam("tag_id"))
            )
        )
    if filters.mine:
        stmt = stmt.where(_q.c.author_id == _ME)
    if filters.following:
        stmt = stmt.where(
            _q.c.id.in_(select(Follower.question_id).where(Follower.member_id == _ME))
        )
    order: dict[Sort, list[ColumnElement[Any]]] = {
        Sort.NEWEST: [_q.c.created_at.desc(), _q.c.id.desc()],
        Sort.HELPFUL: [_q.c.helpful_count.desc(), _q.c.created_at.desc()],
        Sort.ACTIVITY: [_q.c.last_activity_at.desc(), _q.c.id.desc()],
        Sort.UNANSWERED: [
            case((_q.c.state == QuestionState.UNANSWERED, 0), else_=1),
            _q.c.created_at.desc(),
        ],
    }
    if ranked is not None:
        stmt = stmt.join(ranked, ranked.c.id == _q.c.id)
        if filters.sort == Sort.RELEVANCE:
            stmt = stmt.order_by(ranked.c.rank, _q.c.id.desc())
        else:
            stmt = stmt.order_by(*order[filters.sort])
    else:
        stmt = stmt.order_by(*order.get(filters.sort, order[Sort.NEWEST]))
    return stmt.limit(_PAGE_LIMIT).offset(_PAGE_OFFSET)


# The page's size and offset are written into the SQL when it runs (``literal_execute``), not
# sent as parameters. PostgreSQL plans a prepared statement once for any parameters (a generic
# plan) only when that plan looks no costlier than planning for the values; with LIMIT and
# OFFSET unknown it assumes a tenth of the course's questions, so it planned every list page
# again (0.35 ms of its CPU each time; pg_prepared_statements counted 0 generic plans in 35
# runs). With them in the text, the list is planned once per connection and page number.
_PAGE_LIMIT = bindparam("page_limit", type_=Integer(), literal_execute=True)
_PAGE_OFFSET = bindparam("page_offset", type_=Integer(), literal_execute=True)


@lru_cache(maxsize=256)
def _list_statement(
    filters: ListFilters, moderator: bool, ranked: Subquery | None, dialect: str
) -> Any:
    """``_list_select`` built once per kind of list (``filters`` with their values blanked:
    the values are parameters), ranking subquery (None, or the database's, the same object for
    every search) and database."""
    return _list_select(filters, moderator, ranked, dialect)


def list_questions(
    session: Session,
    actor: Actor,
    filters: ListFilters,
    page: int = 1,
    per_page: int = PER_PAGE,
    settings: QASettings | None = None,
) -> QuestionPage:
    """A page of the course's questions, filtered and sorted; with a query, ranked by relevance.

    One query: the page's questions with their authors' names and their tags.
    """
    page = max(1, page)
    narrowed = bool(filters.state or filters.tag_id or filters.mine or filters.following) or (
        filters.sort != Sort.RELEVANCE
    )
    # Relevance ranks the best matches only; filters then apply among the best SEARCH_POOL.
    limit = page * per_page + 1 + (SEARCH_POOL if narrowed else 0)
    ranking = (
        search.ranking(session, actor.course_id, filters.query, limit=limit)
        if filters.query
        else None
    )
    searched = bool(filters.query.strip())
    if searched and ranking is None:
        return QuestionPage([], page, False, filters, searched=True)
    ranked, params = ranking if ranking is not None else (None, {})
    dialect = session.get_bind().dialect.name
    if ranked is None or search.shared(ranked):
        shape = replace(
            filters,
            state=QuestionState.UNANSWERED if filters.state else None,
            tag_id=0 if filters.tag_id is not None else None,
            query="",
        )
        stmt = _list_statement(shape, actor.can_moderate, ranked, dialect)
    else:  # pragma: no cover - both databases' rankings are shared
        stmt = _list_select(filters, actor.can_moderate, ranked, dialect)
    rows = session.execute(
        stmt,
        {
            "course_id": actor.course_id,
            "me": actor.member_id,
            "state": filters.state,
            "tag_id": filters.tag_id,
            "page_limit": per_page + 1,
            "page_offset": (page - 1) * per_page,
            **params,
        },
    ).all()
    shown = list(map(ListRow._make, rows[:per_page]))
    settings = settings or get_settings(session, actor.course_id)
    resolve = AuthorResolver(
        actor,
        settings,
        {
            r.author_id: display_name(r.author_id, r.name, r.given_name, r.family_name)
            for r in shown
        },
        frozenset(r.author_id for r in shown if r.mentor),
    )
    items = [summary_of(r, resolve(r.author_id, r.anonymous), _tags(r.tags)) for r in shown]
    return QuestionPage(items, page, len(rows) > per_page, filters, searched=searched)


@dataclass(frozen=True)
class QueueItem:
    summary: QuestionSummary
    age: timedelta


def unanswered_queue(session: Session, actor: Actor, limit: int = 200) -> list[QueueItem]:
    """Questions nobody has answered yet, oldest first, with their age (for staff)."""
    questions = list(
        session.scalars(
            select(Question)
            .where(
                Question.course_id == actor.course_id,
                Question.deleted_at.is_(None),
                Question.state == QuestionState.UNANSWERED,
            )
            .order_by(Question.created_at, Question.id)
            .options(selectinload(Question.tags))
            .limit(limit)
        )
    )
    now = utcnow()
    return [
        QueueItem(summary, now - summary.created_at)
        for summary in _summaries(session, actor, questions)
    ]


# --- a question's thread ---------------------------------------------------------------------


# Prebuilt statements for the pages everyone reads (list, question): built once, executed with
# parameters, and read as Core rows (no ORM objects, no statement building per request). Each
# joins what the page shows with a post: the author's name and peer-mentor mark, the viewer's
# vote, whether moderators hid it.
_q, _a, _c = Question.__table__, Answer.__table__, Comment.__table__
_m, _en = Member.__table__, Enrolment.__table__
_vote, _hid = Vote.__table__, HiddenPost.__table__
_settings = QASettings.__table__
_me = Member.__table__.alias("me")
_ME: BindParameter[int] = bindparam("me")
_COURSE: BindParameter[int] = bindparam("course_id")
_QUESTION: BindParameter[int] = bindparam("question_id")


# Name columns of a post's author and whether they are a peer mentor of the course.
_AUTHOR = (_m.c.name, _m.c.given_name, _m.c.family_name, _en.c.peer_mentor.label("mentor"))


def _with_author(stmt: Any, post: Any) -> Any:
    return stmt.join(_m, _m.c.id == post.c.author_id).outerjoin(
        _en, and_(_en.c.course_id == post.c.course_id, _en.c.member_id == post.c.author_id)
    )


def _hidden(subject_type: str, post: Any) -> Any:
    return (
        exists()
        .where(_hid.c.subject_type == subject_type, _hid.c.subject_id == post.c.id)
        .label("hidden")
    )


def _unread() -> Any:
    return (
        select(func.count())
        .select_from(Notification.__table__)
        .where(
            Notification.__table__.c.member_id == _ME,
            Notification.__table__.c.course_id == _COURSE,
            Notification.__table__.c.read_at.is_(None),
        )
        .scalar_subquery()
        .label("unread")
    )


_HEADER_COLUMNS = (_me.c.name, _me.c.given_name, _me.c.family_name)

# The page header (who, unread count) and the course's Q&A settings, in one row.
_HEAD = select(
    *(c.label(f"me_{c.name}") for c in _HEADER_COLUMNS),
    _unread(),
    select(_settings.c.allow_anonymous)
    .where(_settings.c.course_id == _COURSE)
    .scalar_subquery()
    .label("allow_anonymous"),
    select(_settings.c.staff_see_anonymous)
    .where(_settings.c.course_id == _COURSE)
    .scalar_subquery()
    .label("staff_see_anonymous"),
).where(_me.c.id == _ME)

# The question's columns the page reads (a Core row, not an ORM object: see QuestionRow).
_QUESTION_COLUMNS = (
    _q.c.id,
    _q.c.course_id,
    _q.c.author_id,
    _q.c.anonymous,
    _q.c.title,
    _q.c.body_html,
    _q.c.state,
    _q.c.endorsed,
    _q.c.accepted_answer_id,
    _q.c.answer_count,
    _q.c.helpful_count,
    _q.c.created_at,
    _q.c.updated_at,
    _q.c.first_answer_at,
    _q.c.first_staff_answer_at,
    _q.c.deleted_at,
)


def _tags_json(dialect: str) -> Any:
    """The question's tags as a JSON array of [id, name] by name (one column of the head)."""
    qt, tag = QuestionTag.__table__, Tag.__table__
    if dialect == "postgresql":
        agg = func.json_agg(
            aggregate_order_by(func.json_build_array(tag.c.id, tag.c.name), tag.c.name)
        )
        return (
            select(agg)
            .select_from(tag)
            .join(qt, qt.c.tag_id == tag.c.id)
            .where(qt.c.question_id == _q.c.id)
            .scalar_subquery()
            .label("tags")
        )
    # SQLite aggregates in the order its subquery gives.
    pairs = (
        select(tag.c.id, tag.c.name)
        .join(qt, qt.c.tag_id == tag.c.id)
        .where(qt.c.question_id == _q.c.id)
        .order_by(tag.c.name)
        .correlate(_q)
        .subquery("tags")
    )
    agg = func.json_group_array(func.json_array(pairs.c.id, pairs.c.name))
    return select(agg).select_from(pairs).scalar_subquery().label("tags")


def _question_head(dialect: str) -> Any:
    """A question with its author, the viewer's vote and following, whether moderators hid it,
    its tags, and the page header and course settings: one row."""
    stmt = _with_author(
        select(
            *_QUESTION_COLUMNS,
            *_AUTHOR,
            exists().where(_vote.c.question_id == _q.c.id, _vote.c.member_id == _ME).label("voted"),
            exists()
            .where(
                Follower.__table__.c.question_id == _q.c.id,
                Follower.__table__.c.member_id == _ME,
            )
            .label("following"),
            _hidden("qa_question", _q),
            _tags_json(dialect),
            *(c.label(f"me_{c.name}") for c in _HEADER_COLUMNS),
            _unread(),
            _settings.c.allow_anonymous,
            _settings.c.staff_see_anonymous,
        ).select_from(_q),
        _q,
    )
    return (
        stmt.outerjoin(_me, _me.c.id == _ME)
        .outerjoin(_settings, _settings.c.course_id == _q.c.course_id)
        .where(_q.c.id == _QUESTION, _q.c.course_id == _COURSE)
    )


_QUESTION_HEAD = {dialect: _question_head(dialect) for dialect in ("sqlite", "postgresql")}

_LIST_COLUMNS = (
    _q.c.id,
    _q.c.title,
    _q.c.author_id,
    _q.c.anonymous,
    _q.c.state,
    _q.c.endorsed,
    _q.c.answer_count,
    _q.c.helpful_count,
    _q.c.created_at,
    _q.c.last_activity_at,
    *_AUTHOR,
)


class ListRow(NamedTuple):
    """A question of a list or search page (``_list_select``'s columns), as a plain tuple: a
    page reads about 300 of these attributes (see ``PostRow``)."""

    id: int
    title: str
    author_id: int
    anonymous: bool
    state: QuestionState
    endorsed: bool
    answer_count: int
    helpful_count: int
    created_at: datetime
    last_activity_at: datetime
    name: str | None
    given_name: str | None
    family_name: str | None
    mentor: bool | None
    tags: Any  # JSON text (SQLite) or a parsed list (psycopg): see ``_tags``


# A question's answers and comments in one statement (kind "a" or "c"), each with its author's
# name and mark and whether moderators hid it; answers also with the viewer's vote. The columns
# one kind lacks are typed NULLs or constants (the first SELECT types the result's columns).
_ANSWERS = _with_author(
    select(
        literal("a").label("kind"),
        _a.c.id,
        type_coerce(null(), Integer).label("answer_id"),
        type_coerce(null(), Integer).label("parent_comment_id"),
        _a.c.author_id,
        _a.c.anonymous,
        _a.c.body_html,
        _a.c.is_staff_answer,
        _a.c.endorsed,
        _a.c.helpful_count,
        _a.c.created_at,
        (_a.c.updated_at > _a.c.created_at).label("edited"),
        type_coerce(null(), UTCDateTime).label("edited_at"),
        _a.c.deleted_at,
        *_AUTHOR,
        exists().where(_vote.c.answer_id == _a.c.id, _vote.c.member_id == _ME).label("voted"),
        _hidden("qa_answer", _a),
        _a.c.endorsed_by_mentor,
        _a.c.endorsed_by,
    ),
    _a,
).where(_a.c.question_id == _QUESTION, _a.c.course_id == _COURSE)

_COMMENTS = _with_author(
    select(
        literal("c"),
        _c.c.id,
        _c.c.answer_id,
        _c.c.parent_comment_id,
        _c.c.author_id,
        _c.c.anonymous,
        _c.c.body_html,
        false(),
        false(),
        literal(0),
        _c.c.created_at,
        false(),
        _c.c.edited_at,
        _c.c.deleted_at,
        *_AUTHOR,
        false(),
        _hidden("qa_comment", _c),
        false(),
        type_coerce(null(), Integer),
    ),
    _c,
).where(_c.c.question_id == _QUESTION, _c.c.course_id == _COURSE)

_POSTS = union_all(_ANSWERS, _COMMENTS).subquery("posts")
_POSTS_IN_ORDER = select(_POSTS).order_by(_POSTS.c.kind, _POSTS.c.created_at, _POSTS.c.id)


class PostRow(NamedTuple):
    """An answer or comment of ``_POSTS``, as a plain tuple: a page reads a few thousand of
    these attributes, and each one on a SQLAlchemy ``Row`` costs tens of times as much (its
    ``__getattr__`` runs after a failed normal lookup, which formats an AttributeError)."""

    kind: str  # "a" (answer) or "c" (comment)
    id: int
    answer_id: int | None
    parent_comment_id: int | None
    author_id: int
    anonymous: bool
    body_html: str
    is_staff_answer: bool
    endorsed: bool
    helpful_count: int
    created_at: datetime
    edited: bool
    edited_at: datetime | None
    deleted_at: datetime | None
    name: str | None
    given_name: str | None
    family_name: str | None
    mentor: bool | None
    voted: bool
    hidden: bool
    endorsed_by_mentor: bool
    endorsed_by: int | None


assert PostRow._fields == tuple(_POSTS.c.keys()), "PostRow must follow _POSTS' columns"
assert all(
    ListRow._fields == tuple(_list_select(ListFilters(), False, None, d).selected_columns.keys())
    for d in ("sqlite", "postgresql")
), "ListRow must follow _list_select's columns"


def _author_name(row: Any, author_id: int | None = None) -> str:
    """The display name of a post's author, from a row with the _AUTHOR columns."""
    author_id = row.author_id if author_id is None else author_id
    return display_name(author_id, row.name, row.given_name, row.family_name)


@dataclass(frozen=True)
class Header:
    """What the top of every Q&A page shows: who is signed in, their unread notifications."""

    name: str
    unread: int


def _header(row: Any, member_id: int) -> Header:
    return Header(
        display_name(member_id, row.me_name, row.me_given_name, row.me_family_name),
        int(row.unread or 0),
    )


def _settings_of(row: Any, course_id: int) -> QASettings:
    """The course's settings from a row's columns (NULL: none saved, the defaults)."""
    return QASettings(
        course_id=course_id,
        allow_anonymous=True if row.allow_anonymous is None else bool(row.allow_anonymous),
        staff_see_anonymous=(
            True if row.staff_see_anonymous is None else bool(row.staff_see_anonymous)
        ),
    )


class TagChoice(NamedTuple):
    id: int
    name: str
    label: str


def _course_tags_json(dialect: str) -> Any:
    """The course's tags as a JSON array of [id, name, label] by name."""
    tag = Tag.__table__
    if dialect == "postgresql":
        triple = func.json_build_array(tag.c.id, tag.c.name, tag.c.label)
        return (
            select(func.json_agg(aggregate_order_by(triple, tag.c.name)))
            .where(tag.c.course_id == _COURSE)
            .scalar_subquery()
            .label("tag_choices")
        )
    ordered = (
        select(tag.c.id, tag.c.name, tag.c.label)
        .where(tag.c.course_id == _COURSE)
        .order_by(tag.c.name)
        .subquery("tags")
    )
    triple = func.json_array(ordered.c.id, ordered.c.name, ordered.c.label)
    return select(func.json_group_array(triple)).scalar_subquery().label("tag_choices")


# The list page's head: the page header, the settings and the tag filter's choices, one row.
_LIST_HEAD = {d: _HEAD.add_columns(_course_tags_json(d)) for d in ("sqlite", "postgresql")}


def list_head(session: Session, actor: Actor) -> tuple[Header, QASettings, list[TagChoice]]:
    """``page_head`` and the course's tags as (id, name, label) by name (one query)."""
    params = {"me": actor.member_id, "course_id": actor.course_id}
    row = session.execute(_LIST_HEAD[session.get_bind().dialect.name], params).one()
    found = row.tag_choices
    if isinstance(found, str):
        found = json.loads(found)
    choices = [TagChoice(*triple) for triple in found or ()]
    return _header(row, actor.member_id), _settings_of(row, actor.course_id), choices


def page_head(session: Session, actor: Actor) -> tuple[Header, QASettings]:
    """The header of a Q&A page and the course's settings (one query)."""
    row = session.execute(_HEAD, {"me": actor.member_id, "course_id": actor.course_id}).one()
    return _header(row, actor.member_id), _settings_of(row, actor.course_id)


@dataclass
class CommentNode:
    comment: PostRow  # a comment's columns, its author's name, hidden
    author: Author
    can_change: bool  # edit and delete
    replies: list[CommentNode] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.comment.deleted_at is not None


@dataclass
class AnswerView:
    answer: PostRow  # an answer's columns, its author's name, voted, hidden
    author: Author
    accepted: bool
    voted: bool
    can_change: bool
    can_vote: bool
    can_accept: bool
    comments: list[CommentNode]
    can_endorse: bool = False


@dataclass(frozen=True, slots=True)
class QuestionRow:
    """The columns of a question its page reads (in ``_QUESTION_COLUMNS``' order)."""

    id: int
    course_id: int
    author_id: int
    anonymous: bool
    title: str
    body_html: str
    state: QuestionState
    endorsed: bool
    accepted_answer_id: int | None
    answer_count: int
    helpful_count: int
    created_at: datetime
    updated_at: datetime
    first_answer_at: datetime | None
    first_staff_answer_at: datetime | None
    deleted_at: datetime | None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class TagRow(NamedTuple):
    id: int
    name: str


def _tags(found: Any) -> list[TagRow]:
    """The head's ``tags`` column: JSON text (SQLite) or already parsed (psycopg), by name."""
    if isinstance(found, str):
        found = json.loads(found)
    return [TagRow(*pair) for pair in found or ()]


@dataclass
class Thread:
    """Everything the question page shows, with what this viewer may do."""

    question: QuestionRow
    author: Author
    tags: list[TagRow]
    answers: list[AnswerView]
    comments: list[CommentNode]
    voted: bool
    following: bool
    can_change: bool
    can_vote: bool
    is_asker: bool
    can_moderate: bool
    settings: QASettings
    deleted_answers: int = 0
    # ("qa_answer", id)... of posts moderators hid: a placeholder for students, marked for staff
    hidden: frozenset[tuple[str, int]] = frozenset()
    header: Header | None = None


def _comment_tree(
    comments: list[PostRow], resolve: AuthorResolver, actor: Actor
) -> dict[int | None, list[CommentNode]]:
    """Comments by the answer they belong to (None: the question), each a tree of replies.

    A deleted comment keeps its place (without text or author) when it has live replies.
    """
    nodes = {
        c.id: CommentNode(
            c,
            resolve(c.author_id, c.anonymous),
            c.deleted_at is None and actor.can_change(c.author_id),
        )
        for c in comments
    }
    roots: dict[int | None, list[CommentNode]] = {}
    for c in comments:  # oldest first, so parents come before their replies
        node = nodes[c.id]
        parent = nodes.get(c.parent_comment_id) if c.parent_comment_id else None
        if parent is not None:
            parent.replies.append(node)
        else:
            roots.setdefault(c.answer_id, []).append(node)

    def prune(items: list[CommentNode]) -> list[CommentNode]:
        kept = []
        for node in items:
            node.replies = prune(node.replies)
            if not node.deleted or node.replies or actor.can_moderate:
                kept.append(node)
        return kept

    return {key: prune(items) for key, items in roots.items()}


def question_thread(session: Session, actor: Actor, question_id: int) -> Thread:
    """A question with its answers (accepted, endorsed, most helpful, oldest first) and comments.

    Two queries: the question with its tags and what the page's header needs; its answers and
    comments (each with the author's name, the viewer's vote and whether moderators hid it).
    """
    params = {"me": actor.member_id, "course_id": actor.course_id, "question_id": question_id}
    head: Any = session.execute(_QUESTION_HEAD[session.get_bind().dialect.name], params).first()
    if head is None or (head.deleted_at is not None and not actor.can_moderate):
        raise NotFound()
    question = QuestionRow(*head[: len(_QUESTION_COLUMNS)])
    settings = _settings_of(head, actor.course_id)
    names = {question.author_id: _author_name(head, question.author_id)}
    mentors = {question.author_id} if head.mentor else set()
    hidden: set[tuple[str, int]] = set()
    answer_rows = []
    comments = []
    deleted_answers = 0
    # .all(): one fetchall (psycopg's fetchone per row costs several times as much).
    for row in map(PostRow._make, session.execute(_POSTS_IN_ORDER, params).all()):
        if row.kind == "c":
            comments.append(row)
            continue
        if row.deleted_at is not None:
            deleted_answers += 1
            if not actor.can_moderate:
                continue
        answer_rows.append(row)
    for rows, kind in ((answer_rows, "qa_answer"), (comments, "qa_comment")):
        for row in rows:
            if row.author_id not in names:
                names[row.author_id] = _author_name(row)
            if row.mentor:
                mentors.add(row.author_id)
            if row.hidden:
                hidden.add((kind, row.id))
    if head.hidden:
        hidden.add(("qa_question", question.id))
    resolve = AuthorResolver(actor, settings, names, frozenset(mentors))
    tree = _comment_tree(comments, resolve, actor)
    me = actor.member_id
    is_asker = question.author_id == me
    can_moderate = actor.can_moderate
    mentor = actor.peer_mentor
    answers = []
    for a in answer_rows:
        live = a.deleted_at is None
        mine = a.author_id == me
        answers.append(
            AnswerView(
                answer=a,
                author=resolve(a.author_id, a.anonymous),
                accepted=a.id == question.accepted_answer_id,
                voted=bool(a.voted),
                can_change=live and (mine or can_moderate),
                can_vote=live and not mine,
                can_accept=is_asker and live,
                comments=tree.get(a.id, []),
                # actor.can_endorse("answer", ...) and, for an endorsed answer,
                # actor.can_withdraw_endorsement(...), inlined: fifty answers
                can_endorse=live
                and (
                    can_moderate
                    or (
                        mentor
                        and not mine
                        and (not a.endorsed or (a.endorsed_by_mentor and a.endorsed_by == me))
                    )
                ),
            )
        )
    answers.sort(
        key=lambda v: (
            v.answer.deleted_at is not None,
            not v.accepted,
            not v.answer.endorsed,
            -v.answer.helpful_count,
            v.answer.created_at,
            v.answer.id,
        )
    )
    return Thread(
        question=question,
        author=resolve(question.author_id, question.anonymous),
        tags=_tags(head.tags),
        answers=answers,
        comments=tree.get(None, []),
        voted=bool(head.voted),
        following=bool(head.following),
        can_change=not question.is_deleted and actor.can_change(question.author_id),
        can_vote=not question.is_deleted and question.author_id != actor.member_id,
        is_asker=is_asker,
        can_moderate=can_moderate,
        settings=settings,
        deleted_answers=deleted_answers,
        hidden=frozenset(hidden),
        header=_header(head, actor.member_id),
    )


# --- edit history ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RevisionView:
    revision: Revision
    editor: Author


def history(session: Session, actor: Actor, kind: str, post_id: int) -> list[RevisionView]:
    """A question's, answer's or comment's earlier versions, newest first."""
    if kind == "question":
        post: Question | Answer | Comment = find_question(session, actor, post_id)
        where = Revision.question_id == post.id
    elif kind == "answer":
        post = find_answer(session, actor, post_id)[0]
        where = Revision.answer_id == post.id
    elif kind == "comment":
        post = find_comment(session, actor, post_id)
        find_question(session, actor, post.question_id)  # not of a deleted question
        where = Revision.comment_id == post.id
    else:
        raise NotFound()
    revisions = list(
        session.scalars(
            select(Revision)
            .where(where, Revision.course_id == actor.course_id)
            .order_by(Revision.created_at.desc(), Revision.id.desc())
        )
    )
    settings = get_settings(session, actor.course_id)
    names = member_names(session, [r.editor_id for r in revisions])
    resolve = AuthorResolver(actor, settings, names)
    views = []
    for r in revisions:
        # The author editing their anonymous post stays anonymous; moderators are named.
        anonymous = post.anonymous and r.editor_id == post.author_id
        editor = (
            resolve(r.editor_id, anonymous)
            if r.editor_id
            else Author(name="", member_id=None, anonymous=False)
        )
        views.append(RevisionView(r, editor))
    return views


# --- notifications ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationView:
    notification: Notification
    actor_name: str | None  # None: anonymous or unknown
    # The post it is about was deleted or hidden by moderators since: neither its words nor a
    # link (the post's own page shows a placeholder).
    removed: bool = False
    # A post another capability owns (a group message): where to see it, for url_for.
    endpoint: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


def notifications(session: Session, actor: Actor, limit: int = 50) -> list[NotificationView]:
    """The viewer's latest notifications in the course, with the names of who caused them."""
    rows = recent(session, actor.member_id, actor.course_id, limit=limit)
    names = member_names(session, [n.actor_id for n in rows])
    keys = {(n.subject_type, n.subject_id) for n in rows if registered(n.subject_type)}
    posts = resolve(session, actor.course_id, keys)
    hidden = frozenset() if actor.can_moderate else hidden_subjects(session, actor.course_id, keys)
    views = []
    for n in rows:
        key = (n.subject_type, n.subject_id)
        post = posts.get(key)
        gone = key in keys and (
            post is None or (not actor.can_moderate and (post.deleted or key in hidden))
        )
        views.append(
            NotificationView(
                n,
                names.get(n.actor_id) if n.actor_id else None,
                gone,
                post.endpoint if post and not gone else None,
                post.values if post and not gone else {},
            )
        )
    return views


def typical_reply_time(
    session: Session, course_id: int, now: datetime | None = None, days: int = 30
) -> timedelta | None:
    """The median time to a first answer over the last ``days`` days (what an asker can expect);
    None with fewer than three answered questions to go by. Deleted questions do not count: the
    figure speaks of the questions students can see (a spam post removed with a word from staff
    would make the course look faster than it is)."""
    now = now or utcnow()
    rows = session.execute(
        select(Question.created_at, Question.first_answer_at).where(
            Question.course_id == course_id,
            Question.first_answer_at.is_not(None),
            Question.deleted_at.is_(None),
            Question.created_at >= now - timedelta(days=days),
        )
    ).all()
    waits = [(answered - asked).total_seconds() for asked, answered in rows if answered]
    if len(waits) < 3:
        return None
    return timedelta(seconds=statistics.median(waits))


class ReplyTimes:
    """``typical_reply_time`` by course, remembered for ``ttl`` seconds.

    Only a cache, in this process's memory (each gunicorn worker keeps its own): what a page
    shows is at most ``ttl`` old, which a median over 30 days does not notice, and a course's
    answered questions of the last 30 days (3,300 in a 20,000-question course) are read once per
    ``ttl`` per process instead of on every page of an unanswered question. At most ``size``
    courses are kept, the least recently asked for leave first (cachetools' TTLCache).
    """

    def __init__(
        self, ttl: float = 600.0, size: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._values: TTLCache[int, timedelta | None] = TTLCache(size, ttl, timer=clock)
        self._lock = threading.Lock()  # a TTLCache changes as it is read: one thread at a time

    def get(self, session: Session, course_id: int) -> timedelta | None:
        """The course's typical reply time, computed again when the one kept is too old."""
        with self._lock:
            try:
                return self._values[course_id]
            except KeyError:
                pass
        value = typical_reply_time(session, course_id)
        with self._lock:
            self._values[course_id] = value
        return value
