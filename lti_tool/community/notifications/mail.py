"""Notifications by e-mail: what a member has not read in Bottega, in one message, at most hourly.

A scheduled job (``notifications.mail_due``) looks for members with notifications neither read
nor mailed, older than NOTIFY_EMAIL_DELAY (read in the page meanwhile: never mailed), and queues
one ``notifications.mail`` job each, at most one e-mail per member per NOTIFY_EMAIL_GAP. The
mail job claims the notifications (``emailed_at``) in the transaction that reads them, then
sends: a worker that dies between the two loses that e-mail rather than sending it twice;
an SMTP server that answers "try later" gives them back for the retry.

Passed over (claimed, not mailed): notifications whose post was deleted or hidden since, of a
course the member has left, and any that came before the member's last launch in their course
(the course's bell showed them). Only members with an e-mail address from their LMS who have
not turned the e-mails off (My profile, or the link at the bottom of each message) get them;
the link works without a launch, signed with the SECRET_KEY. Mail needs SMTP_HOST and
PUBLIC_URL (the link).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, exists, func, select, text, update
from sqlalchemy.orm import Session

from lti_tool.community.moderation.services import hidden_subjects
from lti_tool.community.moderation.subjects import registered, resolve
from lti_tool.community.notifications.models import MemberPreference, Notification
from lti_tool.community.notifications.sentences import NOT_MAILED, sentence
from lti_tool.config import Settings
from lti_tool.core.i18n import language_for
from lti_tool.core.mail import MailError, mail_enabled, send_mail, single_address
from lti_tool.courses.models import Course, Enrolment, EnrolmentStatus, Member
from lti_tool.courses.services import dialect_insert, member_names
from lti_tool.extensions import utcnow
from lti_tool.jobs import JobContext, PermanentError, RetryLater, begin_write, enqueue, handler

SCHEDULE_KIND = "notifications.mail_due"
MAIL_KIND = "notifications.mail"
MAX_LINES = 20  # per e-mail; the rest are counted ("and 5 more")
_SALT = "bottega.notification-mail.unsubscribe"
UNSUBSCRIBE_PATH = "/mail/unsubscribe"  # + "/<token>": the views' route


def _settings() -> Settings:
    settings: Settings = current_app.extensions["bottega_settings"]
    return settings


def mail_on(settings: Settings) -> bool:
    """Whether notification e-mails go out at all: turned on, an SMTP server and a public URL
    for the unsubscribe link."""
    return (
        settings.notification_mail.enabled
        and mail_enabled(settings.mail)
        and bool(settings.public_url)
    )


# -- the unsubscribe link ----------------------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_SALT)


def _whose(member: Member) -> str:
    """Who the member is beyond their row's id: their registration and LMS user id, hashed. A
    token signed for member 5 of one database (another deployment sharing the SECRET_KEY, a
    copy for staging) does not name whoever is member 5 of another."""
    return hashlib.sha256(f"{member.platform_id}\n{member.lms_id}".encode()).hexdigest()[:16]


def unsubscribe_token(secret_key: str, member: Member) -> str:
    """A token naming the member, for a link that works without a launch (no expiry: an
    e-mail read months later must still be able to stop the next ones)."""
    return str(_serializer(secret_key).dumps({"m": member.id, "w": _whose(member)}))


def member_of_token(session: Session, secret_key: str, token: str) -> Member | None:
    """The member a token names; None for a token this server did not sign for them."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("m"), int):
        return None
    member = session.get(Member, data["m"])
    if member is None or not hmac.compare_digest(str(data.get("w", "")), _whose(member)):
        return None
    return member


def wants_mail(session: Session, member_id: int) -> bool:
    """Whether the member has notification e-mails on (the default)."""
    chosen = session.scalar(
        select(MemberPreference.mail_notifications).where(MemberPreference.member_id == member_id)
    )
    return chosen is None or bool(chosen)


def set_mail_notifications(session: Session, member_id: int, wanted: bool) -> bool:
    """Turn the member's notification e-mails on or off; False when there is no such member.
    The caller commits."""
    if session.get(Member, member_id) is None:
        return False
    # One statement: the mail program's one-click post and the member's own click on the
    # link's button may come at once, and two INSERTs of the first choice would collide.
    now = utcnow()
    session.execute(
        dialect_insert(session, MemberPreference)
        .values(member_id=member_id, mail_notifications=wanted, updated_at=now)
        .on_conflict_do_update(
            index_elements=["member_id"], set_={"mail_notifications": wanted, "updated_at": now}
        )
    )
    return True


# -- who is due ---------------------------------------------------------------------------------


