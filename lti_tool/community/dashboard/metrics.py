"""Engagement figures of one course over a date range, and their week-by-week trend.

"Active" means launched Bottega or took part (asked, answered, voted, gave kudos...);
being on the receiving end of a vote or kudos is recognition, not activity.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Text, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import (
    ACTIVITY_KINDS,
    EventKind,
    ParticipationEvent,
    WeekFigures,
)
from lti_tool.community.groups.models import GroupPost
from lti_tool.community.qa.models import Question, QuestionState
from lti_tool.courses.models import Enrolment, EnrolmentStatus
from lti_tool.courses.roles import CourseRole, course_role
from lti_tool.courses.services import dialect_insert
from lti_tool.extensions import utcnow


@dataclass(frozen=True)
class Overview:
    start: date
    end: date  # inclusive
    learners: int
    active_7: int
    active_30: int
    new_members: int
    never_launched: int
    questions: int
    answered: int
    median_first_answer: timedelta | None
    median_first_staff_answer: timedelta | None
    kudos_given: int
    groups_active: int

    @property
    def answered_percent(self) -> int | None:
        return round(100 * self.answered / self.questions) if self.questions else None


@dataclass(frozen=True)
class Week:
    start: date  # a Monday
    active: int
    questions: int
    answers: int
    comments: int
    kudos: int


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The aware datetimes [start 00:00, day after end 00:00) in UTC."""
    low = datetime.combine(start, datetime.min.time()).replace(tzinfo=utcnow().tzinfo)
    return low, low + timedelta(days=(end - start).days + 1)


def learner_enrolments(session: Session, course_id: int) -> list[Enrolment]:
    """Active enrolments whose LMS roles make them learners (not staff, not managers)."""
    rows = session.scalars(
        select(Enrolment).where(
            Enrolment.course_id == course_id, Enrolment.status == EnrolmentStatus.ACTIVE
        )
    )
    return [
        e for e in rows if course_role(e.roles) == CourseRole.LEARNER and not e.community_manager
    ]


@functools.lru_cache(maxsize=1024)
def is_learner(roles_json: str | None) -> bool:
    """Whether an enrolment's roles, as the database stores them (JSON text), make a learner.
    A course holds a handful of distinct role lists: each is decoded once, not once per row."""
    roles = json.loads(roles_json) if roles_json else None
    return course_role(roles if isinstance(roles, list) else []) == CourseRole.LEARNER


def learner_counts(
    session: Session, counts: dict[str, Any], *where: Any, by: Any = None
) -> dict[Any, dict[str, int]]:
    """Per ``by`` (None: one group), the active learner enrolments (``learners``) and, for each
    SQL condition of ``counts``, how many of them meet it; counted by the database, grouped by
    the distinct role lists, so no enrolment row comes to Python."""
    roles = cast(Enrolment.roles, Text)
    key = (by if by is not None else literal(0)).label("key")
    names = list(counts)
    query = (
        select(
            key,
            roles,
            Enrolment.community_manager,
            func.count(),
            *(func.count(case((counts[name], 1))) for name in names),
        )
        .where(Enrolment.status == EnrolmentStatus.ACTIVE, *where)
        .group_by(key, roles, Enrolment.community_manager)
    )
    found: dict[Any, dict[str, int]] = {}
    for group, roles_json, manager, learners, *values in session.execute(query):
        if manager or not is_learner(roles_json):
            continue
        figures = found.setdefault(group, dict.fromkeys(["learners", *names], 0))
        figures["learners"] += int(learners)
        for name, value in zip(names, values, strict=True):
            figures[name] += int(value)
    return found


