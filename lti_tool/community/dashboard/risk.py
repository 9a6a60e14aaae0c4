"""Early warning: which students may be drifting away, and why.

Every rule reads the student's own dates (academies enrol on a rolling basis, so there are no
fixed course dates). A reach-out logged by staff turns "successful" once the student is active
again after it; by then the activity rules no longer list them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session

from lti_tool.community.dashboard.metrics import learner_enrolments
from lti_tool.community.dashboard.models import ReachOut, ReachOutOutcome
from lti_tool.community.dashboard.settings import Thresholds, thresholds
from lti_tool.community.engagement.models import (
    ACTIVITY_KINDS,
    ParticipationEvent,
)
from lti_tool.community.groups.models import Group, GroupSet, Membership
from lti_tool.community.notifications.services import notify
from lti_tool.community.qa.models import Answer, Comment, QASettings, Question, QuestionState
from lti_tool.community.sentiment.models import PostSentiment
from lti_tool.community.sentiment.signals import Label
from lti_tool.courses.models import Enrolment, Member
from lti_tool.extensions import utcnow

# A student just put on the roster gets this long to open Bottega before it counts.
LAUNCH_GRACE = timedelta(days=2)
# Falling activity needs at least this many actions in the previous week to mean anything.
FALLING_MINIMUM = 3
# Negative posts (offline sentiment scores) in this many days that put a student on the list.
NEGATIVE_POSTS = 2
NEGATIVE_DAYS = 14
NOTE_MAX = 2000
# The posts a student may write "anonymous to classmates", by their sentiment subject type.
_ANONYMOUS_POSTS = ((Question, "qa_question"), (Answer, "qa_answer"), (Comment, "qa_comment"))


class Reason(enum.StrEnum):
    NEVER_LAUNCHED = "never_launched"
    INACTIVE = "inactive"
    FALLING = "falling"
    UNANSWERED = "unanswered"
    NO_RECOGNITION = "no_recognition"
    NEGATIVE = "negative_sentiment"
    NO_GROUP = "no_group"
    QUIET_GROUP = "quiet_group"


@dataclass(frozen=True)
class Finding:
    reason: Reason
    since: datetime | None = None  # when the condition started (enrolment, last activity...)
    count: int = 0  # rule-specific number (days, actions this week...)
    previous: int = 0


@dataclass
class Student:
    member_id: int
    name: str
    enrolled_at: datetime
    last_active_at: datetime | None
    findings: list[Finding] = field(default_factory=list)
    reach_outs: list[ReachOut] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [f.reason.value for f in self.findings]


@dataclass(frozen=True)
class Activity:
    last: datetime | None
    this_week: int
    last_week: int
    recognised: bool


def _activity(session: Session, course_id: int, now: datetime) -> dict[int, Activity]:
    """Each enrolled member's last activity and recognition (kept on the enrolment by
    engagement.record), and their actions this week and the week before (two weeks of events)."""
    week_ago, fortnight_ago = now - timedelta(days=7), now - timedelta(days=14)
    counts = {
        member_id: (int(this_week or 0), int(last_week or 0))
        for member_id, this_week, last_week in session.execute(
            select(
                ParticipationEvent.member_id,
                func.sum(case((ParticipationEvent.created_at >= week_ago, 1), else_=0)),
                func.sum(case((ParticipationEvent.created_at < week_ago, 1), else_=0)),
            )
            .where(
                ParticipationEvent.course_id == course_id,
                ParticipationEvent.kind.in_(ACTIVITY_KINDS),
                ParticipationEvent.created_at >= fortnight_ago,
                ParticipationEvent.created_at < now,
            )
            .group_by(ParticipationEvent.member_id)
        )
    }
    found = {}
    for member_id, last, recognised in session.execute(
        select(Enrolment.member_id, Enrolment.last_active_at, Enrolment.recognised_at).where(
            Enrolment.course_id == course_id
        )
    ):
        this_week, last_week = counts.get(member_id, (0, 0))
        if last is None and recognised is None and not this_week and not last_week:
            continue
        found[member_id] = Activity(
            last, this_week, last_week, recognised is not None and recognised <= now
        )
    return found


def _oldest_unanswered(
    session: Session, course_id: int, before: datetime, with_anonymous: bool
) -> dict[int, tuple[datetime, int]]:
    query = (
        select(Question.author_id, func.min(Question.created_at), func.count())
        .where(
            Question.course_id == course_id,
            Question.deleted_at.is_(None),
            Question.state == QuestionState.UNANSWERED,
            Question.created_at < before,
        )
        .group_by(Question.author_id)
    )
    if not with_anonymous:
        query = query.where(~Question.anonymous)
    rows = session.execute(query).all()
    result = {}
    for author_id, oldest, count in rows:
        if isinstance(oldest, str):
            oldest = datetime.fromisoformat(oldest)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=before.tzinfo)
        result[author_id] = (oldest, int(count))
    return result


def _negative_posts(
    session: Session, course_id: int, now: datetime, with_anonymous: bool
) -> dict[int, int]:
    """Negative posts per author in the last NEGATIVE_DAYS: a signal for staff, never a sanction."""
    query = (
        select(PostSentiment.author_id, func.count())
        .where(
            PostSentiment.course_id == course_id,
            PostSentiment.label == Label.NEGATIVE.value,
            PostSentiment.posted_at >= now - timedelta(days=NEGATIVE_DAYS),
        )
        .group_by(PostSentiment.author_id)
    )
    if not with_anonymous:
        query = query.where(
            *(
                ~and_(
                    PostSentiment.subject_type == subject_type,
                    exists().where(model.id == PostSentiment.subject_id, model.anonymous),
                )
                for model, subject_type in _ANONYMOUS_POSTS
            )
        )
    rows = session.execute(query).all()
    return {member_id: int(count) for member_id, count in rows}


@dataclass(frozen=True)
class GroupState:
    """The course's peer groups as the rules need them."""

    has_sets: bool
    # member -> the latest activity of any of their groups (None: never any)
    members: dict[int, datetime | None]


