"""`flask db upgrade` builds the schema from empty, is idempotent, and matches the models."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text

from lti_tool.community.qa import queries, search, services
from lti_tool.extensions import db
from lti_tool.jobs import enqueue

from .community.qa.conftest import PEOPLE, CourseWorld, make_course, make_platform

EXPECTED = {"platform", "platform_deployment", "course", "member", "enrolment", "placement"}


def test_upgrade_from_empty_creates_every_table(app: Flask) -> None:
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert tables >= EXPECTED
    assert "alembic_version" in tables


def test_second_upgrade_is_a_no_op(app: Flask) -> None:
    with app.app_context():
        before = _revision()
        upgrade()
        assert _revision() == before


def test_migrations_match_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_search_survives_0019_down_and_up(app: Flask) -> None:
    """0019 moves PostgreSQL's vectors from qa_question to qa_question_search and back: the
    questions asked on either side of it are found after each step."""

    def ask(world: CourseWorld, title: str) -> int:
        data = services.QuestionInput(title=title, body="")
        return services.ask(db.session(), world["giulia"], data).id

    def found(world: CourseWorld, query: str) -> list[int]:
        filters = queries.ListFilters(query=query)
        page = queries.list_questions(db.session(), world["marco"], filters)
        return [item.id for item in page.items]

    def layout() -> tuple[bool, bool]:
        db.session.remove()
        found = inspect(db.engine)
        columns = {c["name"] for c in found.get_columns("qa_question")}
        return "search_vector" in columns, found.has_table("qa_question_search")

    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        world = make_course(make_platform("https://moodle.example.org"), "c-1", PEOPLE)
        before = ask(world, "Teorema di Rolle")
        db.session.remove()
        try:
            downgrade(revision="0018_mentor_endorsement")
            assert layout() == (True, False)
            if postgres:  # the vectors came back to qa_question
                vector = "SELECT search_vector::text FROM qa_question WHERE id = :id"
                assert "'roll'" in db.session.scalar(text(vector), {"id": before})
            during = ask(world, "Teorema di Lagrange")  # the 0018 trigger indexes it
            _as_before_0020(world, during, "Teorema di Lagrange")
            db.session.commit()
            db.session.remove()
        finally:
            upgrade()
        assert layout() == (False, postgres)
        assert sorted(found(world, "teorema")) == sorted([before, during])
        assert found(world, "lagrange") == [during]


def _as_before_0020(world: CourseWorld, question_id: int, title: str, body: str = "") -> None:
    """Give a question the stored search text services wrote before 0020 (a course word
    first in the title, bare forms)."""
    old_title = " ".join([f"qacourse{world.course_id}", *search.terms(title)])
    db.session.execute(
        text("UPDATE qa_question SET search_title = :t, search_body = :b WHERE id = :id"),
        {"t": old_title, "b": " ".join(search.terms(body)), "id": question_id},
    )


def test_search_survives_0020_down_and_up(app: Flask) -> None:
    """0020 rewrites the stored search text from a course word to course-prefixed forms and
    back: questions asked on either side of it are found after each step, in their course only,
    whole words and prefixes."""

    def ask(world: CourseWorld, title: str, body: str = "") -> int:
        data = services.QuestionInput(title=title, body=body)
        return services.ask(db.session(), world["giulia"], data).id

    def found(world: CourseWorld, query: str) -> list[int]:
        filters = queries.ListFilters(query=query)
        page = queries.list_questions(db.session(), world["marco"], filters)
        return sorted(item.id for item in page.items)

    def prefixed(world: CourseWorld, query: str) -> list[int]:
        """Matches of a query whose last word is a prefix (as duplicate suggestions ask)."""
        ranked = search.ranked(db.session(), world.course_id, query, limit=5, prefix_last=True)
        assert ranked is not None
        return sorted(db.session.scalars(select(ranked.c.id)))

    def stored(question_id: int) -> tuple[str, str]:
        row = db.session.execute(
            text("SELECT search_title, search_body FROM qa_question WHERE id = :id"),
            {"id": question_id},
        ).one()
        return row[0], row[1]

    def old_search(world: CourseWorld, word: str) -> list[int]:
        """How 0019's code searched (a course word AND the form) on its own index."""
        form = search.forms(word)[0]
        if db.engine.dialect.name == "postgresql":
            sql = (
                "SELECT question_id FROM qa_question_search WHERE course_id = :course "
                "AND search_vector @@ to_tsquery('simple', :form) ORDER BY question_id"
            )
            params = {"course": world.course_id, "form": form}
        else:
            sql = "SELECT rowid FROM qa_question_fts WHERE qa_question_fts MATCH :m ORDER BY rowid"
            params = {"m": f'"qacourse{world.course_id}" AND "{form}"'}
        return list(db.session.scalars(text(sql), params))

    with app.app_context():
        platform = make_platform("https://moodle.example.org")
        world, other = make_course(platform, "c-1", PEOPLE), make_course(platform, "c-2", PEOPLE)
        before = ask(world, "Teorema di Rolle", "una funzione derivabile")
        elsewhere = ask(other, "Teorema di Rolle", "una funzione derivabile")
        new_format = stored(before)
        prefix = f"c{world.course_id}x"
        assert new_format[0].split() == [prefix + t for t in search.terms("Teorema di Rolle")]
        assert f"{prefix}roll" in new_format[0].split()
        db.session.remove()
        try:
            downgrade(revision="0019_qa_search_table")
            assert stored(before) == (
                " ".join([f"qacourse{world.course_id}", *search.terms("Teorema di Rolle")]),
                " ".join(search.terms("una funzione derivabile")),
            )
            assert old_search(world, "rolle") == [before]
            assert old_search(world, "derivabile") == [before]
            during = ask(world, "Teorema di Lagrange", "derivabile in un intervallo")
            _as_before_0020(world, during, "Teorema di Lagrange", "derivabile in un intervallo")
            db.session.commit()
            assert old_search(world, "lagrange") == [during]
            db.session.remove()
        finally:
            upgrade()
        assert stored(before) == new_format
        assert found(world, "teorema") == sorted([before, during])
        assert found(world, "lagrange") == [during]
        assert found(other, "teorema rolle") == [elsewhere]
        assert found(other, "lagrange") == []
        assert prefixed(world, "derivabile interv") == [during]
        assert prefixed(other, "derivabile interv") == []


