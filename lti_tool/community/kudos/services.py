"""Kudos use cases: give kudos, read the wall, staff settings and categories.

Plain functions: a session and typed arguments in, one commit per use case. Every id that comes
from a form (receiver, category, post) is looked up inside the actor's course, so an id from
another course or LMS is a ``NotFound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, and_, bindparam, exists, func, select, tuple_
from sqlalchemy.orm import Session, aliased

from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import record
from lti_tool.community.kudos.models import (
    CATEGORY_MAX,
    DEFAULT_DAILY_LIMIT,
    MESSAGE_MAX,
    Kudos,
    KudosCategory,
    KudosSettings,
)
from lti_tool.community.moderation.models import HiddenPost
from lti_tool.community.notifications.services import notify
from lti_tool.community.qa import services as qa_services
from lti_tool.community.qa.models import Question
from lti_tool.community.qa.permissions import Actor as QAActor
from lti_tool.community.qa.permissions import QAError
from lti_tool.courses.models import Enrolment, EnrolmentStatus, Member
from lti_tool.courses.models import display_name as member_display_name
from lti_tool.courses.services import dialect_insert
from lti_tool.extensions import UTCDateTime, utcnow
from lti_tool.jobs import begin_write

PER_PAGE = 20
DAILY_LIMIT_MAX = 50

# The categories every course starts with; their labels are translated until staff rename them.
DEFAULT_CATEGORIES = ("helpful_answer", "great_question", "team_player", "leadership", "creativity")
DEFAULT_LABELS: dict[str, Any] = {
    "helpful_answer": _l("Helpful answer"),
    "great_question": _l("Great question"),
    "team_player": _l("Team player"),
    "leadership": _l("Leadership"),
    "creativity": _l("Creativity"),
}


# --- errors and who acts -----------------------------------------------------------------------


class KudosError(Exception):
    """A kudos use case that cannot be carried out; ``message`` is shown to the member."""

    default_message: Any = _l("This action cannot be completed.")

    def __init__(self, message: Any = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(str(self.message))


class NotFound(KudosError):
    """No such member, category or post in the actor's course (other courses' ids too)."""

    default_message = _l("There is no such member, category or post in this course.")


class PermissionDenied(KudosError):
    default_message = _l("You are not allowed to do this.")


class InvalidInput(KudosError):
    """What was sent is not valid; ``errors`` maps form fields to messages."""

    default_message = _l("Please correct the highlighted fields.")

    def __init__(self, errors: dict[str, Any], message: Any = None) -> None:
        self.errors = errors
        super().__init__(message)


class LimitReached(KudosError):
    """The member gave today's kudos already."""


@dataclass(frozen=True)
class Actor:
    """The member acting in a course; ``can_manage``: staff or community manager."""

    member_id: int
    course_id: int
    can_manage: bool = False


@dataclass(frozen=True)
class KudosInput:
    """What the give-kudos form sends."""

    receiver_id: int | None = None
    category_id: int | None = None
    message: str = ""
    question_id: int | None = None
    answer_id: int | None = None


def _clean(text: str) -> str:
    return " ".join((text or "").replace("\x00", "").split())


# --- settings and categories -------------------------------------------------------------------


def get_settings(session: Session, course_id: int) -> KudosSettings:
    """The course's kudos settings; defaults (not stored) when none were saved."""
    settings = session.get(KudosSettings, course_id)
    if settings is None:
        settings = KudosSettings(course_id=course_id, daily_limit=DEFAULT_DAILY_LIMIT)
    return settings


def update_settings(session: Session, actor: Actor, *, daily_limit: str | int) -> KudosSettings:
    """Staff set how many kudos a member may give per day (1 to DAILY_LIMIT_MAX)."""
    if not actor.can_manage:
        raise PermissionDenied()
    try:
        limit = int(daily_limit)
    except (TypeError, ValueError):
        limit = 0
    if not 1 <= limit <= DAILY_LIMIT_MAX:
        raise InvalidInput(
            {"daily_limit": _l("Choose a number from 1 to %(n)d.", n=DAILY_LIMIT_MAX)}
        )
    settings = session.get(KudosSettings, actor.course_id)
    if settings is None:
        settings = KudosSettings(course_id=actor.course_id)
        session.add(settings)
    settings.daily_limit = limit
    settings.updated_at = utcnow()
    session.commit()
    return settings