def _groups(session: Session, course_id: int) -> GroupState:
    has_sets = (
        session.scalar(select(GroupSet.id).where(GroupSet.course_id == course_id).limit(1))
        is not None
    )
    members: dict[int, datetime | None] = {}
    if has_sets:
        for member_id, last, created in session.execute(
            select(Membership.member_id, Group.last_activity_at, Group.created_at)
            .join(Group, Group.id == Membership.group_id)
            .where(Membership.course_id == course_id)
        ):
            moment = last or created
            known = members.get(member_id)
            members[member_id] = moment if known is None or moment > known else known
    return GroupState(has_sets, members)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((d for d in (a, b) if d is not None), default=None)


def findings_for(
    enrolment: Enrolment,
    activity: Activity | None,
    unanswered: tuple[datetime, int] | None,
    limits: Thresholds,
    now: datetime,
    negative: int = 0,
    groups: GroupState | None = None,
) -> list[Finding]:
    """The rules, applied to one student."""
    found: list[Finding] = []
    last_active = _latest(activity.last if activity else None, enrolment.last_launch_at)
    if enrolment.first_launch_at is None:
        if now - enrolment.created_at >= LAUNCH_GRACE:
            found.append(Finding(Reason.NEVER_LAUNCHED, since=enrolment.created_at))
    else:
        reference = last_active or enrolment.created_at
        idle = now - reference
        if idle >= timedelta(days=limits.inactive_days):
            found.append(Finding(Reason.INACTIVE, since=reference, count=idle.days))
    if (
        activity
        and activity.last_week >= FALLING_MINIMUM
        and activity.this_week * 100 < activity.last_week * limits.falling_percent
    ):
        found.append(Finding(Reason.FALLING, count=activity.this_week, previous=activity.last_week))
    if unanswered:
        found.append(Finding(Reason.UNANSWERED, since=unanswered[0], count=unanswered[1]))
    if (activity is None or not activity.recognised) and now - enrolment.created_at >= timedelta(
        weeks=limits.recognition_weeks
    ):
        found.append(Finding(Reason.NO_RECOGNITION, since=enrolment.created_at))
    if negative >= NEGATIVE_POSTS:
        found.append(Finding(Reason.NEGATIVE, count=negative))
    if groups is not None and groups.has_sets and now - enrolment.created_at >= LAUNCH_GRACE:
        if enrolment.member_id not in groups.members:
            found.append(Finding(Reason.NO_GROUP))
        else:
            last = groups.members[enrolment.member_id]
            if last is not None and now - last >= timedelta(days=limits.inactive_days):
                found.append(Finding(Reason.QUIET_GROUP, since=last, count=(now - last).days))
    return found


def settle_reach_outs(session: Session, course_id: int, now: datetime | None = None) -> int:
    """Mark pending reach-outs successful when their student was active after them."""
    now = now or utcnow()
    pending = list(
        session.scalars(
            select(ReachOut).where(
                ReachOut.course_id == course_id, ReachOut.outcome == ReachOutOutcome.PENDING
            )
        )
    )
    if not pending:
        return 0
    activity = _activity(session, course_id, now)
    launches = dict(
        session.execute(
            select(Enrolment.member_id, Enrolment.last_launch_at).where(
                Enrolment.course_id == course_id,
                Enrolment.member_id.in_({r.member_id for r in pending}),
            )
        ).all()
    )
    settled = 0
    for reach_out in pending:
        seen = activity.get(reach_out.member_id)
        back = _latest(seen.last if seen else None, launches.get(reach_out.member_id))
        if back is not None and back > reach_out.created_at:
            reach_out.outcome = ReachOutOutcome.SUCCESSFUL
            reach_out.resolved_at = back
            settled += 1
    session.commit()
    return settled


