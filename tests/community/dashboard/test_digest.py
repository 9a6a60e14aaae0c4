"""The weekly digest: made once per course and week, in-app for staff, e-mailed once each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from flask import Flask
from sqlalchemy import select, update

from lti_tool.community.dashboard.digest import last_week, make_digest
from lti_tool.community.dashboard.models import Digest
from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import record
from lti_tool.community.notifications.models import Notification
from lti_tool.courses.models import Member
from lti_tool.extensions import db, utcnow

from ..conftest import Inbox, mail_app
from ..qa.conftest import PEOPLE, CourseWorld, make_course, make_platform, sign_in


@pytest.fixture
def app(
    database_url: str, tmp_path: Path, keys_dir: Path, inbox: tuple[Inbox, int]
) -> Iterator[Flask]:
    yield from mail_app(database_url, tmp_path, keys_dir, inbox[1])


def lively_course(app: Flask) -> CourseWorld:
    with app.app_context():
        world = make_course(
            make_platform("https://moodle.example.org"), "course-1", PEOPLE, managers=("cm",)
        )
        for key, email, locale in [
            ("prof", "anna@academy.example", "it"),
            ("ta", "luca@academy.example", "en"),
        ]:
            db.session.execute(
                update(Member)
                .where(Member.id == world[key].member_id)
                .values(email=email, locale=locale)
            )
        record(
            db.session,
            course_id=world.course_id,
            member_id=world["giulia"].member_id,
            kind=EventKind.ASK,
            subject_type="qa_question",
            subject_id=1,
            # Wednesday noon of last week, whatever today is.
            at=datetime.combine(last_week(utcnow()) + timedelta(days=2), time(12), tzinfo=UTC),
        )
        db.session.commit()
        return world


def work(app: Flask) -> dict[str, Any]:
    result = app.test_cli_runner().invoke(args=["jobs", "work", "--burst", "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_the_schedule_makes_one_digest_and_mails_each_staff_member_once(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = lively_course(app)
    with app.app_context():
        from lti_tool.community.dashboard.digest import make_due_digests

        made = make_due_digests(db.session, {}, None)  # type: ignore[arg-type]
        again = make_due_digests(db.session, {}, None)  # type: ignore[arg-type]
        assert made is not None and made["made"] == 1 and again is not None and again["made"] == 0
        digest = db.session.scalars(select(Digest)).one()
        assert digest.week_start == last_week(utcnow()) and digest.summary["learners"] == 3
        notified = sorted(
            db.session.scalars(select(Notification.member_id).where(Notification.kind == "digest"))
        )
        assert notified == sorted(world[k].member_id for k in ("prof", "ta", "cm"))
    work(app)
    work(app)  # nothing left: nobody is mailed twice
    messages, _port = inbox[0].messages, inbox[1]
    assert sorted(m["To"] for m in messages) == ["anna@academy.example", "luca@academy.example"]
    italian = next(m for m in messages if m["To"] == "anna@academy.example")
    assert "Riepilogo settimanale di Bottega" in italian["Subject"]
    english = next(m for m in messages if m["To"] == "luca@academy.example")
    assert "Active students (7 days): 1 of 3" in english.get_payload(decode=True).decode()


def test_a_refusing_smtp_server_is_retried_not_lost(app: Flask, inbox: tuple[Inbox, int]) -> None:
    lively_course(app)
    inbox[0].refuse = True
    with app.app_context():
        make_digest(db.session, 1, last_week(utcnow()))
    work(app)
    assert inbox[0].messages == []
    with app.app_context():
        from lti_tool.jobs.models import Job

        statuses = db.session.scalars(select(Job.status).where(Job.kind == "dashboard.digest_mail"))
        assert sorted(statuses) == ["queued", "queued"]  # waiting for their retry, not dead
        db.session.execute(update(Job).values(run_after=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    inbox[0].refuse = False
    work(app)
    assert len(inbox[0].messages) == 2


def test_a_retry_mails_nobody_who_is_no_longer_staff(app: Flask, inbox: tuple[Inbox, int]) -> None:
    """The assistant left the course while the mail server was down: the course's figures are
    no longer theirs, and the retry leaves them out."""
    world = lively_course(app)
    inbox[0].refuse = True
    with app.app_context():
        make_digest(db.session, world.course_id, last_week(utcnow()))
    work(app)
    with app.app_context():
        from lti_tool.courses.models import Enrolment, EnrolmentStatus
        from lti_tool.jobs.models import Job

        db.session.execute(
            update(Enrolment)
            .where(Enrolment.member_id == world["ta"].member_id)
            .values(status=EnrolmentStatus.INACTIVE)
        )
        db.session.execute(update(Job).values(run_after=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    inbox[0].refuse = False
    work(app)
    assert [m["To"] for m in inbox[0].messages] == ["anna@academy.example"]


def test_staff_read_the_digest_and_the_printable_report(app: Flask) -> None:
    world = lively_course(app)
    with app.app_context():
        make_digest(db.session, world.course_id, last_week(utcnow()))
    client = sign_in(app, world, "ta")
    page = client.get("/w/L1/dashboard/digests")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Weekly digests" in html and "/w/L1/dashboard/report?start=" in html
    report = client.get("/w/L1/dashboard/report").get_data(as_text=True)
    assert "Community report" in report and "Print this report" in report
    assert sign_in(app, world, "giulia").get("/w/L1/dashboard/report").status_code == 403
    notes = client.get("/w/L1/qa/notifications").get_data(as_text=True)
    assert "Your weekly community digest is ready" in notes and "/w/L1/dashboard/digests" in notes
    # The week as the page's language writes it, not as stored.
    week = last_week(utcnow())
    assert week.isoformat() not in notes
    assert f">{format_date(week, 'long', locale='en')}</a>" in notes
    italian = client.get("/w/L1/qa/notifications", headers={"Accept-Language": "it"})
    assert f">{format_date(week, 'long', locale='it')}</a>" in italian.get_data(as_text=True)


def test_the_digest_speaks_the_language_of_a_locale_written_any_way(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = lively_course(app)
    with app.app_context():
        db.session.execute(
            update(Member).where(Member.id == world["ta"].member_id).values(locale="IT")
        )
        db.session.commit()
        make_digest(db.session, world.course_id, last_week(utcnow()))
    work(app)
    subjects = {m["To"]: m["Subject"] for m in inbox[0].messages}
    assert "Riepilogo settimanale di Bottega" in subjects["luca@academy.example"]