def category_label(code: str | None, name: str) -> str:
    """What a category is called: its own name, or the translated default."""
    if name:
        return name
    return _default_label(code or "", str(get_locale() or "en"))


@lru_cache(maxsize=64)
def _default_label(code: str, locale: str) -> str:
    # ``locale`` is the current one: it only keys the cache.
    return str(DEFAULT_LABELS.get(code, code))


def categories(
    session: Session, course_id: int, *, include_retired: bool = False
) -> list[KudosCategory]:
    """The course's categories in order; the defaults are created on first use."""
    stmt = select(KudosCategory).where(KudosCategory.course_id == course_id)
    rows = list(session.scalars(stmt.order_by(KudosCategory.position, KudosCategory.id)))
    if not rows:
        now = utcnow()
        insert = dialect_insert(session, KudosCategory).values(
            [
                {
                    "course_id": course_id,
                    "code": code,
                    "name": "",
                    "position": n,
                    "retired": False,
                    "created_at": now,
                }
                for n, code in enumerate(DEFAULT_CATEGORIES)
            ]
        )
        # Two first visitors at once: the unique (course, code) keeps one set.
        session.execute(insert.on_conflict_do_nothing(index_elements=["course_id", "code"]))
        session.commit()
        rows = list(session.scalars(stmt.order_by(KudosCategory.position, KudosCategory.id)))
    return rows if include_retired else [c for c in rows if not c.retired]


def save_category(
    session: Session, actor: Actor, name: str, category_id: int | None = None
) -> KudosCategory:
    """Add a category, or rename one (staff); names are unique in a course, any case."""
    if not actor.can_manage:
        raise PermissionDenied()
    name = _clean(name)
    if not name:
        raise InvalidInput({"name": _l("Give the category a name.")})
    if len(name) > CATEGORY_MAX:
        raise InvalidInput({"name": _l("Use at most %(n)d characters.", n=CATEGORY_MAX)})
    existing = categories(session, actor.course_id, include_retired=True)
    for other in existing:
        if other.id != category_id and category_label(other.code, other.name).casefold() == (
            name.casefold()
        ):
            raise InvalidInput({"name": _l("This course already has a category with that name.")})
    if category_id is None:
        category = KudosCategory(
            course_id=actor.course_id,
            name=name,
            position=max((c.position for c in existing), default=0) + 1,
        )
        session.add(category)
    else:
        category = _category(session, actor.course_id, category_id)
        category.name = name
    session.commit()
    return category


def set_category_retired(
    session: Session, actor: Actor, category_id: int, retired: bool
) -> KudosCategory:
    """Retire a category (no longer offered; past kudos keep it) or bring it back (staff)."""
    if not actor.can_manage:
        raise PermissionDenied()
    category = _category(session, actor.course_id, category_id)
    if retired and not any(
        c.id != category.id for c in categories(session, actor.course_id, include_retired=False)
    ):
        raise InvalidInput({"name": _l("Keep at least one category.")})
    category.retired = retired
    session.commit()
    return category


def _category(session: Session, course_id: int, category_id: int) -> KudosCategory:
    category = session.scalar(
        select(KudosCategory).where(
            KudosCategory.id == category_id, KudosCategory.course_id == course_id
        )
    )
    if category is None:
        raise NotFound()
    return category


# --- giving ------------------------------------------------------------------------------------


