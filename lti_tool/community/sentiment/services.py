"""Per-post sentiment, weekly course mood, mood-drop alerts and the most negative recent posts.

Staff tools only. The functions that read take the acting member and refuse anyone who cannot
manage the course's community; ``record_post`` is called by Q&A as posts are written. A score
never changes anything for the student who wrote the post: it only informs staff.

Weeks are ISO weeks in UTC (Monday to Sunday), stored with each row as ``week_start``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from lti_tool.community.content import plain_text
from lti_tool.community.qa.models import Answer, Comment, QASettings, Question
from lti_tool.community.qa.permissions import Actor, PermissionDenied
from lti_tool.community.sentiment.models import PostSentiment
from lti_tool.community.sentiment.scoring import score
from lti_tool.community.sentiment.signals import Label
from lti_tool.courses.models import Member
from lti_tool.extensions import utcnow

log = logging.getLogger(__name__)

Post = Question | Answer | Comment
SUBJECT_TYPES: dict[type[Post], str] = {
    Question: "qa_question",
    Answer: "qa_answer",
    Comment: "qa_comment",
}


# --- writing ---------------------------------------------------------------------------------


def week_start(moment: datetime | date) -> date:
    """The Monday of a moment's ISO week (UTC)."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def _text_of(post: Post) -> str:
    if isinstance(post, Question):
        return f"{post.title}\n\n{post.body}"
    return post.body


def record_post(session: Session, post: Post) -> PostSentiment | None:
    """Score a new or edited Q&A post and store it (the caller commits).

    The language comes from the text, the author's LMS locale breaking ties; a post in another
    language is not stored (an edit into one forgets the earlier score). A scoring failure is
    logged and skipped: a student's post is never lost because of its sentiment.
    """
    try:
        author = session.get(Member, post.author_id)
        result = score(_text_of(post), author.locale if author else None)
    except Exception:  # an analysis bug must not refuse the post
        log.exception("sentiment scoring failed for %s %s", type(post).__name__, post.id)
        return None
    if not result.language:  # a language Bottega cannot score: no mood either way
        forget_post(session, post)
        return None
    subject_type = SUBJECT_TYPES[type(post)]
    row = session.scalar(
        select(PostSentiment).where(
            PostSentiment.subject_type == subject_type, PostSentiment.subject_id == post.id
        )
    )
    if row is None:
        row = PostSentiment(
            course_id=post.course_id,
            author_id=post.author_id,
            subject_type=subject_type,
            subject_id=post.id,
            question_id=post.id if isinstance(post, Question) else post.question_id,
            posted_at=post.created_at,
            week_start=week_start(post.created_at),
        )
        session.add(row)
    row.language = result.language
    row.score = result.score
    row.label = result.label.value
    row.triggers = list(result.triggers)
    row.scored_at = utcnow()
    return row


def forget_post(session: Session, post: Post) -> None:
    """A deleted post no longer counts in the mood (weekly means, negative-tone signals, the
    most negative list); the caller commits. A post hidden by moderation still counts: it was
    written in the course and says something about its mood."""
    session.execute(
        delete(PostSentiment).where(
            PostSentiment.subject_type == SUBJECT_TYPES[type(post)],
            PostSentiment.subject_id == post.id,
        )
    )


def rescore(session: Session, course_id: int | None = None) -> int:
    """Score every live Q&A post again (after a lexicon change, or for posts written before
    sentiment existed) and forget deleted ones; returns how many were scored. Commits."""
    count = 0
    for model, subject_type in SUBJECT_TYPES.items():
        deleted = select(model.id).where(model.deleted_at.is_not(None))
        if course_id is not None:
            deleted = deleted.where(model.course_id == course_id)
        session.execute(
            delete(PostSentiment).where(
                PostSentiment.subject_type == subject_type, PostSentiment.subject_id.in_(deleted)
            )
        )
        query = select(model).where(model.deleted_at.is_(None))
        if course_id is not None:
            query = query.where(model.course_id == course_id)
        posts: Sequence[Post] = session.scalars(query).all()  # type: ignore[assignment]
        for post in posts:
            count += record_post(session, post) is not None
    session.commit()
    return count


# --- reading (staff) -------------------------------------------------------------------------


def _require_staff(actor: Actor) -> None:
    if not actor.can_moderate:
        raise PermissionDenied()