def _gin_options() -> list[str] | None:
    found = db.session.execute(
        text("SELECT reloptions FROM pg_class WHERE relname = 'ix_qa_question_search_gin'")
    ).scalar_one()
    db.session.commit()
    return list(found) if found else None


def test_postgresql_search_index_keeps_no_pending_list_0021_down_and_up(app: Flask) -> None:
    """0021: searches never scan a GIN pending list (fastupdate off); the downgrade resets it."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("a PostgreSQL index setting (SQLite's FTS5 has no pending list)")
        assert _gin_options() == ["fastupdate=off"]
        db.session.remove()
        downgrade(revision="0020_qa_search_course_terms")
        assert _gin_options() is None
        db.session.remove()
        upgrade()
        assert _gin_options() == ["fastupdate=off"]


def test_cli_upgrade_on_an_empty_sqlite_file(tmp_path: Path, keys_dir: Path) -> None:
    from flask.testing import FlaskCliRunner

    from lti_tool import create_app

    from .conftest import base_config

    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL=url))
    runner = FlaskCliRunner(app)
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) >= EXPECTED
        db.engine.dispose()


def _revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_0022_keeps_pending_jobs_and_asks_none_of_them_again(app: Flask) -> None:
    """0022 adds job_outbox.rerun to a table that may hold queued and running jobs."""
    with app.app_context():
        job_id = enqueue(db.session(), "roster.sync", {"course_id": 1}, key="roster.sync:1")
        db.session.commit()
        db.session.remove()
        try:
            downgrade(revision="0021_qa_search_gin_no_pending")
            columns = {c["name"] for c in inspect(db.engine).get_columns("job_outbox")}
            assert "rerun" not in columns and "rerun_payload" not in columns
        finally:
            upgrade()
        db.session.remove()
        row = db.session.execute(
            text("SELECT status, active_key, rerun, rerun_payload FROM job_outbox WHERE id = :id"),
            {"id": job_id},
        ).one()
    assert row.status == "queued" and row.active_key == "roster.sync:1"
    assert not row.rerun and row.rerun_payload is None


def test_0023_takes_back_what_posts_deleted_before_earned_their_authors(app: Flask) -> None:
    """Events recorded on posts deleted before deleting took them back: the author's go, the
    voter's stay, and finished weeks are computed again."""
    from lti_tool.community.dashboard import metrics
    from lti_tool.community.engagement.models import EventKind, ParticipationEvent, WeekFigures
    from lti_tool.community.engagement.services import record
    from lti_tool.extensions import utcnow

    with app.app_context():
        world = make_course(make_platform("https://lms.example.org"), "c1", PEOPLE)
        session = db.session()
        kept = services.ask(session, world["giulia"], services.QuestionInput(title="Resta qui"))
        gone = services.ask(session, world["giulia"], services.QuestionInput(title="Cancellata"))
        answer = services.answer(session, world["marco"], kept.id, "Una risposta")
        gone_id, answer_id = gone.id, answer.id
        # As before the rule: the post deleted, its events left in place.
        for member, kind, subject_type, subject_id in (
            ("giulia", EventKind.ASK, "qa_question", gone_id),
            ("giulia", EventKind.UPVOTE_RECEIVED, "qa_question", gone_id),
            ("marco", EventKind.UPVOTE, "qa_question", gone_id),
            ("marco", EventKind.ANSWER, "qa_answer", answer_id),
        ):
            record(
                session,
                course_id=world.course_id,
                member_id=world[member].member_id,
                kind=kind,
                subject_type=subject_type,
                subject_id=subject_id,
            )
        session.execute(
            text("UPDATE qa_question SET deleted_at = :now WHERE id = :id"),
            {"now": utcnow(), "id": gone_id},
        )
        session.commit()
        last_week = metrics.monday(utcnow().date()) - timedelta(weeks=1)
        metrics.weekly(session, world.course_id, last_week, last_week)  # stores the week
        session.commit()
        session.close()
        db.session.remove()
        downgrade(revision="0022_job_rerun")
        upgrade()
        db.session.remove()
        left = db.session.execute(
            select(ParticipationEvent.member_id, ParticipationEvent.kind).where(
                ParticipationEvent.subject_type == "qa_question",
                ParticipationEvent.subject_id == gone_id,
            )
        ).all()
        assert left == [(world["marco"].member_id, EventKind.UPVOTE.value)]
        answered = db.session.scalar(
            select(func.count()).where(
                ParticipationEvent.subject_type == "qa_answer",
                ParticipationEvent.subject_id == answer_id,
                ParticipationEvent.kind == EventKind.ANSWER.value,
            )
        )
        assert answered == 2  # the answer is not deleted: its events stay
        assert db.session.scalar(select(func.count()).select_from(WeekFigures)) == 0


