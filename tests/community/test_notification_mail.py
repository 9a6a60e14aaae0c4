"""Notification e-mails: what a member has not read, gathered into one message, never twice."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from lti_tool.community.moderation.services import hide_post
from lti_tool.community.notifications import mail
from lti_tool.community.notifications.mail import (
    queue_due_mail,
    set_mail_notifications,
    wants_mail,
)
from lti_tool.community.notifications.models import MemberPreference, Notification
from lti_tool.community.qa import services
from lti_tool.courses.models import Course, Enrolment, EnrolmentStatus, Member
from lti_tool.extensions import db, utcnow
from lti_tool.jobs import enqueue
from lti_tool.jobs.models import Job

from ..lti_harness import LEARNER
from .conftest import Inbox, mail_app
from .qa.conftest import PEOPLE, CourseWorld, form_token, make_course, make_platform, sign_in

PUBLIC_URL = "http://127.0.0.1:8765"
TITLE = "How do I derive x squared?"


@pytest.fixture
def app(
    database_url: str, tmp_path: Path, keys_dir: Path, inbox: tuple[Inbox, int]
) -> Iterator[Flask]:
    # Due at once: the tests move time by editing rows.
    extra = {"PUBLIC_URL": PUBLIC_URL, "NOTIFY_EMAIL_DELAY": "0"}
    yield from mail_app(database_url, tmp_path, keys_dir, inbox[1], **extra)


ADDRESSES = {
    "giulia": ("giulia@academy.example", "it"),
    "marco": ("marco@academy.example", "en"),
    "sara": ("sara@academy.example", "en"),
}


def course(app: Flask) -> CourseWorld:
    """Calculus, on one LMS; three students have an address and a language."""
    with app.app_context():
        world = make_course(make_platform("https://moodle.example.org"), "course-1", PEOPLE)
        db.session.execute(
            update(Course).where(Course.id == world.course_id).values(title="Calculus")
        )
        for key, (email, locale) in ADDRESSES.items():
            db.session.execute(
                update(Member)
                .where(Member.id == world[key].member_id)
                .values(email=email, locale=locale)
            )
        db.session.commit()
        return world


def second_course(app: Flask, world: CourseWorld) -> CourseWorld:
    """Statistics on the same LMS, with the same Giulia and Marco in it."""
    with app.app_context():
        first = db.session.get(Course, world.course_id)
        assert first is not None
        other = Course(
            platform_id=first.platform_id,
            deployment_id=first.deployment_id,
            lms_id="course-2",
            title="Statistics",
        )
        db.session.add(other)
        db.session.flush()
        actors = {}
        for key in ("giulia", "marco"):
            actor = world[key]
            db.session.add(
                Enrolment(course_id=other.id, member_id=actor.member_id, roles=[LEARNER])
            )
            actors[key] = dataclasses.replace(actor, course_id=other.id)
        db.session.commit()
        return CourseWorld(world.platform_id, other.id, actors)


def ask_and_answer(app: Flask, world: CourseWorld, answerer: str = "marco") -> int:
    """Giulia asks, ``answerer`` answers: Giulia has an unread notification."""
    with app.app_context():
        question = services.ask(db.session(), world["giulia"], services.QuestionInput(title=TITLE))
        services.answer(db.session(), world[answerer], question.id, "Use the power rule.")
        db.session.commit()
        question_id = question.id
    work(app)
    with app.app_context():
        # First question, first answer: the badges (awarded by a job) were seen in Bottega:
        # they are mailed as any notification, but here only the answer matters.
        db.session.execute(
            update(Notification).where(Notification.kind == "badge").values(read_at=utcnow())
        )
        db.session.commit()
    return question_id


def launched(world: CourseWorld, key: str, at: Any) -> None:
    """What a launch into the course at ``at`` records (the member's, their enrolment's)."""
    member_id = world[key].member_id
    db.session.execute(update(Member).where(Member.id == member_id).values(last_seen_at=at))
    db.session.execute(
        update(Enrolment)
        .where(Enrolment.member_id == member_id, Enrolment.course_id == world.course_id)
        .values(last_launch_at=at)
    )
    db.session.commit()


def work(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "work", "--burst", "--json"])
    assert result.exit_code == 0, result.output
    json.loads(result.output)


def mail_round(app: Flask) -> None:
    """What the schedule does every few minutes: queue who is due, then the workers send."""
    with app.app_context():
        queue_due_mail(db.session, {}, None)  # type: ignore[arg-type]
    work(app)


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def to(inbox: tuple[Inbox, int]) -> list[str]:
    return [str(m["To"]) for m in inbox[0].messages]


def test_an_unread_answer_is_mailed_once_in_the_members_language(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = course(app)
    ask_and_answer(app, world)
    mail_round(app)
    mail_round(app)  # nothing new: nobody is mailed twice
    assert to(inbox) == ["giulia@academy.example"]  # not the answerer
    message = inbox[0].messages[0]
    assert message["Subject"] == "Bottega: 1 novità in Calculus"
    text = body(message)
    assert "Ciao Giulia Rossi," in text
    assert f"La domanda “{TITLE}” ha una nuova risposta (Marco Bianchi)" in text
    assert "Apri Bottega dal tuo corso" in text
    link = re.search(r"<(http://[^>]+)>", str(message["List-Unsubscribe"]))
    assert link and link.group(1).startswith(f"{PUBLIC_URL}/mail/unsubscribe/")
    assert link.group(1) in text
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_what_was_read_or_seen_in_bottega_is_not_mailed(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = course(app)
    question_id = ask_and_answer(app, world)
    with app.app_context():
        services.set_following(db.session(), world["sara"], question_id, True)
        services.answer(db.session(), world["ta"], question_id, "And the chain rule.")
        db.session.commit()
    client = sign_in(app, world, "giulia")
    page = client.get("/w/L1/qa/notifications").get_data(as_text=True)
    client.post("/w/L1/qa/notifications/read", data={"csrf_token": form_token(page)})
    with app.app_context():  # Sara opened Bottega after the answer came: the bell showed it
        launched(world, "sara", utcnow() + timedelta(seconds=1))
    mail_round(app)
    # An answerer follows the question: Marco hears of the assistant's answer. Giulia read
    # hers in Bottega; Sara opened Bottega after it came.
    assert to(inbox) == ["marco@academy.example"]
    assert "(Luca Gallo)" in body(inbox[0].messages[0])
    with app.app_context():
        sara = db.session.scalars(
            select(Notification).where(Notification.member_id == world["sara"].member_id)
        ).one()
        assert sara.emailed_at == sara.created_at  # passed over: never sent
        giulia = db.session.scalars(
            select(Notification).where(
                Notification.member_id == world["giulia"].member_id, Notification.kind == "answer"
            )
        ).all()
        assert len(giulia) == 2 and all(n.emailed_at is None for n in giulia)  # read: not due


def test_one_email_gathers_every_course_and_the_gap_holds_the_next(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    first = course(app)
    second = second_course(app, first)
    ask_and_answer(app, first)
    ask_and_answer(app, first, answerer="ta")
    ask_and_answer(app, second)
    mail_round(app)
    assert to(inbox) == ["giulia@academy.example"]
    message = inbox[0].messages[0]
    assert message["Subject"] == "Bottega: 3 novità nei tuoi corsi"
    text = body(message)
    assert text.index("Calculus") < text.index("(Luca Gallo)") < text.index("Statistics")
    assert text.count("(Marco Bianchi)") == 2
    ask_and_answer(app, first, answerer="sara")  # within the hour: waits
    mail_round(app)
    assert len(inbox[0].messages) == 1
    with app.app_context():  # an hour later
        db.session.execute(
            update(Notification)
            .where(Notification.emailed_at > Notification.created_at)
            .values(emailed_at=utcnow() - timedelta(hours=1, seconds=1))
        )
        db.session.commit()
    mail_round(app)
    assert len(inbox[0].messages) == 2
    assert "(Sara Verdi)" in body(inbox[0].messages[1])
    assert "Marco Bianchi" not in body(inbox[0].messages[1])


def test_posts_hidden_or_deleted_since_and_courses_left_are_passed_over(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = course(app)
    question_id = ask_and_answer(app, world)
    with app.app_context():
        services.set_following(db.session(), world["sara"], question_id, True)
        services.set_following(db.session(), world["marco"], question_id, True)
        services.answer(db.session(), world["ta"], question_id, "Deleted soon.")
        db.session.commit()
        services.delete_question(db.session(), world["prof"], question_id)
        db.session.execute(
            update(Enrolment)
            .where(Enrolment.member_id == world["marco"].member_id)
            .values(status=EnrolmentStatus.INACTIVE)
        )
        db.session.commit()
    mail_round(app)
    assert to(inbox) == []
    with app.app_context():  # passed over for good: marked, never sent
        students = [world[k].member_id for k in ADDRESSES]
        rows = db.session.scalars(
            select(Notification).where(
                Notification.member_id.in_(students), Notification.read_at.is_(None)
            )
        ).all()
        assert len(rows) >= 3 and all(n.emailed_at == n.created_at for n in rows)


def test_a_question_hidden_since_is_not_mailed(app: Flask, inbox: tuple[Inbox, int]) -> None:
    world = course(app)
    question_id = ask_and_answer(app, world)
    with app.app_context():
        hide_post(
            db.session(), world.course_id, world["prof"].member_id, "qa_question", question_id, "x"
        )
        db.session.commit()
    mail_round(app)
    assert inbox[0].messages == []


def test_an_smtp_server_saying_try_later_gets_the_same_mail_once_later(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = course(app)
    ask_and_answer(app, world)
    inbox[0].refuse = True
    mail_round(app)
    assert inbox[0].messages == []
    with app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == "notifications.mail")).one()
        assert job.status == "queued" and job.attempts == 1
        assert db.session.scalar(select(Notification.emailed_at)) is None  # given back
        db.session.execute(update(Job).values(run_after=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    inbox[0].refuse = False
    mail_round(app)
    mail_round(app)
    assert to(inbox) == ["giulia@academy.example"]


def test_old_notifications_and_members_without_an_address_get_no_mail(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = course(app)
    ask_and_answer(app, world)
    with app.app_context():
        db.session.execute(update(Notification).values(created_at=utcnow() - timedelta(days=3)))
        db.session.commit()
    ask_and_answer(app, world)
    with app.app_context():
        db.session.execute(
            update(Member).where(Member.id == world["giulia"].member_id).values(email=None)
        )
        db.session.commit()
    mail_round(app)
    assert inbox[0].messages == []


def test_the_link_in_the_email_stops_them_without_a_launch(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = course(app)
    ask_and_answer(app, world)
    mail_round(app)
    link = re.search(r"<(http://[^>]+)>", str(inbox[0].messages[0]["List-Unsubscribe"]))
    assert link
    path = link.group(1)[len(PUBLIC_URL) :]
    browser = app.test_client()
    page = browser.get(path, headers={"Accept-Language": "it"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"  # one reader's page, their language
    assert "Accept-Language" in page.headers["Vary"]
    assert "Non inviarmi più queste e-mail" in page.get_data(as_text=True)
    with app.app_context():  # opening the link (a mail scanner does) changes nothing
        assert wants_mail(db.session(), world["giulia"].member_id)
    # The mail program's one-click post: no cookie, no form token.
    done = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "will not e-mail you about notifications any more" in done.get_data(as_text=True)
    ask_and_answer(app, world, answerer="sara")
    with app.app_context():  # even what was mailed before is due again: still nothing
        db.session.execute(
            update(Notification)
            .where(Notification.member_id == world["giulia"].member_id)
            .values(emailed_at=None, read_at=None)
        )
        db.session.commit()
    mail_round(app)
    assert to(inbox).count("giulia@academy.example") == 1
    broken = browser.get(path[:-6], headers={"Accept-Language": "it"})
    assert broken.status_code == 400
    assert "Questo link non è valido" in broken.get_data(as_text=True)
    assert browser.post(path[:-6]).status_code == 400


def test_my_profile_turns_the_emails_off_and_on(app: Flask, inbox: tuple[Inbox, int]) -> None:
    world = course(app)
    client = sign_in(app, world, "marco")
    page = client.get("/w/L1/me").get_data(as_text=True)
    assert "marco@academy.example" in page
    assert re.search(r'id="mail_notifications"[^>]* checked', page)
    assert '<label for="mail_notifications">' in page
    assert client.post("/w/L1/me/mail", data={}).status_code == 400  # no form token
    off = client.post("/w/L1/me/mail", data={"csrf_token": form_token(page)})
    assert off.status_code == 303
    page = client.get("/w/L1/me").get_data(as_text=True)
    assert "Bottega will not e-mail you about notifications." in page
    assert not re.search(r'id="mail_notifications"[^>]* checked', page)
    client.post("/w/L1/me/mail", data={"csrf_token": form_token(page), "mail_notifications": "on"})
    with app.app_context():
        assert wants_mail(db.session(), world["marco"].member_id)
    nobody = sign_in(app, world, "prof")  # the LMS shared no address
    assert "did not share an e-mail address" in nobody.get("/w/L1/me").get_data(as_text=True)


def test_a_course_title_with_line_breaks_makes_a_one_line_subject(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    world = course(app)
    with app.app_context():
        db.session.execute(
            update(Course)
            .where(Course.id == world.course_id)
            .values(title="Calculus\r\nBcc: everyone@example.org")
        )
        db.session.commit()
    ask_and_answer(app, world)
    mail_round(app)
    assert to(inbox) == ["giulia@academy.example"]
    message = inbox[0].messages[0]
    assert message["Subject"] == "Bottega: 1 novità in Calculus Bcc: everyone@example.org"
    assert message["Bcc"] is None


# -- races: what another transaction does between the job's reading and its claiming ------------


def competing(statement: Any) -> bool:
    """Run ``statement`` on a connection of its own, as another worker or a page would, without
    waiting long for locks the job holds; whether it was done (else it comes after the job)."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET lock_timeout = '300ms'")
        else:
            connection.exec_driver_sql("PRAGMA busy_timeout = 300")
        try:
            connection.execute(statement)
            connection.commit()
        except OperationalError:
            connection.rollback()
            return False
    return True