@dataclass(frozen=True)
class WeekMood:
    """A course's mood in one ISO week: mean score (None without posts) and counts per label."""

    week_start: date
    posts: int
    mean: float | None
    negative: int
    neutral: int
    positive: int

    @property
    def iso_year(self) -> int:
        return self.week_start.isocalendar().year

    @property
    def iso_week(self) -> int:
        return self.week_start.isocalendar().week

    @property
    def negative_share(self) -> float:
        return self.negative / self.posts if self.posts else 0.0


def _weekly(
    session: Session, course_ids: Sequence[int], first: date, last: date
) -> dict[int, dict[date, WeekMood]]:
    """Every course's weeks with posts between two Mondays (both included): one grouped query."""
    if not course_ids:
        return {}
    rows = session.execute(
        select(
            PostSentiment.course_id,
            PostSentiment.week_start,
            func.count(),
            func.avg(PostSentiment.score),
            *(
                func.sum(case((PostSentiment.label == label.value, 1), else_=0))
                for label in (Label.NEGATIVE, Label.NEUTRAL, Label.POSITIVE)
            ),
        )
        .where(
            PostSentiment.course_id.in_(course_ids),
            PostSentiment.week_start >= first,
            PostSentiment.week_start <= last,
        )
        .group_by(PostSentiment.course_id, PostSentiment.week_start)
    ).all()
    result: dict[int, dict[date, WeekMood]] = defaultdict(dict)
    for course_id, monday, posts, mean, negative, neutral, positive in rows:
        result[course_id][monday] = WeekMood(
            monday, posts, float(mean), int(negative), int(neutral), int(positive)
        )
    return result


def weekly_mood(
    session: Session, actor: Actor, *, weeks: int = 8, today: date | None = None
) -> list[WeekMood]:
    """The actor's course, week by week, the oldest first, ending with the current week.

    Weeks without posts are listed too (``posts == 0``, ``mean is None``).
    """
    _require_staff(actor)
    last = week_start(today or utcnow())
    first = last - timedelta(weeks=max(weeks, 1) - 1)
    found = _weekly(session, [actor.course_id], first, last).get(actor.course_id, {})
    mondays = [first + timedelta(weeks=i) for i in range(max(weeks, 1))]
    return [found.get(m) or WeekMood(m, 0, None, 0, 0, 0) for m in mondays]


@dataclass(frozen=True)
class AlertRule:
    """When a course's mood "drops sharply" from one week to the next.

    All three must hold: both weeks have at least ``min_posts`` scored posts (a handful of posts
    is noise); the mean score fell by at least ``min_drop`` (the scale is -1..1); and at least
    ``min_negative_share`` of this week's posts are negative (a course going from enthusiastic to
    merely content is no crisis).
    """

    min_posts: int = 5
    min_drop: float = 0.3
    min_negative_share: float = 0.3


@dataclass(frozen=True)
class MoodAlert:
    course_id: int
    week: WeekMood
    previous: WeekMood

    @property
    def drop(self) -> float:
        return (self.previous.mean or 0.0) - (self.week.mean or 0.0)


def _alert(course_id: int, week: WeekMood, previous: WeekMood, rule: AlertRule) -> MoodAlert | None:
    if week.posts < rule.min_posts or previous.posts < rule.min_posts:
        return None
    assert week.mean is not None and previous.mean is not None
    # Rounded: means are averages of stored floats, and a rule's edge should not hinge on 1e-16.
    if round(previous.mean - week.mean, 6) < rule.min_drop:
        return None
    if week.negative_share < rule.min_negative_share:
        return None
    return MoodAlert(course_id, week, previous)


def mood_alerts(
    session: Session,
    course_ids: Iterable[int],
    *,
    today: date | None = None,
    rule: AlertRule | None = None,
) -> list[MoodAlert]:
    """Courses whose mood this week dropped sharply from last week (see ``AlertRule``).

    For staff views that have already decided which courses the viewer may see (one course for
    its staff, every course of an LMS for its community managers); one query for all of them.
    """
    rule = rule or AlertRule()
    ids = sorted(set(course_ids))
    this_week = week_start(today or utcnow())
    last_week = this_week - timedelta(weeks=1)
    weeks = _weekly(session, ids, last_week, this_week)
    alerts = []
    for course_id in ids:
        found = weeks.get(course_id, {})
        current = found.get(this_week) or WeekMood(this_week, 0, None, 0, 0, 0)
        previous = found.get(last_week) or WeekMood(last_week, 0, None, 0, 0, 0)
        alert = _alert(course_id, current, previous, rule)
        if alert is not None:
            alerts.append(alert)
    return alerts


