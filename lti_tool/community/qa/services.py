"""Q&A use cases: ask, edit, delete, answer, comment, vote, accept, endorse, follow, flag.

Plain functions: a SQLAlchemy session and typed arguments in, models out, one commit per use
case. Every lookup by id is filtered by the actor's course, so an id from another course or
another LMS is a ``NotFound``. The rules are in permissions.py; reading pages is in queries.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.community.content import (
    MAX_BODY,
    Rendered,
    mentioned_handles,
    render,
)
from lti_tool.community.engagement.models import EventKind, ParticipationEvent
from lti_tool.community.engagement.services import forget, forget_authored, record
from lti_tool.community.moderation.models import Flag
from lti_tool.community.moderation.services import FlagError, flag_content
from lti_tool.community.notifications.services import notify
from lti_tool.community.qa import search
from lti_tool.community.qa.handles import resolve_mentions
from lti_tool.community.qa.models import (
    TAG_MAX,
    TITLE_MAX,
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
from lti_tool.community.qa.permissions import (
    Actor,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QAError,
)
from lti_tool.community.sentiment.services import forget_post as forget_sentiment
from lti_tool.community.sentiment.services import record_post as record_sentiment
from lti_tool.extensions import utcnow

PostKind = Literal["question", "answer", "comment"]
SUBJECT_TYPES: dict[str, str] = {
    "question": "qa_question",
    "answer": "qa_answer",
    "comment": "qa_comment",
}
TITLE_MIN = 5
COMMENT_MAX = 3_000
MAX_TAGS = 5

__all__ = [
    "Actor",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "QAError",
    "QuestionInput",
]


@dataclass(frozen=True)
class QuestionInput:
    """What an ask or edit form sends."""

    title: str = ""
    body: str = ""
    tag_ids: Sequence[int] = ()
    anonymous: bool = False


# --- course settings and tags --------------------------------------------------------------


def get_settings(session: Session, course_id: int) -> QASettings:
    """The course's Q&A settings; defaults (not stored) when none were saved."""
    settings = session.get(QASettings, course_id)
    if settings is None:
        settings = QASettings(course_id=course_id, allow_anonymous=True, staff_see_anonymous=True)
    return settings


def update_settings(
    session: Session, actor: Actor, *, allow_anonymous: bool, staff_see_anonymous: bool
) -> QASettings:
    """Instructors and teaching assistants choose how anonymous posting works in their course."""
    if not actor.is_staff:
        raise PermissionDenied()
    settings = session.get(QASettings, actor.course_id)
    if settings is None:
        settings = QASettings(course_id=actor.course_id)
        session.add(settings)
    settings.allow_anonymous = allow_anonymous
    settings.staff_see_anonymous = staff_see_anonymous
    settings.updated_at = utcnow()
    session.commit()
    return settings


def course_tags(session: Session, course_id: int) -> list[Tag]:
    return list(session.scalars(select(Tag).where(Tag.course_id == course_id).order_by(Tag.name)))


def save_tag(
    session: Session, actor: Actor, name: str, label: str = "", tag_id: int | None = None
) -> Tag:
    """Create a tag, or rename one (staff only); names are unique in a course, any case."""
    if not actor.is_staff:
        raise PermissionDenied()
    name = " ".join(_clean(name).split())
    label = " ".join(_clean(label).split())[:255]
    if not name:
        raise InvalidInput({"name": _l("Give the tag a name.")})
    if len(name) > TAG_MAX:
        raise InvalidInput({"name": _l("Use at most %(n)d characters.", n=TAG_MAX)})
    clash = session.scalar(
        select(Tag.id).where(
            Tag.course_id == actor.course_id,
            func.lower(Tag.name) == name.casefold(),
            Tag.id != (tag_id or 0),
        )
    )
    if clash is not None:
        raise InvalidInput({"name": _l("This course already has a tag with that name.")})
    if tag_id is None:
        tag = Tag(course_id=actor.course_id, name=name, label=label)
        session.add(tag)
    else:
        tag = _tag(session, actor, tag_id)
        tag.name, tag.label = name, label
    session.commit()
    return tag