def _sqlite_microseconds(since: Any, until: Any) -> Any:
    """``until - since`` in whole microseconds, exactly, in SQLite, where timestamps are stored
    as 'YYYY-MM-DD HH:MM:SS.ffffff': the whole seconds apart (the fraction cut off first: SQLite
    would round it to milliseconds, and .9995 up to the next second), then the fractions."""

    def seconds(column: Any) -> Any:
        return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)

    def fraction(column: Any) -> Any:
        return cast(func.substr(column, 21, 6), Integer)

    return (seconds(until) - seconds(since)) * 1_000_000 + fraction(until) - fraction(since)


@dataclass(frozen=True)
class Answering:
    """Questions asked, how many are answered, and the median waits for a first answer."""

    questions: int = 0
    answered: int = 0
    median_first_answer: timedelta | None = None
    median_first_staff_answer: timedelta | None = None


def answering(
    session: Session, *where: Any, by: Any = None, staff: bool = True
) -> dict[Any, Answering]:
    """Per ``by`` (None: one group, key 0), the live questions meeting ``where``: counted, and
    the median of their waits (to the microsecond; the median of an even count is the mean of
    the middle two, rounded half to even), all in one scan by the database: one row per group
    comes back. ``staff=False`` skips the first staff answer."""
    waited = [Question.first_answer_at] + ([Question.first_staff_answer_at] if staff else [])
    answered = case((Question.state != QuestionState.UNANSWERED, 1))
    where = (Question.deleted_at.is_(None), *where)
    keys = [by] if by is not None else []
    if session.get_bind().dialect.name == "postgresql":
        # Ordered-set aggregates skip NULLs: each median is over its own answered questions.
        medians = [
            func.percentile_cont(0.5).within_group(until - Question.created_at) for until in waited
        ]
        counted = select(*keys, func.count(), func.count(answered), *medians)
        rows = session.execute(counted.where(*where).group_by(*keys))
        return {(row[0] if keys else 0): Answering(*row[len(keys) :]) for row in rows}
    # SQLite: number each wait within its group, in order, and keep the middle one or two.
    inner = select(
        (by if by is not None else literal(0)).label("key"),
        answered.label("answered"),
        *(_sqlite_microseconds(Question.created_at, until) for until in waited),
    )
    table = inner.where(*where).subquery()
    key, flag, *waits = table.c
    ranked = select(
        key,
        flag,
        *(
            column
            for wait in waits
            for column in (
                wait,
                func.row_number().over(partition_by=[key, wait.is_(None)], order_by=wait),
                func.count(wait).over(partition_by=key),
            )
        ),
    ).subquery()
    key, flag, *columns = ranked.c
    middles = []
    for wait, rank, count in zip(columns[::3], columns[1::3], columns[2::3], strict=True):
        middle = case((and_(rank * 2 >= count, rank * 2 <= count + 2), wait))
        middles += [func.min(middle), func.max(middle)]
    found = {}
    for group, asked, yes, *bounds_ in session.execute(
        select(key, func.count(), func.count(flag), *middles).group_by(key)
    ):
        medians_ = [
            None if low is None else _halfway(int(low), int(high))
            for low, high in zip(bounds_[::2], bounds_[1::2], strict=True)
        ]
        found[group] = Answering(asked, yes, *medians_)
    return found


def _halfway(low: int, high: int) -> timedelta:
    """The mean of two waits in microseconds, rounded half to even as PostgreSQL does."""
    return timedelta(microseconds=low) + timedelta(microseconds=high - low) / 2


def _active_members(
    session: Session, course_id: int, member_ids: set[int], since: datetime, until: datetime
) -> set[int]:
    """Members who took part (an event) or launched in [since, until), for a past ``until``."""
    took_part = session.scalars(
        select(ParticipationEvent.member_id)
        .where(
            ParticipationEvent.course_id == course_id,
            ParticipationEvent.created_at >= since,
            ParticipationEvent.created_at < until,
            ParticipationEvent.kind.in_(ACTIVITY_KINDS),
        )
        .distinct()
    )
    launched = session.scalars(
        select(Enrolment.member_id).where(
            Enrolment.course_id == course_id,
            Enrolment.last_launch_at >= since,
            Enrolment.last_launch_at < until,
        )
    )
    return (set(took_part) | set(launched)) & member_ids