def day_start(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: the daily limit counts from here."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def given_today(session: Session, course_id: int, member_id: int) -> int:
    """Kudos the member gave in the course since midnight UTC."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Kudos)
            .where(
                Kudos.course_id == course_id,
                Kudos.giver_id == member_id,
                Kudos.created_at >= day_start(utcnow()),
            )
        )
        or 0
    )


def _lock_giver(session: Session, actor: Actor) -> None:
    """Serialise one member's kudos (the daily count, then the insert): two tabs sending at
    once must not both pass the limit. SQLite: take the write lock; PostgreSQL: lock the
    giver's enrolment row."""
    begin_write(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(Enrolment.id)
            .where(Enrolment.course_id == actor.course_id, Enrolment.member_id == actor.member_id)
            .with_for_update()
        )


def _active_member(session: Session, course_id: int, member_id: int | None) -> Member:
    member = (
        session.scalar(
            select(Member)
            .join(Enrolment, Enrolment.member_id == Member.id)
            .where(
                Member.id == member_id,
                Enrolment.course_id == course_id,
                Enrolment.status == EnrolmentStatus.ACTIVE,
            )
        )
        if member_id is not None
        else None
    )
    if member is None:
        raise NotFound(_l("There is no such member in this course."))
    return member


def _post(session: Session, actor: Actor, data: KudosInput) -> tuple[str, int, int] | None:
    """The Q&A post a kudos is for: (subject type, id, question id), checked in the course."""
    qa_actor = QAActor(member_id=actor.member_id, course_id=actor.course_id)
    try:
        if data.answer_id is not None:
            answer, question = qa_services.find_answer(session, qa_actor, data.answer_id)
            found: tuple[str, int, int, bool] = (
                "qa_answer",
                answer.id,
                question.id,
                answer.anonymous,
            )
        elif data.question_id is not None:
            question = qa_services.find_question(session, qa_actor, data.question_id)
            found = ("qa_question", question.id, question.id, question.anonymous)
        else:
            return None
    except QAError as exc:
        raise NotFound(_l("There is no such question or answer in this course.")) from exc
    if found[3]:
        # The wall would tie the receiver's name to a post its author chose to keep anonymous.
        raise InvalidInput({"post": _l("Kudos cannot point to an anonymous post.")})
    return found[0], found[1], found[2]


def give(session: Session, actor: Actor, data: KudosInput) -> Kudos:
    """Give kudos to another member of the course; notifies them and records participation."""
    _lock_giver(session, actor)
    if data.receiver_id is None:
        raise InvalidInput({"receiver": _l("Choose who the kudos is for.")})
    if data.receiver_id == actor.member_id:
        raise InvalidInput({"receiver": _l("You cannot give kudos to yourself.")})
    receiver = _active_member(session, actor.course_id, data.receiver_id)
    errors: dict[str, Any] = {}
    category: KudosCategory | None = None
    if data.category_id is None:
        errors["category"] = _l("Choose a category.")
    else:
        category = _category(session, actor.course_id, data.category_id)
        if category.retired:
            errors["category"] = _l("This category is no longer offered. Choose another.")
    message = _clean(data.message)
    if not message:
        errors["message"] = _l("Write a short message.")
    elif len(message) > MESSAGE_MAX:
        errors["message"] = _l("Use at most %(n)d characters.", n=MESSAGE_MAX)
    post = _post(session, actor, data)
    if errors:
        raise InvalidInput(errors)
    assert category is not None
    limit = get_settings(session, actor.course_id).daily_limit
    if given_today(session, actor.course_id, actor.member_id) >= limit:
        raise LimitReached(
            _l(
                "You have given your %(n)d kudos for today. You can give more tomorrow: "
                "your message is kept below.",
                n=limit,
            )
        )
    now = utcnow()
    kudos = Kudos(
        course_id=actor.course_id,
        giver_id=actor.member_id,
        receiver_id=receiver.id,
        category_id=category.id,
        message=message,
        subject_type=post[0] if post else None,
        subject_id=post[1] if post else None,
        question_id=post[2] if post else None,
        created_at=now,
    )
    session.add(kudos)
    session.flush()
    record(
        session,
        course_id=actor.course_id,
        member_id=actor.member_id,
        kind=EventKind.KUDOS_GIVEN,
        subject_type="kudos_award",
        subject_id=kudos.id,
        actor_id=receiver.id,
        at=now,
    )
    record(
        session,
        course_id=actor.course_id,
        member_id=receiver.id,
        kind=EventKind.KUDOS_RECEIVED,
        subject_type="kudos_award",
        subject_id=kudos.id,
        actor_id=actor.member_id,
        at=now,
    )
    notify(
        session,
        course_id=actor.course_id,
        recipients=[receiver.id],
        kind="kudos",
        subject_type="kudos_award",
        subject_id=kudos.id,
        actor_id=actor.member_id,
        excerpt=message,
    )
    session.commit()
    return kudos


def recipients(session: Session, course_id: int, exclude: int) -> list[tuple[int, str]]:
    """Active members one may give kudos to: (member id, name), by name."""
    rows = session.execute(
        select(Member.id, Member.name, Member.given_name, Member.family_name)
        .join(Enrolment, Enrolment.member_id == Member.id)
        .where(
            Enrolment.course_id == course_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Member.id != exclude,
        )
    ).all()
    people = [(r.id, display_name(r.id, r.name, r.given_name, r.family_name)) for r in rows]
    return sorted(people, key=lambda p: p[1].casefold())


def display_name(member_id: int, name: str | None, given: str | None, family: str | None) -> str:
    """``Member.display_name`` from selected columns (the wall loads no Member objects)."""
    return member_display_name(member_id, name, given, family)


# --- the wall ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WallItem:
    id: int
    giver_id: int
    giver: str
    giver_mentor: bool
    receiver_id: int
    receiver: str
    receiver_mentor: bool
    category_id: int
    category: str
    message: str
    question_id: int | None  # the Q&A thread it is for, when still there
    question_title: str | None
    subject_type: str | None
    subject_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class WallPage:
    items: list[WallItem]
    next_cursor: str | None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode_cursor(moment: datetime, kudos_id: int) -> str:
    """The position after a wall item, for the next page's URL (exact to the microsecond)."""
    return f"{(moment - EPOCH) // MICROSECOND}-{kudos_id}"


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """A page position from a URL; None for the first page or anything malformed."""
    if not cursor:
        return None
    micros, _, kudos_id = cursor.partition("-")
    if not (micros.isdigit() and kudos_id.isdigit()) or max(len(micros), len(kudos_id)) > 18:
        return None
    try:
        moment = EPOCH + int(micros) * MICROSECOND
    except OverflowError:  # past the year 9999
        return None
    return moment, int(kudos_id)


_giver = aliased(Member, name="giver")
_receiver = aliased(Member, name="receiver")
_giver_enrolment = aliased(Enrolment, name="giver_enrolment")
_receiver_enrolment = aliased(Enrolment, name="receiver_enrolment")


@lru_cache(maxsize=32)
def _wall_statement(by_category: bool, member: str | None, after: bool, limit: int) -> Any:
    """The wall's SELECT for one combination of filters, built once: parameters change per
    page, the statement (and its cache key) does not."""
    stmt = (
        select(
            Kudos.id,
            Kudos.giver_id,
            Kudos.receiver_id,
            Kudos.category_id,
            Kudos.message,
            Kudos.subject_type,
            Kudos.subject_id,
            Kudos.created_at,
            _giver.name.label("g_name"),
            _giver.given_name.label("g_given"),
            _giver.family_name.label("g_family"),
            _receiver.name.label("r_name"),
            _receiver.given_name.label("r_given"),
            _receiver.family_name.label("r_family"),
            _giver_enrolment.peer_mentor.label("g_mentor"),
            _receiver_enrolment.peer_mentor.label("r_mentor"),
            KudosCategory.code,
            KudosCategory.name.label("category_name"),
            Question.id.label("question_id"),
            Question.title.label("question_title"),
        )
        .join(_giver, _giver.id == Kudos.giver_id)
        .join(_receiver, _receiver.id == Kudos.receiver_id)
        .join(KudosCategory, KudosCategory.id == Kudos.category_id)
        .outerjoin(
            _giver_enrolment,
            and_(
                _giver_enrolment.course_id == Kudos.course_id,
                _giver_enrolment.member_id == Kudos.giver_id,
            ),
        )
        .outerjoin(
            _receiver_enrolment,
            and_(
                _receiver_enrolment.course_id == Kudos.course_id,
                _receiver_enrolment.member_id == Kudos.receiver_id,
            ),
        )
        .outerjoin(
            Question,
            and_(
                Question.id == Kudos.question_id,
                Question.course_id == Kudos.course_id,
                Question.deleted_at.is_(None),
                # A question moderators hid is named nowhere, the wall included.
                ~exists().where(
                    HiddenPost.subject_type == qa_services.SUBJECT_TYPES["question"],
                    HiddenPost.subject_id == Kudos.question_id,
                ),
            ),
        )
        .where(Kudos.course_id == bindparam("course_id"))
    )
    if by_category:
        stmt = stmt.where(Kudos.category_id == bindparam("category_id"))
    if member is not None:
        column = Kudos.receiver_id if member == "receiver" else Kudos.giver_id
        stmt = stmt.where(column == bindparam("member_id"))
    if after:
        # A row-value comparison, so that the index (course, [category,] created_at, id) is
        # entered at the cursor instead of filtering every newer row.
        stmt = stmt.where(
            tuple_(Kudos.created_at, Kudos.id)
            < tuple_(
                bindparam("after_at", type_=UTCDateTime()), bindparam("after_id", type_=Integer())
            )
        )
    return stmt.order_by(Kudos.created_at.desc(), Kudos.id.desc()).limit(limit)


def wall(
    session: Session,
    course_id: int,
    *,
    category_id: int | None = None,
    member_id: int | None = None,
    received: bool = True,
    cursor: str | None = None,
    per_page: int = PER_PAGE,
) -> WallPage:
    """Recent kudos of a course, newest first, one keyset page in one query whatever the
    course's size. ``member_id`` narrows it to what one member received (or gave)."""
    params: dict[str, Any] = {"course_id": course_id}
    if category_id is not None:
        params["category_id"] = category_id
    if member_id is not None:
        params["member_id"] = member_id
    position = decode_cursor(cursor)
    if position is not None:
        params["after_at"], params["after_id"] = position
    stmt = _wall_statement(
        category_id is not None,
        None if member_id is None else "receiver" if received else "giver",
        position is not None,
        per_page + 1,
    )
    rows = session.execute(stmt, params).all()
    labels: dict[tuple[str | None, str], str] = {}  # translated once per page, not per row

    def label(code: str | None, name: str) -> str:
        key = (code, name)
        if key not in labels:
            labels[key] = category_label(code, name)
        return labels[key]

    items = [
        WallItem(
            id=r.id,
            giver_id=r.giver_id,
            giver=display_name(r.giver_id, r.g_name, r.g_given, r.g_family),
            giver_mentor=bool(r.g_mentor),
            receiver_id=r.receiver_id,
            receiver=display_name(r.receiver_id, r.r_name, r.r_given, r.r_family),
            receiver_mentor=bool(r.r_mentor),
            category_id=r.category_id,
            category=label(r.code, r.category_name),
            message=r.message,
            question_id=r.question_id,
            question_title=r.question_title,
            subject_type=r.subject_type,
            subject_id=r.subject_id,
            created_at=r.created_at,
        )
        for r in rows[:per_page]
    ]
    more = len(rows) > per_page
    last = items[-1] if items else None
    return WallPage(
        items, encode_cursor(last.created_at, last.id) if more and last is not None else None
    )


def totals(session: Session, course_id: int, member_id: int) -> tuple[int, int]:
    """Kudos a member received and gave in the course."""
    received = session.scalar(
        select(func.count())
        .select_from(Kudos)
        .where(Kudos.course_id == course_id, Kudos.receiver_id == member_id)
    )
    given = session.scalar(
        select(func.count())
        .select_from(Kudos)
        .where(Kudos.course_id == course_id, Kudos.giver_id == member_id)
    )
    return int(received or 0), int(given or 0)
