"""`flask db upgrade` builds the schema from empty, is idempotent, and matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from lti_tool.community.qa import queries, services
from lti_tool.extensions import db

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
            db.session.commit()
            db.session.remove()
        finally:
            upgrade()
        assert layout() == (False, postgres)
        assert sorted(found(world, "teorema")) == sorted([before, during])
        assert found(world, "lagrange") == [during]


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