def _active_since(since: datetime, until: datetime) -> Any:
    """Launched or took part in [since, until): the enrolment's own dates say it."""
    return or_(
        and_(Enrolment.last_active_at >= since, Enrolment.last_active_at < until),
        and_(Enrolment.last_launch_at >= since, Enrolment.last_launch_at < until),
    )


def overview(
    session: Session, course_id: int, start: date, end: date, now: datetime | None = None
) -> Overview:
    """The course's figures for questions and events in [start, end]; active counts end at now."""
    now = now or utcnow()
    low, high = bounds(start, end)
    week_ago, month_ago = now - timedelta(7), now - timedelta(30)
    live = now >= utcnow() - timedelta(minutes=1)
    conditions = {
        "new": and_(Enrolment.created_at >= low, Enrolment.created_at < high),
        "never_launched": Enrolment.first_launch_at.is_(None),
    }
    if live:
        # Up to now: the enrolments' own last activity and launch say it, no event to scan.
        conditions |= {"active_7": _active_since(week_ago, now)}
        conditions |= {"active_30": _active_since(month_ago, now)}
    members = learner_counts(session, conditions, Enrolment.course_id == course_id).get(0, {})
    if live:
        active_7, active_30 = members.get("active_7", 0), members.get("active_30", 0)
    else:  # a report for a past moment (a digest): from the events
        learner_ids = {e.member_id for e in learner_enrolments(session, course_id)}
        active_7, active_30 = (
            len(_active_members(session, course_id, learner_ids, since, now))
            for since in (week_ago, month_ago)
        )
    questions = answering(
        session,
        Question.course_id == course_id,
        Question.created_at >= low,
        Question.created_at < high,
    ).get(0, Answering())
    kudos = session.scalar(
        select(func.count())
        .select_from(ParticipationEvent)
        .where(
            ParticipationEvent.course_id == course_id,
            ParticipationEvent.kind == EventKind.KUDOS_GIVEN.value,
            ParticipationEvent.created_at >= low,
            ParticipationEvent.created_at < high,
        )
    )
    groups = session.scalar(
        select(func.count(func.distinct(GroupPost.group_id))).where(
            GroupPost.course_id == course_id,
            GroupPost.created_at >= low,
            GroupPost.created_at < high,
        )
    )
    return Overview(
        start=start,
        end=end,
        learners=members.get("learners", 0),
        active_7=active_7,
        active_30=active_30,
        new_members=members.get("new", 0),
        never_launched=members.get("never_launched", 0),
        questions=questions.questions,
        answered=questions.answered,
        median_first_answer=questions.median_first_answer,
        median_first_staff_answer=questions.median_first_staff_answer,
        kudos_given=int(kudos or 0),
        groups_active=int(groups or 0),
    )


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_index(session: Session, column: Any, low: datetime) -> Any:
    """The 0-based week of ``column`` counted from ``low``, computed by the database."""
    if session.get_bind().dialect.name == "sqlite":
        since = low.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return cast((func.julianday(column) - func.julianday(since)) / 7, Integer)
    return cast(func.floor(func.extract("epoch", column - low) / 604800), Integer)