def delete_tag(session: Session, actor: Actor, tag_id: int) -> None:
    """Remove a tag from the course and from its questions (staff only)."""
    if not actor.is_staff:
        raise PermissionDenied()
    session.delete(_tag(session, actor, tag_id))
    session.commit()


def _tag(session: Session, actor: Actor, tag_id: int) -> Tag:
    tag = session.scalar(select(Tag).where(Tag.id == tag_id, Tag.course_id == actor.course_id))
    if tag is None:
        raise NotFound()
    return tag


# --- lookups scoped to the actor's course ----------------------------------------------------


def find_question(
    session: Session, actor: Actor, question_id: int, *, include_deleted: bool = False
) -> Question:
    """A question of the actor's course; deleted ones only for moderators who ask for them."""
    question = session.scalar(
        select(Question).where(Question.id == question_id, Question.course_id == actor.course_id)
    )
    if question is None or (question.is_deleted and not (include_deleted and actor.can_moderate)):
        raise NotFound()
    return question


def find_answer(session: Session, actor: Actor, answer_id: int) -> tuple[Answer, Question]:
    """A live answer of a live question of the actor's course."""
    row = session.execute(
        select(Answer, Question)
        .join(Question, Question.id == Answer.question_id)
        .where(
            Answer.id == answer_id,
            Answer.course_id == actor.course_id,
            Question.course_id == actor.course_id,
            Answer.deleted_at.is_(None),
            Question.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound()
    return row[0], row[1]


def find_comment(session: Session, actor: Actor, comment_id: int) -> Comment:
    comment = session.scalar(
        select(Comment).where(
            Comment.id == comment_id,
            Comment.course_id == actor.course_id,
            Comment.deleted_at.is_(None),
        )
    )
    if comment is None:
        raise NotFound()
    return comment


# --- validation ------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Text as stored: no NUL characters (PostgreSQL refuses them), no surrounding blanks."""
    return (text or "").replace("\x00", "").strip()


def _check_body(body: str, *, required: bool, limit: int = MAX_BODY) -> str:
    body = _clean(body)
    if required and not body:
        raise InvalidInput({"body": _l("Write something first.")})
    if len(body) > limit:
        raise InvalidInput({"body": _l("Use at most %(n)d characters.", n=limit)})
    return body


def _check_anonymous(session: Session, actor: Actor, anonymous: bool) -> bool:
    if not anonymous:
        return False
    if actor.is_staff:
        raise InvalidInput({"anonymous": _l("Staff posts are never anonymous.")})
    if not get_settings(session, actor.course_id).allow_anonymous:
        raise InvalidInput({"anonymous": _l("This course does not allow anonymous posts.")})
    return True


def _check_question(
    session: Session, actor: Actor, data: QuestionInput
) -> tuple[str, str, list[Tag]]:
    errors = {}
    title = " ".join(_clean(data.title).split())
    if len(title) < TITLE_MIN:
        errors["title"] = _l("Write a title of at least %(n)d characters.", n=TITLE_MIN)
    elif len(title) > TITLE_MAX:
        errors["title"] = _l("Use at most %(n)d characters.", n=TITLE_MAX)
    try:
        body = _check_body(data.body, required=False)
    except InvalidInput as exc:
        errors.update(exc.errors)
        body = ""
    wanted = set(data.tag_ids)
    tags = (
        list(
            session.scalars(select(Tag).where(Tag.course_id == actor.course_id, Tag.id.in_(wanted)))
        )
        if wanted
        else []
    )
    if len(tags) != len(wanted):
        errors["tags"] = _l("Choose tags from the course's list.")
    elif len(tags) > MAX_TAGS:
        errors["tags"] = _l("Choose at most %(n)d tags.", n=MAX_TAGS)
    if errors:
        raise InvalidInput(errors)
    return title, body, tags


# --- asking and editing ----------------------------------------------------------------------


def ask(session: Session, actor: Actor, data: QuestionInput) -> Question:
    """Post a question; the asker follows it, mentioned members are notified."""
    title, body, tags = _check_question(session, actor, data)
    anonymous = _check_anonymous(session, actor, data.anonymous)
    rendered = render(body)
    now = utcnow()
    question = Question(
        course_id=actor.course_id,
        author_id=actor.member_id,
        anonymous=anonymous,
        title=title,
        body=body,
        body_html=str(rendered.html),
        state=QuestionState.UNANSWERED,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        search_title=search.index_text(actor.course_id, title),
        search_body=search.index_text(actor.course_id, body),
    )
    session.add(question)
    session.flush()
    session.add_all(QuestionTag(question_id=question.id, tag_id=t.id) for t in tags)
    session.add(Follower(question_id=question.id, member_id=actor.member_id, created_at=now))
    record(
        session,
        course_id=actor.course_id,
        member_id=actor.member_id,
        kind=EventKind.ASK,
        subject_type="qa_question",
        subject_id=question.id,
        at=now,
    )
    record_sentiment(session, question)
    _notify_mentions(session, actor, question, rendered, anonymous=anonymous)
    session.commit()
    return question


def edit_question(
    session: Session, actor: Actor, question_id: int, data: QuestionInput
) -> Question:
    """Change a question's title, text and tags (author or moderators), keeping the old text."""
    question = find_question(session, actor, question_id)
    if not actor.can_change(question.author_id):
        raise PermissionDenied()
    title, body, tags = _check_question(session, actor, data)
    if title != question.title or body != question.body:
        previous_title, question.title = question.title, title
        _new_text(session, actor, question, question, body, previous_title=previous_title)
        question.updated_at = utcnow()
        question.search_title = search.index_text(question.course_id, title)
        _refresh_search_body(session, question)
        record_sentiment(session, question)
    session.execute(delete(QuestionTag).where(QuestionTag.question_id == question.id))
    session.add_all(QuestionTag(question_id=question.id, tag_id=t.id) for t in tags)
    session.commit()
    session.expire(question, ["tags"])
    return question


def delete_question(session: Session, actor: Actor, question_id: int) -> None:
    """Soft-delete a question (author or moderators); moderation can still read it."""
    question = find_question(session, actor, question_id)
    if not actor.can_change(question.author_id):
        raise PermissionDenied()
    question.deleted_at = utcnow()
    question.deleted_by = actor.member_id
    question.search_title = question.search_body = ""  # out of the search index
    forget_sentiment(session, question)
    forget_authored(session, actor.course_id, "qa_question", question.id, question.author_id)
    session.commit()


def _refresh_search_body(session: Session, question: Question) -> None:
    """The indexed text of a question: its own text and its live answers'."""
    answers = session.scalars(
        select(Answer.body).where(Answer.question_id == question.id, Answer.deleted_at.is_(None))
    ).all()
    question.search_body = search.index_text(question.course_id, question.body, *answers)


# --- answers and comments --------------------------------------------------------------------


def answer(
    session: Session, actor: Actor, question_id: int, body: str, anonymous: bool = False
) -> Answer:
    """Answer a question; followers and mentioned members are notified."""
    question = find_question(session, actor, question_id)
    body = _check_body(body, required=True)
    anonymous = _check_anonymous(session, actor, anonymous)
    rendered = render(body)
    now = utcnow()
    post = Answer(
        course_id=actor.course_id,
        question_id=question.id,
        author_id=actor.member_id,
        anonymous=anonymous,
        body=body,
        body_html=str(rendered.html),
        is_staff_answer=actor.is_staff,
        created_at=now,
        updated_at=now,
    )
    session.add(post)
    # Counters and first-answer times as SQL expressions: two answers at once both count.
    question.answer_count = Question.answer_count + 1
    question.first_answer_at = func.coalesce(Question.first_answer_at, now)
    if actor.is_staff:
        question.first_staff_answer_at = func.coalesce(Question.first_staff_answer_at, now)
    if question.state == QuestionState.UNANSWERED:
        question.state = QuestionState.ANSWERED
    question.last_activity_at = now
    session.flush()
    _refresh_search_body(session, question)
    _follow(session, question.id, actor.member_id)
    record(
        session,
        course_id=actor.course_id,
        member_id=actor.member_id,
        kind=EventKind.ANSWER,
        subject_type="qa_answer",
        subject_id=post.id,
        at=now,
    )
    record_sentiment(session, post)
    mentioned = _notify_mentions(session, actor, question, rendered, anonymous=anonymous)
    notify(
        session,
        course_id=actor.course_id,
        recipients=_followers(session, question.id) - mentioned - {actor.member_id},
        kind="answer",
        subject_type="qa_question",
        subject_id=question.id,
        actor_id=None if anonymous else actor.member_id,
        excerpt=question.title,
    )
    session.commit()
    return post


def edit_answer(session: Session, actor: Actor, answer_id: int, body: str) -> Answer:
    """Change an answer's text (author or moderators), keeping the old text; members it now
    mentions for the first time are notified."""
    post, question = find_answer(session, actor, answer_id)
    if not actor.can_change(post.author_id):
        raise PermissionDenied()
    body = _check_body(body, required=True)
    if body != post.body:
        _new_text(session, actor, question, post, body)
        post.updated_at = utcnow()
        session.flush()
        _refresh_search_body(session, question)
        record_sentiment(session, post)
    session.commit()
    return post


def delete_answer(session: Session, actor: Actor, answer_id: int) -> Question:
    """Soft-delete an answer; the question's counters and state follow."""
    post, question = find_answer(session, actor, answer_id)
    if not actor.can_change(post.author_id):
        raise PermissionDenied()
    post.deleted_at = utcnow()
    post.deleted_by = actor.member_id
    forget_sentiment(session, post)
    forget_authored(session, actor.course_id, "qa_answer", post.id, post.author_id)
    question.answer_count = Question.answer_count - 1
    if question.accepted_answer_id == post.id:
        question.accepted_answer_id = None
        _forget_events(
            session,
            actor.course_id,
            post.id,
            "qa_answer",
            EventKind.ACCEPT,
            EventKind.ANSWER_ACCEPTED,
        )
    session.flush()
    session.refresh(question)
    question.state = _state_of(question)
    _refresh_search_body(session, question)
    session.commit()
    return question


def _state_of(question: Question) -> QuestionState:
    if question.accepted_answer_id is not None:
        return QuestionState.RESOLVED
    return QuestionState.ANSWERED if question.answer_count > 0 else QuestionState.UNANSWERED


def comment(
    session: Session,
    actor: Actor,
    question_id: int,
    body: str,
    *,
    answer_id: int | None = None,
    parent_id: int | None = None,
    anonymous: bool = False,
) -> Comment:
    """A follow-up on a question or an answer, or a reply to another comment."""
    question = find_question(session, actor, question_id)
    body = _check_body(body, required=True, limit=COMMENT_MAX)
    anonymous = _check_anonymous(session, actor, anonymous)
    if parent_id is not None:
        parent = find_comment(session, actor, parent_id)
        if parent.question_id != question.id:
            raise NotFound()
        answer_id = parent.answer_id
    if answer_id is not None:
        post, _question = find_answer(session, actor, answer_id)
        if post.question_id != question.id:
            raise NotFound()
    rendered = render(body)
    now = utcnow()
    note = Comment(
        course_id=actor.course_id,
        question_id=question.id,
        answer_id=answer_id,
        parent_comment_id=parent_id,
        author_id=actor.member_id,
        anonymous=anonymous,
        body=body,
        body_html=str(rendered.html),
        created_at=now,
    )
    session.add(note)
    question.last_activity_at = now
    session.flush()
    record(
        session,
        course_id=actor.course_id,
        member_id=actor.member_id,
        kind=EventKind.COMMENT,
        subject_type="qa_comment",
        subject_id=note.id,
        at=now,
    )
    record_sentiment(session, note)
    _notify_mentions(session, actor, question, rendered, anonymous=anonymous)
    session.commit()
    return note


def edit_comment(session: Session, actor: Actor, comment_id: int, body: str) -> Comment:
    """Change a comment's text (author or moderators), keeping the old text; members it now
    mentions for the first time are notified."""
    note = find_comment(session, actor, comment_id)
    question = find_question(session, actor, note.question_id)
    if not actor.can_change(note.author_id):
        raise PermissionDenied()
    body = _check_body(body, required=True, limit=COMMENT_MAX)
    if body != note.body:
        _new_text(session, actor, question, note, body)
        note.edited_at = utcnow()
    session.commit()
    return note


def delete_comment(session: Session, actor: Actor, comment_id: int) -> Comment:
    note = find_comment(session, actor, comment_id)
    find_question(session, actor, note.question_id)
    if not actor.can_change(note.author_id):
        raise PermissionDenied()
    note.deleted_at = utcnow()
    note.deleted_by = actor.member_id
    forget_sentiment(session, note)
    forget_authored(session, actor.course_id, "qa_comment", note.id, note.author_id)
    session.commit()
    return note


# --- votes, acceptance, endorsement ----------------------------------------------------------


def _post(session: Session, actor: Actor, kind: str, post_id: int) -> Question | Answer:
    if kind == "question":
        return find_question(session, actor, post_id)
    if kind == "answer":
        return find_answer(session, actor, post_id)[0]
    raise NotFound()


def toggle_vote(session: Session, actor: Actor, kind: str, post_id: int) -> bool:
    """Mark a question or answer helpful, or take the vote back; True when it now counts."""
    post = _post(session, actor, kind, post_id)
    if post.author_id == actor.member_id:
        raise PermissionDenied(_l("You cannot vote for your own post."))
    model = Question if isinstance(post, Question) else Answer
    column = Vote.question_id if isinstance(post, Question) else Vote.answer_id
    subject_type = SUBJECT_TYPES[kind]
    existing = session.scalar(
        select(Vote).where(Vote.member_id == actor.member_id, column == post.id)
    )
    if existing is not None:
        session.delete(existing)
        session.execute(
            update(model).where(model.id == post.id).values(helpful_count=model.helpful_count - 1)
        )
        _forget_events(
            session,
            actor.course_id,
            post.id,
            subject_type,
            EventKind.UPVOTE,
            EventKind.UPVOTE_RECEIVED,
            by=actor.member_id,
        )
        session.commit()
        return False
    vote = Vote(course_id=actor.course_id, member_id=actor.member_id)
    if isinstance(post, Question):
        vote.question_id = post.id
    else:
        vote.answer_id = post.id
    session.add(vote)
    session.execute(
        update(model).where(model.id == post.id).values(helpful_count=model.helpful_count + 1)
    )
    _record_pair(
        session,
        actor,
        EventKind.UPVOTE,
        EventKind.UPVOTE_RECEIVED,
        post.author_id,
        subject_type,
        post.id,
    )
    try:
        session.commit()
    except IntegrityError as exc:  # the same member voted twice at the same moment
        session.rollback()
        raise Conflict() from exc
    return True


def accept(session: Session, actor: Actor, answer_id: int) -> bool:
    """The asker accepts an answer to their question (again: takes it back); True if accepted."""
    post, question = find_answer(session, actor, answer_id)
    if question.author_id != actor.member_id:
        raise PermissionDenied(_l("Only the person who asked can accept an answer."))
    previous = question.accepted_answer_id
    if previous is not None:
        _forget_events(
            session,
            actor.course_id,
            previous,
            "qa_answer",
            EventKind.ACCEPT,
            EventKind.ANSWER_ACCEPTED,
        )
    if previous == post.id:
        question.accepted_answer_id = None
        question.state = _state_of(question)
        session.commit()
        return False
    question.accepted_answer_id = post.id
    question.state = QuestionState.RESOLVED
    question.last_activity_at = utcnow()
    _record_pair(
        session,
        actor,
        EventKind.ACCEPT,
        EventKind.ANSWER_ACCEPTED,
        post.author_id,
        "qa_answer",
        post.id,
    )
    notify(
        session,
        course_id=actor.course_id,
        recipients=(_followers(session, question.id) | {post.author_id}) - {actor.member_id},
        kind="accepted",
        subject_type="qa_question",
        subject_id=question.id,
        actor_id=None if question.anonymous else actor.member_id,
        excerpt=question.title,
    )
    session.commit()
    return True


def toggle_endorse(session: Session, actor: Actor, kind: str, post_id: int) -> bool:
    """Staff and community managers endorse a question or answer, peer mentors an answer
    (again: withdraw)."""
    post = _post(session, actor, kind, post_id)
    if not actor.can_endorse(kind, post.author_id):
        if actor.peer_mentor:
            raise PermissionDenied(_l("Peer mentors can endorse other people's answers only."))
        raise PermissionDenied(_l("Only staff can endorse posts."))
    subject_type = SUBJECT_TYPES[kind]
    mentor_only = isinstance(post, Answer) and not actor.can_moderate
    if post.endorsed:
        by_mentor = isinstance(post, Answer) and post.endorsed_by_mentor
        if not actor.can_withdraw_endorsement(post.endorsed_by, by_mentor):
            raise PermissionDenied(
                _l("Only staff, or the peer mentor who endorsed it, can withdraw this endorsement.")
            )
        post.endorsed, post.endorsed_by = False, None
        if isinstance(post, Answer):
            post.endorsed_by_mentor = False
        _forget_events(
            session,
            actor.course_id,
            post.id,
            subject_type,
            EventKind.ENDORSE,
            EventKind.ENDORSEMENT_RECEIVED,
        )
        session.commit()
        return False
    post.endorsed, post.endorsed_by = True, actor.member_id
    if isinstance(post, Answer):
        post.endorsed_by_mentor = mentor_only  # a peer mentor's right, not staff's
    _record_pair(
        session,
        actor,
        EventKind.ENDORSE,
        EventKind.ENDORSEMENT_RECEIVED,
        post.author_id,
        subject_type,
        post.id,
    )
    session.commit()
    return True


# --- following and flags ---------------------------------------------------------------------


def set_following(session: Session, actor: Actor, question_id: int, follow: bool) -> None:
    question = find_question(session, actor, question_id)
    if follow:
        _follow(session, question.id, actor.member_id)
    else:
        session.execute(
            delete(Follower).where(
                Follower.question_id == question.id, Follower.member_id == actor.member_id
            )
        )
    session.commit()


def flag(
    session: Session, actor: Actor, kind: str, post_id: int, reason: str, note: str = ""
) -> Flag:
    """Report a question, answer or comment of the course to the moderators."""
    if kind == "comment":
        subject_id = find_comment(session, actor, post_id).id
    else:
        subject_id = _post(session, actor, kind, post_id).id
    try:
        return flag_content(
            session,
            course_id=actor.course_id,
            reporter_id=actor.member_id,
            subject_type=SUBJECT_TYPES[kind],
            subject_id=subject_id,
            reason=reason,
            note=_clean(note),
        )
    except FlagError as exc:
        session.rollback()
        if str(exc) == "already flagged":
            raise Conflict(_l("You have already flagged this post.")) from exc
        raise InvalidInput({"reason": _l("Choose a reason.")}) from exc


# --- helpers ---------------------------------------------------------------------------------


def _follow(session: Session, question_id: int, member_id: int) -> None:
    exists = session.scalar(
        select(Follower.member_id).where(
            Follower.question_id == question_id, Follower.member_id == member_id
        )
    )
    if exists is None:
        session.add(Follower(question_id=question_id, member_id=member_id))


def _followers(session: Session, question_id: int) -> set[int]:
    return set(
        session.scalars(select(Follower.member_id).where(Follower.question_id == question_id))
    )


def _notify_mentions(
    session: Session,
    actor: Actor,
    question: Question,
    rendered: Rendered,
    *,
    anonymous: bool,
    already: set[str] | frozenset[str] = frozenset(),
) -> set[int]:
    """Notify the course members a text mentions, except the ``already`` mentioned handles
    (an edit notifies only whom it adds); returns who was notified."""
    mentioned = resolve_mentions(session, actor.course_id, rendered.mentions - already)
    mentioned.discard(actor.member_id)
    notify(
        session,
        course_id=actor.course_id,
        recipients=mentioned,
        kind="mention",
        subject_type="qa_question",
        subject_id=question.id,
        actor_id=None if anonymous else actor.member_id,
        excerpt=question.title or rendered.excerpt(120),
    )
    return mentioned


def _new_text(
    session: Session,
    actor: Actor,
    question: Question,
    post: Question | Answer | Comment,
    body: str,
    *,
    previous_title: str | None = None,
) -> None:
    """Keep a post's text as a revision, put the new text in its place, and notify the members
    it mentions for the first time."""
    column = {
        Question: Revision.question_id,
        Answer: Revision.answer_id,
        Comment: Revision.comment_id,
    }[type(post)]
    earlier = _earlier_mentions(session, column == post.id, post.body)
    revision = Revision(
        course_id=actor.course_id,
        editor_id=actor.member_id,
        previous_title=previous_title,
        previous_body=post.body,
    )
    setattr(revision, column.key, post.id)
    session.add(revision)
    rendered = render(body)
    post.body = body
    post.body_html = str(rendered.html)
    _notify_mentions(
        session,
        actor,
        question,
        rendered,
        anonymous=post.anonymous and post.author_id == actor.member_id,
        already=earlier,
    )


def _earlier_mentions(session: Session, where: Any, body: str) -> set[str]:
    """The handles a post mentions now or mentioned in any earlier version (its revisions match
    ``where``): they were notified already, so that an edit notifies each member at most once."""
    handles = mentioned_handles(body)
    for previous in session.scalars(select(Revision.previous_body).where(where)):
        handles |= mentioned_handles(previous)
    return handles


def _record_pair(
    session: Session,
    actor: Actor,
    given: EventKind,
    received: EventKind,
    author_id: int,
    subject_type: str,
    subject_id: int,
) -> None:
    """An action and, for the post's author (when someone else), its receipt."""
    now = utcnow()
    record(
        session,
        course_id=actor.course_id,
        member_id=actor.member_id,
        kind=given,
        subject_type=subject_type,
        subject_id=subject_id,
        at=now,
    )
    if author_id != actor.member_id:
        record(
            session,
            course_id=actor.course_id,
            member_id=author_id,
            kind=received,
            subject_type=subject_type,
            subject_id=subject_id,
            actor_id=actor.member_id,
            at=now,
        )


def _forget_events(
    session: Session,
    course_id: int,
    subject_id: int,
    subject_type: str,
    *kinds: EventKind,
    by: int | None = None,
) -> None:
    """Take back the events of an undone action (a vote, acceptance or endorsement withdrawn),
    so that toggling cannot pile up participation, nor leave it in a finished week's figures."""
    given, received = kinds[0], kinds[1]
    which = (
        ParticipationEvent.kind.in_([given.value, received.value])
        if by is None
        else ((ParticipationEvent.kind == given.value) & (ParticipationEvent.member_id == by))
        | ((ParticipationEvent.kind == received.value) & (ParticipationEvent.actor_id == by))
    )
    forget(
        session,
        course_id,
        ParticipationEvent.subject_type == subject_type,
        ParticipationEvent.subject_id == subject_id,
        which,
    )