def while_the_job_reads(monkeypatch: pytest.MonkeyPatch, statement: Any) -> list[bool]:
    """Run ``statement`` from another connection while the mail job prepares its e-mail."""
    done: list[bool] = []
    original = mail._lines

    def lines(session: Any, member: Any, rows: Any) -> Any:
        if not done:
            done.append(competing(statement))
        return original(session, member, rows)

    monkeypatch.setattr(mail, "_lines", lines)
    return done


def test_what_the_member_reads_while_the_job_prepares_is_not_mailed(
    app: Flask, inbox: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marking all as read at the moment the job works: either the read comes first and nothing
    is mailed, or the job's claim does and the read waits for it; never an e-mail listing what
    was read before it was claimed."""
    world = course(app)
    ask_and_answer(app, world)
    read = while_the_job_reads(
        monkeypatch,
        update(Notification)
        .where(Notification.member_id == world["giulia"].member_id)
        .values(read_at=utcnow()),
    )
    mail_round(app)
    assert len(read) == 1
    assert to(inbox) == ([] if read[0] else ["giulia@academy.example"])


def test_notifications_another_worker_claimed_meanwhile_are_not_mailed_again(
    app: Flask, inbox: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second run of the member's job (a lease that passed to another worker) claims the same
    notifications while this one works: only one of the two may mail them."""
    world = course(app)
    ask_and_answer(app, world)
    claimed = while_the_job_reads(
        monkeypatch,
        update(Notification)
        .where(Notification.emailed_at.is_(None))
        .values(emailed_at=utcnow() - timedelta(seconds=5)),
    )
    mail_round(app)
    assert len(claimed) == 1
    assert to(inbox) == ([] if claimed[0] else ["giulia@academy.example"])


def test_the_gap_holds_in_the_members_job_too(app: Flask, inbox: tuple[Inbox, int]) -> None:
    """A job queued again within the gap (a sweep that read before the last e-mail was claimed,
    a lease passed to another worker) sends nothing: at most one e-mail per member per gap."""
    world = course(app)
    ask_and_answer(app, world)
    mail_round(app)
    assert to(inbox) == ["giulia@academy.example"]
    ask_and_answer(app, world, answerer="sara")
    with app.app_context():
        enqueue(db.session(), mail.MAIL_KIND, {"member_id": world["giulia"].member_id})
        db.session.commit()
    work(app)
    assert len(inbox[0].messages) == 1
    with app.app_context():  # still due: the next round after the gap mails it
        assert db.session.scalar(
            select(Notification.id).where(
                Notification.member_id == world["giulia"].member_id,
                Notification.emailed_at.is_(None),
                Notification.read_at.is_(None),
            )
        )


def test_news_that_moves_an_unread_notification_up_is_mailed(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    """A second answer by the same classmate moves the unread notification up rather than adding
    one: that is news for the e-mail too, whether the first was mailed or passed over."""
    world = course(app)
    question_id = ask_and_answer(app, world)
    mail_round(app)
    assert to(inbox) == ["giulia@academy.example"]
    with app.app_context():  # an hour later, still unread: Marco answers again
        db.session.execute(
            update(Notification)
            .where(Notification.emailed_at > Notification.created_at)
            .values(emailed_at=utcnow() - timedelta(hours=1, seconds=1))
        )
        services.answer(db.session(), world["marco"], question_id, "Or expand (x+h)^2.")
        db.session.commit()
    mail_round(app)
    assert to(inbox) == ["giulia@academy.example"] * 2
    assert "(Marco Bianchi)" in body(inbox[0].messages[1])
    # Passed over (Giulia had Bottega open), then news again: mailed, and no gap taken for it.
    with app.app_context():
        db.session.execute(update(Notification).values(emailed_at=None, read_at=utcnow()))
        db.session.commit()
    question_id = ask_and_answer(app, world)
    with app.app_context():
        launched(world, "giulia", utcnow() + timedelta(seconds=1))
    mail_round(app)
    assert len(inbox[0].messages) == 2
    with app.app_context():
        launched(world, "giulia", None)
        services.answer(db.session(), world["marco"], question_id, "Or expand (x+h)^2.")
        db.session.commit()
    mail_round(app)
    assert len(inbox[0].messages) == 3


@pytest.mark.parametrize(
    "address",
    ["giulia@academy.example, everyone@example.org", "giulia@academy.example\nBcc: x@example.org"],
)
def test_an_lms_address_that_is_not_one_address_gets_no_mail(
    app: Flask, inbox: tuple[Inbox, int], address: str
) -> None:
    """The address comes from the LMS as any text: a list would send Giulia's e-mail to
    everyone on it; it is passed over (and not queued again every few minutes)."""
    world = course(app)
    ask_and_answer(app, world)
    with app.app_context():
        db.session.execute(
            update(Member).where(Member.id == world["giulia"].member_id).values(email=address)
        )
        db.session.commit()
    mail_round(app)
    assert inbox[0].messages == []
    with app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == "notifications.mail")).one()
        assert job.status == "done"
        settings = app.extensions["bottega_settings"]
        assert mail.due_members(db.session(), settings, utcnow()) == []