def _grouped(
    session: Session, course_id: int, low: datetime, high: datetime
) -> tuple[dict[int, dict[str, int]], dict[int, int]]:
    """Events of [low, high) counted per week (0 = the week starting at ``low``) and kind, and
    the distinct members who took part per week: grouped by the database."""
    week = _week_index(session, ParticipationEvent.created_at, low).label("week")
    in_range = (
        ParticipationEvent.course_id == course_id,
        # Every kind named: the (course, kind, time) index then reads only the range's events.
        ParticipationEvent.kind.in_([kind.value for kind in EventKind]),
        ParticipationEvent.created_at >= low,
        ParticipationEvent.created_at < high,
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for index, kind, n in session.execute(
        select(week, ParticipationEvent.kind, func.count())
        .where(*in_range)
        .group_by(week, ParticipationEvent.kind)
    ):
        counts[int(index)][kind] = int(n)
    # Active students: learners who took part, as the overview counts them (not staff, not
    # community managers). A member has one enrolment per course, so the distinct members of
    # each role list add up.
    roles = cast(Enrolment.roles, Text)
    active: dict[int, int] = defaultdict(int)
    for index, roles_json, manager, n in session.execute(
        select(
            week, roles, Enrolment.community_manager, func.count(func.distinct(Enrolment.member_id))
        )
        .join(
            Enrolment,
            and_(
                Enrolment.course_id == ParticipationEvent.course_id,
                Enrolment.member_id == ParticipationEvent.member_id,
            ),
        )
        .where(*in_range, ParticipationEvent.kind.in_(ACTIVITY_KINDS))
        .group_by(week, roles, Enrolment.community_manager)
    ):
        if not manager and is_learner(roles_json):
            active[int(index)] += int(n)
    return counts, dict(active)


# "_learners" replaced "_active" (which counted staff too): a stored week without it is
# computed again.
ACTIVE, DONE = "_learners", "_done"


def _past_weeks(
    session: Session, course_id: int, mondays: list[date]
) -> dict[date, dict[str, int]]:
    """Figures of finished weeks: read from engagement_week, the missing ones computed once and
    stored (a GET that fills a cache; the commit writes nothing else)."""
    if not mondays:
        return {}
    figures: dict[date, dict[str, int]] = defaultdict(dict)
    for week_start, kind, n in session.execute(
        select(WeekFigures.week_start, WeekFigures.kind, WeekFigures.count).where(
            WeekFigures.course_id == course_id, WeekFigures.week_start.in_(mondays)
        )
    ):
        figures[week_start][kind] = int(n)
    missing = [m for m in mondays if not {DONE, ACTIVE} <= figures.get(m, {}).keys()]
    if missing:
        first, last = min(missing), max(missing)
        counts, active = _grouped(session, course_id, *bounds(first, last + timedelta(days=6)))
        rows = []
        for monday_ in missing:
            index = (monday_ - first).days // 7
            week = {**counts.get(index, {}), ACTIVE: active.get(index, 0), DONE: 0}
            figures[monday_] = week
            rows += [
                {"course_id": course_id, "week_start": monday_, "kind": k, "count": n}
                for k, n in week.items()
            ]
        insert = dialect_insert(session, WeekFigures).values(rows).on_conflict_do_nothing()
        session.execute(insert)
        session.commit()
    return figures


def weekly(session: Session, course_id: int, start: date, end: date) -> list[Week]:
    """One row per ISO week touching [start, end], oldest first, empty weeks included.

    Finished weeks come from engagement_week (computed once); the current week is counted live.
    """
    mondays = []
    week = monday(start)
    while week <= end:
        mondays.append(week)
        week += timedelta(weeks=1)
    this_monday = monday(utcnow().date())
    figures = _past_weeks(session, course_id, [m for m in mondays if m < this_monday])
    current = [m for m in mondays if m >= this_monday]
    if current:
        counts, active = _grouped(
            session, course_id, *bounds(current[0], current[-1] + timedelta(days=6))
        )
        for index, monday_ in enumerate(current):
            figures[monday_] = {**counts.get(index, {}), ACTIVE: active.get(index, 0)}
    return [
        Week(
            start=m,
            active=figures[m].get(ACTIVE, 0),
            questions=figures[m].get(EventKind.ASK.value, 0),
            answers=figures[m].get(EventKind.ANSWER.value, 0),
            comments=figures[m].get(EventKind.COMMENT.value, 0),
            kudos=figures[m].get(EventKind.KUDOS_GIVEN.value, 0),
        )
        for m in mondays
    ]