def _due(settings: Settings, now: datetime) -> Any:
    """The notifications that may go out now: neither read nor mailed, old enough, not too old."""
    mail = settings.notification_mail
    return and_(
        Notification.emailed_at.is_(None),
        Notification.read_at.is_(None),
        Notification.created_at <= now - timedelta(seconds=mail.delay),
        Notification.created_at >= now - timedelta(seconds=mail.max_age),
        Notification.kind.not_in(NOT_MAILED),
    )


def due_members(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Members with something to mail and no notification e-mail within the gap."""
    recently_mailed = exists().where(
        Notification.member_id == Member.id,
        Notification.emailed_at > now - timedelta(seconds=settings.notification_mail.gap),
        Notification.emailed_at != Notification.created_at,  # passed over at migration: not sent
    )
    return list(
        session.scalars(
            select(Member.id)
            .where(
                ~exists().where(
                    MemberPreference.member_id == Member.id,
                    MemberPreference.mail_notifications.is_(False),
                ),
                Member.email.is_not(None),
                Member.email != "",
                exists().where(Notification.member_id == Member.id, _due(settings, now)),
                ~recently_mailed,
            )
            .order_by(Member.id)
        )
    )


@handler(SCHEDULE_KIND, every=lambda settings: settings.notification_mail.schedule_interval)
def queue_due_mail(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    settings = _settings()
    if not mail_on(settings):
        return {"queued": 0, "off": True}
    members = due_members(session, settings, utcnow())
    for member_id in members:
        enqueue(session, MAIL_KIND, {"member_id": member_id}, key=f"{MAIL_KIND}:{member_id}")
    session.commit()
    return {"queued": len(members)}


# -- one member's e-mail ------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    course_id: int
    text: str


def _lines(
    session: Session, member: Member, rows: list[Notification]
) -> tuple[list[Line], list[int]]:
    """The sentences worth mailing, in the current locale, and the notifications passed over."""
    # The bell is the course's: a launch shows what came before it in that course only.
    launched: dict[int, datetime | None] = {
        row.course_id: row.last_launch_at
        for row in session.execute(
            select(Enrolment.course_id, Enrolment.last_launch_at).where(
                Enrolment.member_id == member.id, Enrolment.status == EnrolmentStatus.ACTIVE
            )
        )
    }
    active = set(launched)
    by_course: dict[int, list[Notification]] = {}
    for n in rows:
        by_course.setdefault(n.course_id, []).append(n)
    lines: list[Line] = []
    passed: list[int] = []
    names = member_names(session, [n.actor_id for n in rows])
    for course_id, notes in by_course.items():
        keys = {(n.subject_type, n.subject_id) for n in notes if registered(n.subject_type)}
        posts = resolve(session, course_id, keys) if course_id in active else {}
        hidden = hidden_subjects(session, course_id, keys) if course_id in active else frozenset()
        for n in notes:
            key = (n.subject_type, n.subject_id)
            gone = key in keys and (key not in posts or posts[key].deleted or key in hidden)
            seen_at = launched.get(course_id)
            if course_id not in active or gone or (seen_at is not None and seen_at >= n.created_at):
                passed.append(n.id)
                continue
            text = sentence(n.kind, f"“{n.excerpt}”" if n.excerpt else _("a question"))
            who = names.get(n.actor_id) if n.actor_id else None
            if who and n.kind != "mentor":  # a sentence naming no post names nobody either
                text = _("%(what)s (%(who)s)", what=text, who=who)
            lines.append(Line(course_id, text))
    return lines, passed


def mail_text(
    session: Session, member: Member, lines: list[Line], unsubscribe_url: str
) -> tuple[str, str]:
    """Subject and body of one member's e-mail, in the current locale."""
    course_ids = list(dict.fromkeys(line.course_id for line in lines))
    titles = {
        c.id: c.title or c.label or c.lms_id
        for c in session.scalars(select(Course).where(Course.id.in_(course_ids)))
    }
    count = len(lines)
    if len(course_ids) == 1:
        subject = ngettext(
            "Bottega: %(num)d update in %(course)s",
            "Bottega: %(num)d updates in %(course)s",
            count,
            course=titles.get(course_ids[0], ""),
        )
    else:
        subject = ngettext(
            "Bottega: %(num)d update in your courses",
            "Bottega: %(num)d updates in your courses",
            count,
        )
    body = [_("Hello %(name)s,", name=member.display_name), ""]
    shown = 0
    for course_id in course_ids:
        if shown >= MAX_LINES:
            break
        body.append(titles.get(course_id, ""))
        for line in (line for line in lines if line.course_id == course_id):
            if shown >= MAX_LINES:
                break
            body.append(f"- {line.text}")
            shown += 1
        body.append("")
    if count > shown:
        body += [ngettext("… and %(num)d more.", "… and %(num)d more.", count - shown), ""]
    body += [
        _("Open Bottega from your course in the LMS to read and reply."),
        "",
        "-- ",
        _(
            "You get this e-mail because these notifications were still unread in Bottega. "
            "To stop these e-mails, open %(url)s or turn them off on My profile in Bottega.",
            url=unsubscribe_url,
        ),
    ]
    return subject, "\n".join(body)


_LOCK_SPACE = 0x4D41494C  # "MAIL": the first key of the job's advisory locks (PostgreSQL)


def _take_turns(session: Session, member_id: int) -> None:
    """Two runs of one member's job (a lease that passed to another worker) take turns: the
    second waits for the first's transaction and sees what it claimed. PostgreSQL: a lock of
    the transaction, apart from the rows (locking the member's row would deadlock with an
    erasure, which deletes the notifications first); SQLite: begin_write made us the only
    writer already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :member)"),
            {"space": _LOCK_SPACE, "member": member_id},
        )


@handler(MAIL_KIND, max_attempts=6)
def mail_member(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    settings = _settings()
    if not mail_on(settings):
        return {"skipped": "off"}
    now = utcnow()
    begin_write(session)
    _take_turns(session, payload["member_id"])
    member = session.get(Member, payload["member_id"])
    if member is None or not member.email or not wants_mail(session, member.id):
        session.rollback()
        return {"skipped": "no address or turned off"}
    address = single_address(member.email)
    if address is None:  # "a@x.org, b@y.org" from the LMS: passed over, not queued again
        passed_over = session.execute(  # type: ignore[attr-defined]
            update(Notification)
            .where(Notification.member_id == member.id, _due(settings, now))
            .values(emailed_at=Notification.created_at)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        return {"skipped": "not one e-mail address", "passed_over": passed_over}
    if _mailed_since(session, member.id, now - timedelta(seconds=settings.notification_mail.gap)):
        # A job queued twice, or queued by a sweep that read before the last e-mail was
        # claimed: what came since waits for the next round after the gap.
        session.rollback()
        return {"skipped": "mailed within the gap"}
    # Claimed before anything is read, by one UPDATE that checks each row is still due: a
    # notification read or claimed by another worker meanwhile is not ours to mail (on
    # PostgreSQL the UPDATE waits for their transaction and checks the row again).
    ids = set(
        session.scalars(
            update(Notification)
            .where(Notification.member_id == member.id, _due(settings, now))
            .values(emailed_at=now)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not ids:
        session.rollback()
        return {"skipped": "nothing due"}
    rows = list(
        session.scalars(
            select(Notification)
            .where(Notification.id.in_(ids))
            .order_by(Notification.created_at, Notification.id)
            .execution_options(populate_existing=True)
        )
    )
    with force_locale(language_for(member.locale)):
        lines, passed = _lines(session, member, rows)
        token = unsubscribe_token(settings.secret_key, member)
        link = f"{settings.public_url or ''}{UNSUBSCRIBE_PATH}/{token}"
        subject, text = mail_text(session, member, lines, link) if lines else ("", "")
    claimed = [n.id for n in rows if n.id not in set(passed)]
    # Claimed before sending: a second worker finds nothing, a crash after this loses the
    # e-mail rather than sending it twice. Passed-over ones get their own created_at (as the
    # migration marked the history): never sent, so they start no gap.
    if passed:
        session.execute(
            update(Notification)
            .where(Notification.id.in_(passed))
            .values(emailed_at=Notification.created_at)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    if not lines:
        return {"sent": False, "passed_over": len(passed)}
    try:
        send_mail(
            settings.mail,
            address,
            subject,
            text,
            headers={
                "List-Unsubscribe": f"<{link}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Auto-Submitted": "auto-generated",
            },
        )
    except MailError as exc:
        if exc.temporary:  # given back: the retry mails them (unless read meanwhile)
            begin_write(session)
            session.execute(
                update(Notification)
                .where(Notification.id.in_(claimed), Notification.emailed_at == now)
                .values(emailed_at=None)
            )
            session.commit()
            raise RetryLater(str(exc)) from exc
        raise PermanentError(str(exc)) from exc
    return {"sent": True, "lines": len(lines), "passed_over": len(passed)}


def _mailed_since(session: Session, member_id: int, since: datetime) -> bool:
    """Whether the member was sent a notification e-mail after ``since``."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Notification.member_id == member_id,
                    Notification.emailed_at > since,
                    Notification.emailed_at != Notification.created_at,
                )
            )
        )
    )


def last_mailed(session: Session, member_id: int) -> datetime | None:
    """When the member was last sent a notification e-mail (for My profile)."""
    value: datetime | None = session.scalar(
        select(func.max(Notification.emailed_at)).where(
            Notification.member_id == member_id,
            Notification.emailed_at != Notification.created_at,
        )
    )
    return value
