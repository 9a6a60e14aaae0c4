"""Recognition use cases: the celebration feed, a member's profile card, peer mentors (ranking,
grant, withdraw) and the weekly top-helpers board.

Everything is read from the participation events (``engagement_event``) and the badges earned,
so any capability that records events feeds it. Badge evaluation itself is in evaluation.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import EventKind, ParticipationEvent
from lti_tool.community.kudos.services import (
    Actor,
    InvalidInput,
    KudosError,
    NotFound,
    PermissionDenied,
    display_name,
)
from lti_tool.community.notifications.services import notify
from lti_tool.community.recognition import evaluation  # noqa: F401  (the trigger and job)
from lti_tool.community.recognition.evaluation import longest_weekly_streak, measure
from lti_tool.community.recognition.models import BadgeAward, BadgeRule, RecognitionSettings
from lti_tool.community.recognition.rules import (
    ACTIVE_KINDS,
    active_rules,
    badge_description,
    badge_name,
)
from lti_tool.courses.models import Enrolment, EnrolmentStatus, Member
from lti_tool.courses.roles import course_role
from lti_tool.courses.services import find_enrolment
from lti_tool.extensions import utcnow

__all__ = ["Actor", "InvalidInput", "KudosError", "NotFound", "PermissionDenied"]

E = ParticipationEvent
HISTORY_WEEKS = 12


# --- settings ----------------------------------------------------------------------------------


def get_settings(session: Session, course_id: int) -> RecognitionSettings:
    settings = session.get(RecognitionSettings, course_id)
    if settings is None:
        settings = RecognitionSettings(course_id=course_id, leaderboard_enabled=False)
    return settings


def set_leaderboard(session: Session, actor: Actor, enabled: bool) -> RecognitionSettings:
    """Staff turn the weekly top-helpers board on or off for everyone in the course."""
    if not actor.can_manage:
        raise PermissionDenied()
    settings = session.get(RecognitionSettings, actor.course_id)
    if settings is None:
        settings = RecognitionSettings(course_id=actor.course_id)
        session.add(settings)
    settings.leaderboard_enabled = enabled
    settings.updated_at = utcnow()
    session.commit()
    return settings


# --- celebration feed --------------------------------------------------------------------------


@dataclass(frozen=True)
class Celebration:
    award_id: int
    member_id: int
    name: str
    mentor: bool
    badge: str
    description: str
    earned_at: datetime


def celebrations(session: Session, course_id: int, limit: int = 50) -> list[Celebration]:
    """The course's newest badges earned, in one query."""
    rows = session.execute(
        select(
            BadgeAward.id,
            BadgeAward.member_id,
            BadgeAward.earned_at,
            BadgeRule.code,
            BadgeRule.name.label("rule_name"),
            BadgeRule.description,
            Member.name,
            Member.given_name,
            Member.family_name,
            Enrolment.peer_mentor,
        )
        .join(BadgeRule, BadgeRule.id == BadgeAward.rule_id)
        .join(Member, Member.id == BadgeAward.member_id)
        .outerjoin(
            Enrolment,
            and_(
                Enrolment.course_id == BadgeAward.course_id,
                Enrolment.member_id == BadgeAward.member_id,
            ),
        )
        .where(BadgeAward.course_id == course_id)
        .order_by(BadgeAward.earned_at.desc(), BadgeAward.id.desc())
        .limit(limit)
    ).all()
    return [
        Celebration(
            award_id=r.id,
            member_id=r.member_id,
            name=display_name(r.member_id, r.name, r.given_name, r.family_name),
            mentor=bool(r.peer_mentor),
            badge=badge_name(r.code, r.rule_name),
            description=badge_description(r.code, r.description),
            earned_at=r.earned_at,
        )
        for r in rows
    ]


# --- the profile card --------------------------------------------------------------------------


@dataclass(frozen=True)
class BadgeStatus:
    code: str
    name: str
    description: str
    threshold: int
    value: int
    earned_at: datetime | None

    @property
    def earned(self) -> bool:
        return self.earned_at is not None