def test_0024_points_old_welcomes_at_their_reply(app: Flask) -> None:
    """A welcome written before 0024 named the introduction in its event and notification:
    both now name the reply, so that hiding the reply reaches them."""
    from lti_tool.community.engagement.models import ParticipationEvent
    from lti_tool.community.notifications.models import Notification
    from lti_tool.community.welcome import services as welcome

    with app.app_context():
        world = make_course(make_platform("https://lms.example.org"), "c1", PEOPLE)
        session = db.session()
        intro = welcome.introduce(session, world.course_id, world["giulia"].member_id, "Ciao!")
        first = welcome.welcome(session, world.course_id, world["marco"].member_id, intro.id, "Hi")
        again = welcome.welcome(session, world.course_id, world["marco"].member_id, intro.id, "!")
        ids = (intro.id, first.id, again.id)
        # As written before: the introduction named, not the reply.
        for statement in (
            "UPDATE engagement_event SET subject_type = 'welcome_introduction', subject_id = :i"
            " WHERE kind = 'welcome'",
            "UPDATE notification SET subject_type = 'welcome_introduction', subject_id = :i"
            " WHERE kind = 'welcome'",
        ):
            session.execute(text(statement), {"i": ids[0]})
        session.commit()
        session.close()
        db.session.remove()
        downgrade(revision="0023_forget_deleted_posts_events")
        upgrade()
        db.session.remove()
        events = db.session.execute(
            select(ParticipationEvent.subject_type, ParticipationEvent.subject_id)
            .where(ParticipationEvent.kind == "welcome")
            .order_by(ParticipationEvent.id)
        ).all()
        notes = db.session.execute(
            select(Notification.subject_type, Notification.subject_id)
            .where(Notification.kind == "welcome")
            .order_by(Notification.id)
        ).all()
    assert events == [("welcome_reply", ids[1]), ("welcome_reply", ids[2])]
    assert notes == [("welcome_reply", ids[1]), ("welcome_reply", ids[2])]


def test_0025_counts_the_notifications_already_there_as_mailed(app: Flask) -> None:
    """Turning notification e-mails on mails no history: what is there counts as passed over,
    and every member gets the e-mails unless they turn them off."""
    from lti_tool.community.notifications.mail import due_members, wants_mail
    from lti_tool.community.notifications.models import Notification
    from lti_tool.community.notifications.services import notify
    from lti_tool.config import NotificationMailSettings
    from lti_tool.extensions import utcnow

    with app.app_context():
        world = make_course(make_platform("https://lms.example.org"), "c1", PEOPLE)
        session = db.session()
        giulia = world["giulia"].member_id
        notify(
            session,
            course_id=world.course_id,
            recipients=[giulia],
            kind="answer",
            subject_type="qa_question",
            subject_id=1,
        )
        session.execute(text("UPDATE member SET email = 'g@example.org'"))
        session.commit()
        session.close()
        db.session.remove()
        downgrade(revision="0024_welcome_names_the_reply")
        upgrade()
        db.session.remove()
        note = db.session.scalars(select(Notification)).one()
        wanted = wants_mail(db.session(), giulia)
        settings = app.extensions["bottega_settings"]
        later = utcnow() + timedelta(minutes=11)
        mail = NotificationMailSettings()
        assert mail.delay < 11 * 60 and settings.notification_mail.gap == mail.gap
        due = due_members(db.session(), settings, later)
    assert note.emailed_at == note.created_at and note.read_at is None
    assert wanted
    assert due == []
