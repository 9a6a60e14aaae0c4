"""Pulse use cases: staff open and close a course's pulse, students answer it, staff read the
figures without names.

Plain functions: a session and typed arguments in, one commit per use case. Every pulse id is
looked up inside the actor's course, so another course's id is a ``NotFound``. Answers are
anonymous to staff: nothing here returns who answered what, and figures below ``MIN_SHOWN``
answers are withheld (with two answers and a known score, the other is easy to guess).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from lti_tool.community.dashboard.metrics import learner_counts
from lti_tool.community.pulse.models import (
    COMMENT_MAX,
    DAYS_MAX,
    DAYS_MIN,
    DEFAULT_DAYS,
    QUESTION_MAX,
    QUESTION_MIN,
    SCALE,
    PulseAnswer,
    PulseSurvey,
)
from lti_tool.courses.models import Course, Enrolment
from lti_tool.courses.services import dialect_insert
from lti_tool.extensions import utcnow
from lti_tool.jobs import begin_write

MIN_SHOWN = 3  # answers before any figure or comment is shown to staff
HISTORY = 20  # past pulses listed

DEFAULT_QUESTION = _l("How is the course going for you?")


# --- errors and who acts -----------------------------------------------------------------------


class PulseError(Exception):
    """A pulse use case that cannot be carried out; ``message`` is shown to the member."""

    default_message: Any = _l("This action cannot be completed.")

    def __init__(self, message: Any = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(str(self.message))


class NotFound(PulseError):
    default_message = _l("There is no such pulse in this course.")


class PermissionDenied(PulseError):
    default_message = _l("You are not allowed to do this.")


class Conflict(PulseError):
    """The pulse is not in the state the action needs (one already open, or closed)."""


class InvalidInput(PulseError):
    """What was sent is not valid; ``errors`` maps form fields to messages."""

    default_message = _l("Please correct the highlighted fields.")

    def __init__(self, errors: dict[str, Any], message: Any = None) -> None:
        self.errors = errors
        super().__init__(message)


@dataclass(frozen=True)
class Actor:
    """The member acting in a course. ``can_manage``: staff or community manager (they open
    pulses and read results); ``learner``: a student of the course (they answer)."""

    member_id: int
    course_id: int
    can_manage: bool = False
    learner: bool = False


def question_text(pulse: PulseSurvey) -> str:
    """The pulse's question: staff's own words, or the default in the reader's language."""
    return pulse.question or str(DEFAULT_QUESTION)


def is_open(pulse: PulseSurvey, now: datetime | None = None) -> bool:
    return pulse.closed_at is None and pulse.closes_at > (now or utcnow())


# --- staff: open and close ---------------------------------------------------------------------


def _lock_course(session: Session, course_id: int) -> None:
    """Serialise opening pulses in one course: two staff opening at once must not both find
    none open. SQLite: take the write lock; PostgreSQL: lock the course row."""
    begin_write(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Course.id).where(Course.id == course_id).with_for_update())


def _days(raw: str | int | None) -> int | None:
    try:
        days = int(raw) if raw is not None and str(raw).strip() else None
    except (TypeError, ValueError):
        return None
    return days if days is not None and DAYS_MIN <= days <= DAYS_MAX else None


def open_pulse(
    session: Session,
    actor: Actor,
    *,
    question: str = "",
    days: str | int | None = DEFAULT_DAYS,
    allow_comments: bool = True,
) -> PulseSurvey:
    """Open a pulse in the actor's course (staff); an empty question asks the default one."""
    if not actor.can_manage:
        raise PermissionDenied()
    text = " ".join((question or "").replace("\x00", "").split())
    errors: dict[str, Any] = {}
    if text and not QUESTION_MIN <= len(text) <= QUESTION_MAX:
        errors["question"] = _l(
            "Write a question of %(min)d to %(max)d characters, or leave it empty.",
            min=QUESTION_MIN,
            max=QUESTION_MAX,
        )
    length = _days(days)
    if length is None:
        errors["days"] = _l(
            "Choose a number of days from %(min)d to %(max)d.", min=DAYS_MIN, max=DAYS_MAX
        )
    if errors or length is None:
        raise InvalidInput(errors)
    _lock_course(session, actor.course_id)
    now = utcnow()
    if current_pulse(session, actor.course_id, now) is not None:
        raise Conflict(
            _l("A pulse is already open in this course. Close it before opening another.")
        )
    pulse = PulseSurvey(
        course_id=actor.course_id,
        question=text,
        allow_comments=allow_comments,
        opened_by=actor.member_id,
        opened_at=now,
        closes_at=now + timedelta(days=length),
    )
    session.add(pulse)
    session.commit()
    return pulse


def close_pulse(session: Session, actor: Actor, pulse_id: int) -> PulseSurvey:
    """Close a pulse before its end (staff); closing a closed pulse changes nothing."""
    if not actor.can_manage:
        raise PermissionDenied()
    pulse = find_pulse(session, actor.course_id, pulse_id)
    now = utcnow()
    if is_open(pulse, now):
        pulse.closed_at = now
    session.commit()
    return pulse


# --- reading -----------------------------------------------------------------------------------


def current_pulse(
    session: Session, course_id: int, now: datetime | None = None
) -> PulseSurvey | None:
    """The course's open pulse, if any."""
    return session.scalar(
        select(PulseSurvey)
        .where(
            PulseSurvey.course_id == course_id,
            PulseSurvey.closed_at.is_(None),
            PulseSurvey.closes_at > (now or utcnow()),
        )
        .order_by(PulseSurvey.opened_at.desc(), PulseSurvey.id.desc())
        .limit(1)
    )