def at_risk(
    session: Session,
    course_id: int,
    now: datetime | None = None,
    *,
    staff_viewer: bool = False,
) -> list[Student]:
    """Students with at least one reason, the most reasons first, then the longest idle.

    A student's anonymous posts (questions waiting for a reply, negative posts) count only for a
    ``staff_viewer`` (instructors and TAs) in a course that lets staff see anonymous authors: a
    reason next to a name would otherwise tell a community manager, who may be a student, who
    wrote them.
    """
    now = now or utcnow()
    limits = thresholds(session, course_id)
    settle_reach_outs(session, course_id, now)
    enrolments = learner_enrolments(session, course_id)
    activity = _activity(session, course_id, now)
    qa_settings = session.get(QASettings, course_id)
    with_anonymous = staff_viewer and (qa_settings is None or qa_settings.staff_see_anonymous)
    unanswered = _oldest_unanswered(
        session, course_id, now - timedelta(hours=limits.unanswered_hours), with_anonymous
    )
    negative = _negative_posts(session, course_id, now, with_anonymous)
    groups = _groups(session, course_id)
    students: dict[int, Student] = {}
    for enrolment in enrolments:
        seen = activity.get(enrolment.member_id)
        findings = findings_for(
            enrolment,
            seen,
            unanswered.get(enrolment.member_id),
            limits,
            now,
            negative.get(enrolment.member_id, 0),
            groups,
        )
        if findings:
            students[enrolment.member_id] = Student(
                member_id=enrolment.member_id,
                name="",
                enrolled_at=enrolment.created_at,
                last_active_at=_latest(seen.last if seen else None, enrolment.last_launch_at),
                findings=findings,
            )
    if students:
        for member_id, name in session.execute(
            select(Member.id, func.coalesce(Member.name, Member.given_name, Member.lms_id)).where(
                Member.id.in_(students)
            )
        ):
            students[member_id].name = name
        for reach_out in session.scalars(
            select(ReachOut)
            .where(ReachOut.course_id == course_id, ReachOut.member_id.in_(students))
            .order_by(ReachOut.created_at.desc())
        ):
            students[reach_out.member_id].reach_outs.append(reach_out)
    oldest = now - timedelta(days=36500)
    return sorted(
        students.values(),
        key=lambda s: (-len(s.findings), s.last_active_at or oldest, s.name),
    )


def student_card(session: Session, course_id: int, member_id: int) -> Student | None:
    """A learner of the course as the at-risk list shows them, with no reason (a student who
    left the list while staff were writing to them); None when not a learner here."""
    found = next(
        (e for e in learner_enrolments(session, course_id) if e.member_id == member_id), None
    )
    if found is None:
        return None
    name = session.scalar(
        select(func.coalesce(Member.name, Member.given_name, Member.lms_id)).where(
            Member.id == member_id
        )
    )
    student = Student(
        member_id=member_id,
        name=name or "",
        enrolled_at=found.created_at,
        last_active_at=_latest(found.last_active_at, found.last_launch_at),  # as at_risk() says
    )
    student.reach_outs.extend(
        session.scalars(
            select(ReachOut)
            .where(ReachOut.course_id == course_id, ReachOut.member_id == member_id)
            .order_by(ReachOut.created_at.desc())
        )
    )
    return student


def back_on_track(session: Session, course_id: int, limit: int = 20) -> list[tuple[ReachOut, str]]:
    """Recent successful reach-outs with the student's name."""
    rows = session.execute(
        select(ReachOut, func.coalesce(Member.name, Member.given_name, Member.lms_id))
        .join(Member, Member.id == ReachOut.member_id)
        .where(ReachOut.course_id == course_id, ReachOut.outcome == ReachOutOutcome.SUCCESSFUL)
        .order_by(ReachOut.resolved_at.desc())
        .limit(limit)
    ).all()
    return [(r, name) for r, name in rows]


class ReachOutError(ValueError):
    """The student is not a member of this course, or the note is too long or empty."""


def log_reach_out(
    session: Session,
    *,
    course_id: int,
    member_id: int,
    staff_id: int,
    note: str,
    nudge: str = "",
    reasons: list[str] | None = None,
) -> ReachOut:
    """Record that staff got in touch; with ``nudge`` text, also send the student an in-app note."""
    note, nudge = note.strip(), nudge.strip()
    if not note and not nudge:
        raise ReachOutError("empty")
    if len(note) > NOTE_MAX or len(nudge) > NOTE_MAX:
        raise ReachOutError("too_long")
    enrolled = session.scalar(
        select(Enrolment.id).where(
            Enrolment.course_id == course_id, Enrolment.member_id == member_id
        )
    )
    if enrolled is None:
        raise ReachOutError("not_member")
    reach_out = ReachOut(
        course_id=course_id,
        member_id=member_id,
        staff_id=staff_id,
        note=note,
        nudged=bool(nudge),
        reasons=",".join(reasons or []),
        created_at=utcnow(),
    )
    session.add(reach_out)
    session.flush()
    if nudge:
        notify(
            session,
            course_id=course_id,
            recipients=[member_id],
            kind="nudge",
            subject_type="reach_out",
            subject_id=reach_out.id,
            actor_id=staff_id,
            excerpt=nudge,
        )
    session.commit()
    return reach_out
