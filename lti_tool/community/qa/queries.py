"""Reading the Q&A: list pages, a question's thread, the staff queue, edit history.

Each function runs a fixed number of queries whatever the course's size (counters live on the
question, related rows load with one ``IN`` query each). Authors come out already resolved for
the viewer, so an anonymous author can only reach a page, search result or notification through
``Author.revealed`` (see permissions.py).
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, case, or_, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.community.moderation.services import hidden_keys, not_hidden
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
from lti_tool.extensions import utcnow

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

    def __call__(self, author_id: int, anonymous: bool) -> Author:
        is_viewer = author_id == self.actor.member_id
        if anonymous and not (is_viewer or self.staff_sees):
            return Author(name="", member_id=None, anonymous=True)
        name = self.names.get(author_id) or f"Member #{author_id}"
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


def member_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names by member id: the name columns only (no Member objects to build)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(Member.id, Member.name, Member.given_name, Member.family_name).where(
            Member.id.in_(wanted)
        )
    )
    return {row.id: display_name(*row) for row in rows}


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
    tags: list[Tag]
    created_at: datetime
    last_activity_at: datetime


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
    return [
        QuestionSummary(
            id=q.id,
            title=q.title,
            author=resolve(q.author_id, q.anonymous),
            state=q.state,
            endorsed=q.endorsed,
            answer_count=q.answer_count,
            helpful_count=q.helpful_count,
            tags=list(q.tags),
            created_at=q.created_at,
            last_activity_at=q.last_activity_at,
        )
        for q in questions
    ]


def list_questions(
    session: Session,
    actor: Actor,
    filters: ListFilters,
    page: int = 1,
    per_page: int = PER_PAGE,
    settings: QASettings | None = None,
) -> QuestionPage:
    """A page of the course's questions, filtered and sorted; with a query, ranked by relevance."""
    page = max(1, page)
    stmt = select(Question).where(
        Question.course_id == actor.course_id, Question.deleted_at.is_(None)
    )
    if not actor.can_moderate:  # posts hidden by moderators leave students' lists
        stmt = stmt.where(not_hidden("qa_question", Question.id))
    narrowed = bool(filters.state or filters.tag_id or filters.mine or filters.following) or (
        filters.sort != Sort.RELEVANCE
    )
    # Relevance ranks the best matches only; filters then apply among the best SEARCH_POOL.
    limit = page * per_page + 1 + (SEARCH_POOL if narrowed else 0)
    ranked = (
        search.ranked(session, actor.course_id, filters.query, limit=limit)
        if filters.query
        else None
    )
    searched = bool(filters.query.strip())
    if searched and ranked is None:
        return QuestionPage([], page, False, filters, searched=True)
    if filters.state is not None:
        stmt = stmt.where(Question.state == filters.state)
    if filters.tag_id is not None:
        stmt = stmt.where(
            Question.id.in_(
                select(QuestionTag.question_id).where(QuestionTag.tag_id == filters.tag_id)
            )
        )
    if filters.mine:
        stmt = stmt.where(Question.author_id == actor.member_id)
    if filters.following:
        stmt = stmt.where(
            Question.id.in_(
                select(Follower.question_id).where(Follower.member_id == actor.member_id)
            )
        )
    order: dict[Sort, list[ColumnElement[Any]]] = {
        Sort.NEWEST: [Question.created_at.desc(), Question.id.desc()],
        Sort.HELPFUL: [Question.helpful_count.desc(), Question.created_at.desc()],
        Sort.ACTIVITY: [Question.last_activity_at.desc(), Question.id.desc()],
        Sort.UNANSWERED: [
            case((Question.state == QuestionState.UNANSWERED, 0), else_=1),
            Question.created_at.desc(),
        ],
    }
    if ranked is not None:
        stmt = stmt.join(ranked, ranked.c.id == Question.id)
        if filters.sort == Sort.RELEVANCE:
            stmt = stmt.order_by(ranked.c.rank, Question.id.desc())
        else:
            stmt = stmt.order_by(*order[filters.sort])
    else:
        stmt = stmt.order_by(*order.get(filters.sort, order[Sort.NEWEST]))
    rows = list(
        session.scalars(
            stmt.options(selectinload(Question.tags))
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return QuestionPage(
        _summaries(session, actor, rows[:per_page], settings),
        page,
        len(rows) > per_page,
        filters,
        searched=searched,
    )


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


@dataclass
class CommentNode:
    comment: Comment
    author: Author
    can_change: bool  # edit and delete
    replies: list[CommentNode] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.comment.deleted_at is not None


@dataclass
class AnswerView:
    answer: Answer
    author: Author
    accepted: bool
    voted: bool
    can_change: bool
    can_vote: bool
    can_accept: bool
    comments: list[CommentNode]
    can_endorse: bool = False


@dataclass
class Thread:
    """Everything the question page shows, with what this viewer may do."""

    question: Question
    author: Author
    tags: list[Tag]
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


def _comment_tree(
    comments: list[Comment], resolve: AuthorResolver, actor: Actor
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


Post = TypeVar("Post", Answer, Comment)


def _thread_posts(
    session: Session, model: type[Post], question_id: int, course_id: int, names: dict[int, str]
) -> list[Post]:
    """A question's answers or comments, oldest first; their authors' names go into ``names``."""
    posts = []
    for post, *name in session.execute(
        select(model, *_NAME_COLUMNS)
        .join(Member, Member.id == model.author_id)
        .where(model.question_id == question_id, model.course_id == course_id)
        .order_by(model.created_at, model.id)
    ):
        posts.append(post)
        names[post.author_id] = display_name(post.author_id, *name)
    return posts


def question_thread(session: Session, actor: Actor, question_id: int) -> Thread:
    """A question with its answers (accepted, endorsed, most helpful, oldest first) and comments."""
    question = find_question(session, actor, question_id, include_deleted=True)
    settings = get_settings(session, actor.course_id)
    # Authors' names come joined to their posts: no list of ids to send back.
    names = member_names(session, [question.author_id])
    answer_rows = _thread_posts(session, Answer, question.id, actor.course_id, names)
    deleted_answers = sum(1 for a in answer_rows if a.deleted_at is not None)
    if not actor.can_moderate:
        answer_rows = [a for a in answer_rows if a.deleted_at is None]
    comments = _thread_posts(session, Comment, question.id, actor.course_id, names)
    resolve = AuthorResolver(actor, settings, names, peer_mentors(session, actor.course_id))
    answer_ids = [a.id for a in answer_rows]
    votes = session.execute(
        select(Vote.question_id, Vote.answer_id).where(
            Vote.member_id == actor.member_id,
            or_(
                Vote.question_id == question.id,
                Vote.answer_id.in_(select(Answer.id).where(Answer.question_id == question.id)),
            ),
        )
    ).all()
    voted_answers = {a for _, a in votes if a is not None}
    following = (
        session.scalar(
            select(Follower.member_id).where(
                Follower.question_id == question.id, Follower.member_id == actor.member_id
            )
        )
        is not None
    )
    tree = _comment_tree(comments, resolve, actor)
    is_asker = question.author_id == actor.member_id
    answers = [
        AnswerView(
            answer=a,
            author=resolve(a.author_id, a.anonymous),
            accepted=a.id == question.accepted_answer_id,
            voted=a.id in voted_answers,
            can_change=a.deleted_at is None and actor.can_change(a.author_id),
            can_vote=a.deleted_at is None and a.author_id != actor.member_id,
            can_accept=is_asker and a.deleted_at is None,
            comments=tree.get(a.id, []),
            can_endorse=a.deleted_at is None and actor.can_endorse("answer", a.author_id),
        )
        for a in answer_rows
    ]
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
        tags=list(question.tags),
        answers=answers,
        comments=tree.get(None, []),
        voted=any(q is not None for q, _ in votes),
        following=following,
        can_change=not question.is_deleted and actor.can_change(question.author_id),
        can_vote=not question.is_deleted and question.author_id != actor.member_id,
        is_asker=is_asker,
        can_moderate=actor.can_moderate,
        settings=settings,
        deleted_answers=deleted_answers,
        hidden=hidden_keys(
            session,
            actor.course_id,
            {
                "qa_question": [question.id],
                "qa_answer": answer_ids,
                "qa_comment": [c.id for c in comments],
            },
        ),
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


def notifications(session: Session, actor: Actor, limit: int = 50) -> list[NotificationView]:
    """The viewer's latest notifications in the course, with the names of who caused them."""
    rows = recent(session, actor.member_id, actor.course_id, limit=limit)
    names = member_names(session, [n.actor_id for n in rows])
    return [NotificationView(n, names.get(n.actor_id) if n.actor_id else None) for n in rows]


def typical_reply_time(
    session: Session, course_id: int, now: datetime | None = None, days: int = 30
) -> timedelta | None:
    """The median time to a first answer over the last ``days`` days (what an asker can expect);
    None with fewer than three answered questions to go by."""
    now = now or utcnow()
    rows = session.execute(
        select(Question.created_at, Question.first_answer_at).where(
            Question.course_id == course_id,
            Question.first_answer_at.is_not(None),
            Question.created_at >= now - timedelta(days=days),
        )
    ).all()
    waits = [(answered - asked).total_seconds() for asked, answered in rows if answered]
    if len(waits) < 3:
        return None
    return timedelta(seconds=statistics.median(waits))