def find_pulse(session: Session, course_id: int, pulse_id: int) -> PulseSurvey:
    """A pulse of the course; another course's pulse is a ``NotFound``."""
    pulse = session.scalar(
        select(PulseSurvey).where(PulseSurvey.id == pulse_id, PulseSurvey.course_id == course_id)
    )
    if pulse is None:
        raise NotFound()
    return pulse


def my_answer(session: Session, pulse_id: int, member_id: int) -> PulseAnswer | None:
    """The member's own answer to a pulse (only ever shown to them)."""
    return session.scalar(
        select(PulseAnswer).where(
            PulseAnswer.pulse_id == pulse_id, PulseAnswer.member_id == member_id
        )
    )


@dataclass(frozen=True)
class Prompt:
    """What a student sees of the open pulse: it, and their answer so far."""

    pulse: PulseSurvey
    answer: PulseAnswer | None


def prompt_for(session: Session, actor: Actor) -> Prompt | None:
    """The open pulse a student may answer, with their answer; None for staff or none open."""
    if not actor.learner or actor.can_manage:
        return None
    pulse = current_pulse(session, actor.course_id)
    if pulse is None:
        return None
    return Prompt(pulse, my_answer(session, pulse.id, actor.member_id))


# --- students: answer --------------------------------------------------------------------------


def answer(
    session: Session, actor: Actor, pulse_id: int, *, score: str | int | None, comment: str = ""
) -> PulseAnswer:
    """Answer the open pulse, or change one's answer while it is open (students only)."""
    if not actor.learner or actor.can_manage:
        raise PermissionDenied(_l("Only the course's students answer its pulse."))
    pulse = find_pulse(session, actor.course_id, pulse_id)
    if not is_open(pulse):
        raise Conflict(_l("This pulse is closed: answers are no longer taken."))
    errors: dict[str, Any] = {}
    try:
        value = int(score) if score is not None else None
    except (TypeError, ValueError):
        value = None
    if value not in SCALE:
        errors["score"] = _l("Choose a point on the scale from 1 to 5.")
    text = (comment or "").replace("\x00", "").replace("\r\n", "\n").strip()
    if not pulse.allow_comments:
        text = ""
    if len(text) > COMMENT_MAX:
        errors["comment"] = _l(
            "Keep the comment under %(max)d characters (it has %(n)d).",
            max=COMMENT_MAX,
            n=len(text),
        )
    if errors:
        raise InvalidInput(errors)
    now = utcnow()
    insert = dialect_insert(session, PulseAnswer).values(
        pulse_id=pulse.id,
        course_id=pulse.course_id,
        member_id=actor.member_id,
        score=value,
        comment=text,
        answered_at=now,
        updated_at=now,
    )
    # A second tab answering at once changes the same row instead of failing.
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["pulse_id", "member_id"],
            set_={"score": value, "comment": text, "updated_at": now},
        )
    )
    session.commit()
    found = my_answer(session, pulse.id, actor.member_id)
    assert found is not None
    return found


# --- staff: results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    """A pulse's figures for staff, without names. ``shown`` is False below MIN_SHOWN answers:
    then ``distribution``, ``mean`` and ``comments`` are empty."""

    pulse: PulseSurvey
    answers: int
    learners: int
    learners_answered: int
    shown: bool
    distribution: dict[int, int]
    mean: float | None
    comments: list[str]

    @property
    def rate_percent(self) -> int | None:
        """Active learners of the course who answered, in percent (None: no learners)."""
        if not self.learners:
            return None
        return round(100 * self.learners_answered / self.learners)


def results(session: Session, course_id: int, pulse_id: int) -> Results:
    """A pulse's response count and rate, and (from MIN_SHOWN answers) its distribution, mean
    and comments. Comments come sorted by their text, not in the order they were written, so
    their order says nothing about who wrote them."""
    pulse = find_pulse(session, course_id, pulse_id)
    rows = session.execute(
        select(PulseAnswer.score, PulseAnswer.comment).where(PulseAnswer.pulse_id == pulse.id)
    ).all()
    answered = exists().where(
        and_(PulseAnswer.pulse_id == pulse.id, PulseAnswer.member_id == Enrolment.member_id)
    )
    counts = learner_counts(session, {"answered": answered}, Enrolment.course_id == course_id).get(
        0, {}
    )
    shown = len(rows) >= MIN_SHOWN
    scores = Counter(score for score, _comment in rows)
    return Results(
        pulse=pulse,
        answers=len(rows),
        learners=counts.get("learners", 0),
        learners_answered=counts.get("answered", 0),
        shown=shown,
        distribution={n: scores.get(n, 0) for n in SCALE} if shown else {},
        mean=sum(score for score, _comment in rows) / len(rows) if shown else None,
        comments=sorted((c for _score, c in rows if c), key=str.casefold) if shown else [],
    )


@dataclass(frozen=True)
class PastPulse:
    """One pulse of the course's list: its answers, and its mean from MIN_SHOWN answers."""

    pulse: PulseSurvey
    answers: int
    mean: float | None


def history(session: Session, course_id: int, limit: int = HISTORY) -> list[PastPulse]:
    """The course's pulses, newest first, with their answer counts and means (the trend)."""
    count = func.count(PulseAnswer.id)
    rows = session.execute(
        select(PulseSurvey, count, func.avg(PulseAnswer.score))
        .outerjoin(PulseAnswer, PulseAnswer.pulse_id == PulseSurvey.id)
        .where(PulseSurvey.course_id == course_id)
        .group_by(PulseSurvey.id)
        .order_by(PulseSurvey.opened_at.desc(), PulseSurvey.id.desc())
        .limit(limit)
    ).all()
    return [
        PastPulse(pulse, int(n), float(mean) if mean is not None and n >= MIN_SHOWN else None)
        for pulse, n, mean in rows
    ]
