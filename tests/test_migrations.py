"""`flask db upgrade` builds the schema from empty, is idempotent, and matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import inspect

from lti_tool.extensions import db

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