def course_alert(
    session: Session, actor: Actor, *, today: date | None = None, rule: AlertRule | None = None
) -> MoodAlert | None:
    """The actor's course's mood alert this week, if its mood dropped sharply."""
    _require_staff(actor)
    alerts = mood_alerts(session, [actor.course_id], today=today, rule=rule)
    return alerts[0] if alerts else None


@dataclass(frozen=True)
class NegativePost:
    subject_type: str
    subject_id: int
    question_id: int | None
    score: float
    triggers: tuple[str, ...]
    excerpt: str
    posted_at: datetime
    author_id: int | None  # None when the post is anonymous and staff may not see who wrote it
    author_name: str | None


def most_negative_posts(
    session: Session,
    actor: Actor,
    *,
    days: int = 14,
    limit: int = 10,
    now: datetime | None = None,
) -> list[NegativePost]:
    """The course's most negative live posts of the last ``days``, the most negative first, each
    with the words that drove its score. Anonymous authors stay anonymous unless the course lets
    staff see them."""
    _require_staff(actor)
    since = (now or utcnow()) - timedelta(days=days)
    rows = session.scalars(
        select(PostSentiment)
        .where(
            PostSentiment.course_id == actor.course_id,
            PostSentiment.label == Label.NEGATIVE.value,
            PostSentiment.posted_at >= since,
        )
        .order_by(PostSentiment.score, PostSentiment.posted_at.desc(), PostSentiment.id)
        .limit(limit * 3)  # room for posts deleted since
    ).all()
    posts = _posts(session, actor.course_id, rows)
    settings = session.get(QASettings, actor.course_id)
    reveal = actor.sees_anonymous_authors(settings.staff_see_anonymous if settings else True)
    names = dict(
        session.execute(
            select(Member.id, Member).where(Member.id.in_({p.author_id for p in posts.values()}))
        ).all()
    )
    result: list[NegativePost] = []
    for row in rows:
        post = posts.get((row.subject_type, row.subject_id))
        if post is None or post.deleted_at is not None:
            continue
        hidden = post.anonymous and not reveal
        author = None if hidden else names.get(post.author_id)
        result.append(
            NegativePost(
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                question_id=row.question_id,
                score=row.score,
                triggers=tuple(row.triggers or ()),
                excerpt=plain_text(_text_of(post), 240),
                posted_at=row.posted_at,
                author_id=None if author is None else author.id,
                author_name=None if author is None else author.display_name,
            )
        )
        if len(result) == limit:
            break
    return result


def _posts(
    session: Session, course_id: int, rows: Sequence[PostSentiment]
) -> dict[tuple[str, int], Post]:
    """The Q&A posts behind some rows, by (subject type, id): one query per kind of post."""
    found: dict[tuple[str, int], Post] = {}
    for model, subject_type in SUBJECT_TYPES.items():
        ids = {r.subject_id for r in rows if r.subject_type == subject_type}
        if not ids:
            continue
        posts: Sequence[Post] = session.scalars(  # type: ignore[assignment]
            select(model).where(model.id.in_(ids), model.course_id == course_id)
        ).all()
        for post in posts:
            found[(subject_type, post.id)] = post
    return found


def negative_posts_by_member(
    session: Session, actor: Actor, *, days: int = 14, now: datetime | None = None
) -> dict[int, int]:
    """How many negative posts each member of the course wrote in the last ``days``: a signal
    for the staff's early-warning list, never a sanction."""
    _require_staff(actor)
    since = (now or utcnow()) - timedelta(days=days)
    rows = session.execute(
        select(PostSentiment.author_id, func.count())
        .where(
            PostSentiment.course_id == actor.course_id,
            PostSentiment.label == Label.NEGATIVE.value,
            PostSentiment.posted_at >= since,
        )
        .group_by(PostSentiment.author_id)
    ).all()
    return {member_id: int(count) for member_id, count in rows}