@pytest.mark.parametrize(
    ("locale", "hello"),
    [("it-IT", "Ciao"), ("it_IT", "Ciao"), ("IT", "Ciao"), ("pt-BR", "Hello"), (None, "Hello")],
)
def test_the_email_is_in_the_language_the_launch_chooses(
    app: Flask, inbox: tuple[Inbox, int], locale: str | None, hello: str
) -> None:
    world = course(app)
    with app.app_context():
        db.session.execute(
            update(Member).where(Member.id == world["giulia"].member_id).values(locale=locale)
        )
        db.session.commit()
    ask_and_answer(app, world)
    mail_round(app)
    assert body(inbox[0].messages[0]).startswith(f"{hello} Giulia Rossi,")


def test_an_anonymous_post_is_mailed_without_its_authors_name(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    """An anonymous answer, and the acceptance by who asked anonymously: the e-mail names
    nobody (the notifications carry no actor)."""
    world = course(app)
    with app.app_context():
        session = db.session()
        question = services.ask(
            session, world["giulia"], services.QuestionInput(title=TITLE, anonymous=True)
        )
        post = services.answer(session, world["marco"], question.id, "Power rule.", anonymous=True)
        services.answer(session, world["sara"], question.id, "The chain rule.")
        services.accept(session, world["giulia"], post.id)
        session.execute(
            update(Notification).where(Notification.kind == "badge").values(read_at=utcnow())
        )
        session.commit()
    mail_round(app)
    assert sorted(to(inbox)) == [
        "giulia@academy.example",
        "marco@academy.example",
        "sara@academy.example",
    ]
    mailed = {str(m["To"]): body(m) for m in inbox[0].messages}
    assert "(Sara Verdi)" in mailed["giulia@academy.example"]
    assert "Marco Bianchi" not in mailed["giulia@academy.example"]
    assert "Marco Bianchi" not in mailed["sara@academy.example"]  # a follower of the question
    assert "accepted" in mailed["marco@academy.example"]
    assert "Giulia Rossi" not in mailed["marco@academy.example"]
    assert "Giulia Rossi" not in mailed["sara@academy.example"]


def test_a_job_queued_before_an_erasure_sends_nothing(app: Flask, inbox: tuple[Inbox, int]) -> None:
    from lti_tool.sync.privacy import erase_member

    world = course(app)
    ask_and_answer(app, world)
    with app.app_context():
        queue_due_mail(db.session, {}, None)  # type: ignore[arg-type]
        giulia = db.session.get(Member, world["giulia"].member_id)
        assert giulia is not None
        erase_member(db.session(), giulia, route="cli")
    work(app)
    assert inbox[0].messages == []
    with app.app_context():
        assert db.session.scalar(select(Job.result).where(Job.kind == mail.MAIL_KIND)) == {
            "skipped": "no address or turned off"
        }


def test_every_kind_reads_as_a_sentence_and_removed_posts_are_passed_over(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    """Group messages and welcomes (their own subject types, registered with moderation): a
    deleted or hidden one is passed over; every other capability's kind is one sentence."""
    from lti_tool.community.groups import services as groups
    from lti_tool.community.groups.permissions import Actor as GroupActor
    from lti_tool.community.notifications.services import notify
    from lti_tool.community.welcome import services as welcome

    world = course(app)
    giulia = world["giulia"].member_id

    def of_groups(key: str) -> GroupActor:
        a = world[key]
        return GroupActor(a.member_id, a.course_id, a.role, a.community_manager)

    with app.app_context():
        session = db.session()
        data = groups.SetInput(name="Study", group_size=4, mode="manual", group_count=1)
        group_set = groups.create_set(session, of_groups("prof"), data, seed=42)
        [group] = groups._set_groups(session, group_set.id)
        for key in ("giulia", "marco"):
            groups.move_member(
                session, of_groups("prof"), group_set.id, world[key].member_id, group.id
            )
        groups.add_post(session, of_groups("marco"), group.id, "See you on Thursday")
        gone = groups.add_post(session, of_groups("marco"), group.id, "My number is 333 1234567")
        groups.delete_post(session, of_groups("marco"), gone.id)
        intro = welcome.introduce(session, world.course_id, giulia, "Hi, I am Giulia")
        welcome.welcome(session, world.course_id, world["marco"].member_id, intro.id, "Welcome!")
        rude = welcome.welcome(session, world.course_id, world["sara"].member_id, intro.id, "Rude")
        hide_post(session, world.course_id, world["prof"].member_id, "welcome_reply", rude.id, "x")
        for kind, subject_type, excerpt in [
            ("kudos", "kudos_award", "Great explanation"),
            ("nudge", "reach_out", "How is it going?"),
            ("moderation_warning", "moderation_action", "Please be kind"),
            ("badge", "recognition_badge", "First question"),
            ("mentor", "enrolment", ""),
        ]:
            notify(
                session,
                course_id=world.course_id,
                recipients=[giulia],
                kind=kind,
                subject_type=subject_type,
                subject_id=1,
                actor_id=None if kind == "badge" else world["prof"].member_id,
                excerpt=excerpt,
            )
        session.execute(update(Member).values(locale="en"))
        session.commit()
    mail_round(app)
    text = body(inbox[0].messages[0])
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert sorted(lines) == sorted(
        [
            "- New message in your group: “Group 1: See you on Thursday” (Marco Bianchi)",
            "- Someone welcomed you in Introductions: “Welcome!” (Marco Bianchi)",
            "- You received kudos: “Great explanation” (Anna Neri)",
            "- A message from your course staff: “How is it going?” (Anna Neri)",
            "- A message from the moderators: “Please be kind” (Anna Neri)",
            "- You earned a badge: “First question”",
            "- You are now a peer mentor in this course.",
        ]
    )
    assert "333" not in text and "Rude" not in text


def test_an_unsubscribe_link_stops_only_the_person_it_was_sent_to(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    """The link names the member's row and who they are: signed with the same SECRET_KEY for
    member 5 of another database (a second deployment, a staging copy), it stops nobody here."""
    world = course(app)
    ask_and_answer(app, world)
    mail_round(app)
    link = re.search(r"<(http://[^>]+)>", str(inbox[0].messages[0]["List-Unsubscribe"]))
    assert link
    path = link.group(1)[len(PUBLIC_URL) :]
    with app.app_context():  # the same row id is someone else there
        db.session.execute(
            update(Member)
            .where(Member.id == world["giulia"].member_id)
            .values(lms_id="someone-else")
        )
        db.session.commit()
    browser = app.test_client()
    assert browser.get(path).status_code == 400
    assert browser.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 400
    with app.app_context():
        assert wants_mail(db.session(), world["giulia"].member_id)


def test_a_choice_stored_while_another_request_stores_it_does_not_fail(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    """The mail program's one-click post and the member's click on the button, at once: the
    member's first choice is written by one INSERT ... ON CONFLICT, so the other request waits
    for it instead of both inserting (the second commit failed with an IntegrityError)."""
    world = course(app)
    giulia = world["giulia"].member_id
    with app.app_context():
        session = db.session()
        assert set_mail_notifications(session, giulia, False)
        other = competing(
            MemberPreference.__table__.insert().values(
                member_id=giulia, mail_notifications=False, updated_at=utcnow()
            )
        )
        session.commit()
        assert not wants_mail(db.session(), giulia)
    assert other is False  # it had to wait for the first


def test_two_runs_of_a_members_job_at_once_send_one_email(
    app: Flask, inbox: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """A second run starts while the first is between its claim and its commit, and news came
    meanwhile: the second waits for the first and then keeps to the gap. (SQLite: begin_write
    makes each run the only writer, and the news could not be written meanwhile.)"""
    if database_url.startswith("sqlite"):
        pytest.skip("concurrent writers: PostgreSQL")
    world = course(app)
    question_id = ask_and_answer(app, world)
    giulia = world["giulia"].member_id
    second: list[Any] = []
    original = mail._lines

    def run_again() -> None:
        with app.app_context():
            second.append(mail.mail_member(db.session(), {"member_id": giulia}, None))  # type: ignore[arg-type]
            db.session.remove()

    def lines(session: Any, member: Any, rows: Any) -> Any:
        if not second and not hasattr(lines, "thread"):
            with db.engine.connect() as other:  # Sara answers too: news the first did not claim
                other.execute(
                    Notification.__table__.insert().values(
                        course_id=world.course_id,
                        member_id=giulia,
                        kind="answer",
                        actor_id=world["sara"].member_id,
                        subject_type="qa_question",
                        subject_id=question_id,
                        excerpt=TITLE,
                        created_at=utcnow() - timedelta(seconds=1),
                    )
                )
                other.commit()
            lines.thread = threading.Thread(target=run_again)  # type: ignore[attr-defined]
            lines.thread.start()  # type: ignore[attr-defined]
            lines.thread.join(1.0)  # type: ignore[attr-defined]
        return original(session, member, rows)

    monkeypatch.setattr(mail, "_lines", lines)
    mail_round(app)
    lines.thread.join(10)  # type: ignore[attr-defined]
    assert second == [{"skipped": "mailed within the gap"}]
    assert to(inbox) == ["giulia@academy.example"]


def test_a_launch_into_one_course_passes_over_only_that_courses_notifications(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    """Giulia opens Calculus after an answer came in Statistics: Calculus' bell does not show
    it, so the e-mail still does."""
    first = course(app)
    second = second_course(app, first)
    ask_and_answer(app, second)
    with app.app_context():
        launched(first, "giulia", utcnow() + timedelta(seconds=1))
    mail_round(app)
    assert to(inbox) == ["giulia@academy.example"]
    assert "Statistics" in body(inbox[0].messages[0])


@pytest.mark.parametrize("inbox", [{"enable_SMTPUTF8": False}], indirect=True)
def test_an_address_the_smtp_server_cannot_take_is_not_retried(
    app: Flask, inbox: tuple[Inbox, int]
) -> None:
    """A Unicode address and a server without SMTPUTF8: no retry
    every few minutes for two days, the member's next e-mail waits for the gap as usual."""
    world = course(app)
    ask_and_answer(app, world)
    with app.app_context():
        db.session.execute(
            update(Member)
            .where(Member.id == world["giulia"].member_id)
            .values(email="giulià@académie.example")
        )
        db.session.commit()
    mail_round(app)
    assert inbox[0].messages == []
    with app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == "notifications.mail")).one()
        assert job.attempts == 1 and job.status != "queued", job.last_error
        assert "not supported" in (job.last_error or "")