@dataclass
class ProfileCard:
    kudos_received: int
    kudos_given: int
    badges: list[BadgeStatus]
    contributions: dict[str, int]  # event kind -> count, across the course
    weeks: list[tuple[date, int]]  # the last HISTORY_WEEKS weeks: (Monday, own actions)
    streak: int  # longest run of active weeks
    peer_mentor: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def week_start(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def profile_card(
    session: Session, course_id: int, member_id: int, *, now: datetime | None = None
) -> ProfileCard:
    """What a member sees about their own recognition and participation in a course."""
    now = now or utcnow()
    counts = dict(
        session.execute(
            select(E.kind, func.count())
            .where(E.course_id == course_id, E.member_id == member_id)
            .group_by(E.kind)
        ).all()
    )
    rules = active_rules(session)
    earned = dict(
        session.execute(
            select(BadgeAward.rule_id, BadgeAward.earned_at).where(
                BadgeAward.course_id == course_id, BadgeAward.member_id == member_id
            )
        ).all()
    )
    values = measure(session, course_id, member_id, rules)
    badges = [
        BadgeStatus(
            code=r.code,
            name=badge_name(r.code, r.name),
            description=badge_description(r.code, r.description),
            threshold=r.threshold,
            value=min(values.get(r.id, 0), r.threshold),
            earned_at=earned.get(r.id),
        )
        for r in rules
    ]
    badges.sort(key=lambda b: (not b.earned, b.earned_at or now))
    first_week = week_start(now) - timedelta(weeks=HISTORY_WEEKS - 1)
    moments = session.scalars(
        select(E.created_at).where(
            E.course_id == course_id,
            E.member_id == member_id,
            E.kind.in_([k.value for k in ACTIVE_KINDS]),
        )
    ).all()
    per_week: dict[date, int] = {}
    for moment in moments:
        start = week_start(moment)
        if start >= first_week:
            per_week[start] = per_week.get(start, 0) + 1
    weeks = [
        (first_week + timedelta(weeks=n), per_week.get(first_week + timedelta(weeks=n), 0))
        for n in range(HISTORY_WEEKS)
    ]
    mentor = session.scalar(
        select(Enrolment.peer_mentor).where(
            Enrolment.course_id == course_id, Enrolment.member_id == member_id
        )
    )
    return ProfileCard(
        kudos_received=int(counts.get(EventKind.KUDOS_RECEIVED.value, 0)),
        kudos_given=int(counts.get(EventKind.KUDOS_GIVEN.value, 0)),
        badges=badges,
        contributions={str(k): int(n) for k, n in counts.items()},
        weeks=weeks,
        streak=longest_weekly_streak(m.date() for m in moments),
        peer_mentor=bool(mentor),
    )


# --- peer mentors ------------------------------------------------------------------------------

# How much each signal weighs in the mentor ranking: acceptance and staff endorsement say an
# answer was right; distinct peers say the help reached many people, not one friend.
MENTOR_WEIGHTS = {"accepted": 3, "endorsed": 2, "kudos": 1, "peers": 2}


@dataclass(frozen=True)
class MentorCandidate:
    enrolment_id: int
    member_id: int
    name: str
    peer_mentor: bool
    accepted: int  # answers accepted by the asker
    endorsed: int  # answers endorsed by staff (or a peer mentor)
    kudos: int  # kudos received
    peers: int  # different classmates helped (accepted or found their answer helpful, kudos)
    score: int


def mentor_candidates(session: Session, course_id: int, limit: int = 50) -> list[MentorCandidate]:
    """Students most likely to make good peer mentors, best first, with the numbers behind
    the ranking; current peer mentors are listed too, so staff can withdraw the role."""
    answer_help = and_(
        E.kind.in_([EventKind.ANSWER_ACCEPTED.value, EventKind.UPVOTE_RECEIVED.value]),
        E.subject_type == "qa_answer",
    )
    helped = (answer_help | (E.kind == EventKind.KUDOS_RECEIVED.value)) & (
        E.actor_id != E.member_id
    )

    def total(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    rows = session.execute(
        select(
            E.member_id,
            total(E.kind == EventKind.ANSWER_ACCEPTED.value).label("accepted"),
            total(
                (E.kind == EventKind.ENDORSEMENT_RECEIVED.value) & (E.subject_type == "qa_answer")
            ).label("endorsed"),
            total(E.kind == EventKind.KUDOS_RECEIVED.value).label("kudos"),
            func.count(func.distinct(case((helped, E.actor_id)))).label("peers"),
        )
        .where(
            E.course_id == course_id,
            E.kind.in_(
                [
                    EventKind.ANSWER_ACCEPTED.value,
                    EventKind.ENDORSEMENT_RECEIVED.value,
                    EventKind.KUDOS_RECEIVED.value,
                    EventKind.UPVOTE_RECEIVED.value,
                ]
            ),
        )
        .group_by(E.member_id)
    ).all()
    stats = {r.member_id: r for r in rows}
    people = session.execute(
        select(Enrolment.id, Enrolment.roles, Enrolment.peer_mentor, Member)
        .join(Member, Member.id == Enrolment.member_id)
        .where(
            Enrolment.course_id == course_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Enrolment.member_id.in_(list(stats)) | Enrolment.peer_mentor.is_(True),
        )
    ).all()
    candidates = []
    for enrolment_id, roles, mentor, member in people:
        if course_role(roles or []).is_staff:
            continue  # staff endorse already: the ranking is about students
        r = stats.get(member.id)
        numbers = {
            "accepted": int(r.accepted or 0) if r else 0,
            "endorsed": int(r.endorsed or 0) if r else 0,
            "kudos": int(r.kudos or 0) if r else 0,
            "peers": int(r.peers or 0) if r else 0,
        }
        score = sum(MENTOR_WEIGHTS[k] * v for k, v in numbers.items())
        if score == 0 and not mentor:
            continue
        candidates.append(
            MentorCandidate(
                enrolment_id=enrolment_id,
                member_id=member.id,
                name=member.display_name,
                peer_mentor=bool(mentor),
                score=score,
                **numbers,
            )
        )
    candidates.sort(key=lambda c: (-c.score, -c.peers, c.name.casefold(), c.member_id))
    return candidates[:limit]


def set_peer_mentor(session: Session, actor: Actor, enrolment_id: int, granted: bool) -> Member:
    """Grant or withdraw the peer mentor role of a student of the course (staff); the member
    is notified of a grant. Returns the member."""
    if not actor.can_manage:
        raise PermissionDenied()
    enrolment = find_enrolment(session, actor.course_id, enrolment_id)
    if enrolment is None:
        raise NotFound(_l("There is no such member in this course."))
    if granted and course_role(enrolment.roles or []).is_staff:
        raise InvalidInput({"mentor": _l("Staff already endorse answers: no need for the role.")})
    changed = enrolment.peer_mentor != granted
    enrolment.peer_mentor = granted
    if granted and changed:
        notify(
            session,
            course_id=actor.course_id,
            recipients=[enrolment.member_id],
            kind="mentor",
            subject_type="enrolment",
            subject_id=enrolment.id,
            actor_id=actor.member_id,
        )
    member = enrolment.member
    session.commit()
    return member


# --- weekly top helpers ------------------------------------------------------------------------

HELPER_POINTS = {
    EventKind.ANSWER_ACCEPTED.value: 3,
    EventKind.ENDORSEMENT_RECEIVED.value: 2,
    EventKind.UPVOTE_RECEIVED.value: 1,
    EventKind.KUDOS_RECEIVED.value: 1,
}


@dataclass(frozen=True)
class Helper:
    member_id: int
    name: str
    points: int
    mentor: bool


def _points(
    session: Session, course_id: int, since: datetime, member_id: int | None = None
) -> dict[int, int]:
    points = case(*((E.kind == kind, weight) for kind, weight in HELPER_POINTS.items()), else_=0)
    stmt = select(E.member_id, func.sum(points)).where(
        E.course_id == course_id, E.created_at >= since, E.kind.in_(list(HELPER_POINTS))
    )
    if member_id is not None:
        stmt = stmt.where(E.member_id == member_id)
    rows = session.execute(stmt.group_by(E.member_id)).all()
    return {member_id: int(total or 0) for member_id, total in rows}


def week_began(now: datetime) -> datetime:
    """Monday 00:00 UTC of ``now``'s week: the board starts again every week."""
    start = week_start(now)
    return now.replace(
        year=start.year, month=start.month, day=start.day, hour=0, minute=0, second=0, microsecond=0
    )


def top_helpers(
    session: Session, course_id: int, *, now: datetime | None = None, limit: int = 10
) -> list[Helper]:
    """This week's students who helped most (accepted, endorsed, helpful answers, kudos)."""
    points = _points(session, course_id, week_began(now or utcnow()))
    if not points:
        return []
    people = session.execute(
        select(Enrolment.roles, Enrolment.peer_mentor, Member)
        .join(Member, Member.id == Enrolment.member_id)
        .where(
            Enrolment.course_id == course_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Enrolment.member_id.in_(list(points)),
        )
    ).all()
    helpers = [
        Helper(member.id, member.display_name, points[member.id], bool(mentor))
        for roles, mentor, member in people
        if not course_role(roles or []).is_staff and points[member.id] > 0
    ]
    helpers.sort(key=lambda h: (-h.points, h.name.casefold(), h.member_id))
    return helpers[:limit]


def my_week(
    session: Session, course_id: int, member_id: int, *, now: datetime | None = None
) -> int:
    """The member's own helper points this week (always shown to them)."""
    since = week_began(now or utcnow())
    return _points(session, course_id, since, member_id).get(member_id, 0)
