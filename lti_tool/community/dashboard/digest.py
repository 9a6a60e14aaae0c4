"""The weekly digest: one summary per course and ISO week, in-app for staff and by e-mail.

A scheduled job (``dashboard.digests``) makes last week's digest for every course that had any
life in the last eight weeks; the (course, week) unique key makes it happen once whatever the
number of workers. Each e-mail is its own job, so a retry never mails anyone twice.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.community.dashboard import hanging, metrics, risk, signals
from lti_tool.community.dashboard.models import Digest
from lti_tool.community.engagement.models import ParticipationEvent
from lti_tool.community.notifications.services import notify
from lti_tool.config import Settings
from lti_tool.core.i18n import language_for
from lti_tool.core.mail import MailError, mail_enabled, send_mail
from lti_tool.courses.models import Course, Enrolment, EnrolmentStatus, Member
from lti_tool.courses.roles import course_role
from lti_tool.extensions import utcnow
from lti_tool.jobs import JobContext, PermanentError, RetryLater, enqueue, handler

SCHEDULE_KIND = "dashboard.digests"
MAIL_KIND = "dashboard.digest_mail"
QUIET_WEEKS = 8  # a course with no launch or event for this long gets no digest


def summarise(session: Session, course_id: int, week_start: date) -> dict[str, Any]:
    """The figures of one course for the week starting ``week_start`` (a Monday)."""
    week_end = week_start + timedelta(days=6)
    at = datetime.combine(week_end + timedelta(days=1), datetime.min.time(), tzinfo=utcnow().tzinfo)
    figures = metrics.overview(session, course_id, week_start, week_end, at)
    # Only counted here (nobody is named): as staff's list counts them.
    students = risk.at_risk(session, course_id, at, staff_viewer=True)
    waiting = hanging.hanging_questions(session, course_id, at)
    tags = signals.top_tags(session, course_id, week_start, week_end, limit=5)
    gaps = signals.content_gaps(session, course_id, at)

    def hours(delta: timedelta | None) -> float | None:
        return None if delta is None else round(delta.total_seconds() / 3600, 1)

    return {
        "learners": figures.learners,
        "active_7": figures.active_7,
        "new_members": figures.new_members,
        "never_launched": figures.never_launched,
        "questions": figures.questions,
        "answered_percent": figures.answered_percent,
        "median_first_answer_hours": hours(figures.median_first_answer),
        "median_first_staff_answer_hours": hours(figures.median_first_staff_answer),
        "kudos_given": figures.kudos_given,
        "at_risk": len(students),
        "waiting": len(waiting),
        "first_posts_waiting": sum(1 for q in waiting if q.first_post),
        "top_tags": [asdict(t) for t in tags],
        "content_gaps": len(gaps),
    }


def _staff(session: Session, course_id: int) -> list[Member]:
    enrolments = session.scalars(
        select(Enrolment).where(
            Enrolment.course_id == course_id, Enrolment.status == EnrolmentStatus.ACTIVE
        )
    )
    ids = [e.member_id for e in enrolments if course_role(e.roles).is_staff or e.community_manager]
    return list(session.scalars(select(Member).where(Member.id.in_(ids)))) if ids else []


def make_digest(session: Session, course_id: int, week_start: date) -> Digest | None:
    """Create the digest (and its notifications and e-mail jobs); None when it already exists."""
    if session.scalar(
        select(Digest.id).where(Digest.course_id == course_id, Digest.week_start == week_start)
    ):
        return None
    digest = Digest(
        course_id=course_id,
        week_start=week_start,
        summary=summarise(session, course_id, week_start),
        created_at=utcnow(),
    )
    session.add(digest)
    try:
        session.flush()
    except IntegrityError:  # another worker made it first
        session.rollback()
        return None
    staff = _staff(session, course_id)
    notify(
        session,
        course_id=course_id,
        recipients=[m.id for m in staff],
        kind="digest",
        subject_type="dashboard_digest",
        subject_id=digest.id,
        excerpt=week_start.isoformat(),
    )
    settings: Settings = current_app.extensions["bottega_settings"]
    if mail_enabled(settings.mail):
        for member in staff:
            if member.email:
                enqueue(
                    session,
                    MAIL_KIND,
                    {"digest_id": digest.id, "member_id": member.id},
                    key=f"{MAIL_KIND}:{digest.id}:{member.id}",
                )
    session.commit()
    return digest


def due_courses(session: Session, now: datetime, week_start: date) -> list[int]:
    """Courses with life in the last weeks and no digest for ``week_start`` yet."""
    since = now - timedelta(weeks=QUIET_WEEKS)
    lively = or_(
        exists().where(
            ParticipationEvent.course_id == Course.id, ParticipationEvent.created_at >= since
        ),
        exists().where(Enrolment.course_id == Course.id, Enrolment.last_launch_at >= since),
    )
    done = exists().where(Digest.course_id == Course.id, Digest.week_start == week_start)
    return list(session.scalars(select(Course.id).where(lively, ~done).order_by(Course.id)))


def last_week(now: datetime) -> date:
    return metrics.monday(now.date()) - timedelta(days=7)


@handler(SCHEDULE_KIND, every=lambda settings: settings.digest.schedule_interval)
def make_due_digests(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    now = utcnow()
    week = last_week(now)
    made = 0
    for course_id in due_courses(session, now, week):
        made += make_digest(session, course_id, week) is not None
    return {"week": week.isoformat(), "made": made}


def digest_text(course_title: str, summary: dict[str, Any], week_start: date) -> tuple[str, str]:
    """Subject and body of the e-mail, in the current locale."""
    subject = _(
        "Bottega weekly digest: %(course)s, week of %(date)s",
        course=course_title,
        date=week_start.isoformat(),
    )
    lines = [
        _(
            "Your community this week, %(date)s to %(end)s:",
            date=week_start.isoformat(),
            end=(week_start + timedelta(days=6)).isoformat(),
        ),
        "",
        _(
            "Active students (7 days): %(n)s of %(total)s",
            n=summary["active_7"],
            total=summary["learners"],
        ),
        _("New members: %(n)s", n=summary["new_members"]),
        _("Questions asked: %(n)s", n=summary["questions"]),
        _("Students at risk: %(n)s", n=summary["at_risk"]),
        _(
            "Questions waiting for a reply: %(n)s (first posts: %(first)s)",
            n=summary["waiting"],
            first=summary["first_posts_waiting"],
        ),
        _("Content gaps: %(n)s", n=summary["content_gaps"]),
        "",
        _("Open Bottega from your course and choose Community dashboard to see the details."),
    ]
    return subject, "\n".join(lines)


@handler(MAIL_KIND, max_attempts=6)
def mail_digest(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    digest = session.get(Digest, payload["digest_id"])
    member = session.get(Member, payload["member_id"])
    if digest is None or member is None or not member.email:
        return {"skipped": True}
    if member.id not in {m.id for m in _staff(session, digest.course_id)}:
        # No longer staff (or left the course) since the digest was made: its figures are not
        # theirs to read any more, a retry included.
        return {"skipped": True}
    course = session.get(Course, digest.course_id)
    title = (course.title or course.label or course.lms_id) if course else ""
    settings: Settings = current_app.extensions["bottega_settings"]
    with force_locale(language_for(member.locale)):
        subject, text = digest_text(title, digest.summary, digest.week_start)
    try:
        send_mail(settings.mail, member.email, subject, text)
    except MailError as exc:
        if exc.temporary:
            raise RetryLater(str(exc)) from exc
        raise PermanentError(str(exc)) from exc
    return {"sent": True}


def recent_digests(session: Session, course_id: int, limit: int = 12) -> list[Digest]:
    return list(
        session.scalars(
            select(Digest)
            .where(Digest.course_id == course_id)
            .order_by(Digest.week_start.desc())
            .limit(limit)
        )
    )
