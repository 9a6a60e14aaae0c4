"""Fixtures in the flaskr style: an app on a fresh database per test, on SQLite and PostgreSQL.

Every test that uses ``app`` runs once on SQLite and once on PostgreSQL; the PostgreSQL run is
skipped with a reason when 127.0.0.1:5432 does not answer. Set TEST_POSTGRES_URL to point at
another server (default: postgresql://postgres@127.0.0.1:5432/test, trust auth).
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import text

from lti_tool import config as config_module
from lti_tool import create_app
from lti_tool.extensions import db

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Every variable the app reads, and the app's own Redis: tests never see a developer's settings.
_ENV_NAMES = tuple(sorted(config_module._ENV_NAMES | {"REDIS_URL"}))


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_reason() -> str | None:
    """None when PostgreSQL can be used, else why not."""
    if not _port_answers("127.0.0.1", 5432):
        return "PostgreSQL does not answer on 127.0.0.1:5432"
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return None
    except Exception as exc:  # any failure means: skip, never fail
        return f"PostgreSQL at {POSTGRES_URL} refused the connection: {exc}"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not pick up a developer's own settings.
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One key directory for the session: generating RSA keys per test would be slow."""
    return tmp_path_factory.mktemp("keys")


def base_config(tmp_path: Path, keys_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "BOTTEGA_ENV": "test",
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "KEYS_DIR": str(keys_dir),
        **extra,
    }


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test is slower)."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.sqlite3"
    app = create_app(base_config(folder, keys_dir, DATABASE_URL=f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this session, migrated once."""
    reason = postgres_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    name = f"bottega_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all() -> None:
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    if tables:
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database: a copy of the SQLite template, or the emptied PG database."""
    if request.param == "sqlite":
        path = tmp_path / "bottega.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    if not getattr(request.session, "_bottega_pg_migrated", False):
        app = create_app(
            base_config(tmp_path, request.getfixturevalue("keys_dir"), DATABASE_URL=url)
        )
        with app.app_context():
            upgrade()
            db.engine.dispose()
        request.session._bottega_pg_migrated = True  # type: ignore[attr-defined]
    return url


@pytest.fixture
def app(database_url: str, tmp_path: Path, keys_dir: Path) -> Iterator[Flask]:
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL=database_url))
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            _truncate_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
