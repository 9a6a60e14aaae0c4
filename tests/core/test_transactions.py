"""How a request's transaction ends when its view did not end it (lti_tool/core/transactions.py):
read-only ones keep PostgreSQL's prepared statements, and nothing a view left uncommitted is ever
committed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from lti_tool.courses.models import Platform
from lti_tool.extensions import db

READ = "SELECT count(*) FROM probe_tx WHERE x > :x"


def _platform(url: str) -> Platform:
    return Platform(
        issuer=url, client_id="c", auth_login_url=url, auth_token_url=url, key_set_url=url
    )


@pytest.fixture
def probe(app: Flask) -> Iterator[FlaskClient]:
    """The app with a scratch table and views that read, write without committing, leave an
    object unflushed, and fail a statement without committing."""
    with app.app_context():
        db.session.execute(text("CREATE TABLE IF NOT EXISTS probe_tx (x integer)"))
        db.session.execute(text("DELETE FROM probe_tx"))
        db.session.commit()

    @app.get("/probe/read")
    def read() -> str:
        return str(db.session.execute(text(READ), {"x": 0}).scalar_one())

    @app.get("/probe/prepared")
    def prepared() -> str:
        found = db.session.execute(
            text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :s"),
            {"s": "%FROM probe_tx WHERE x >%"},
        ).scalar_one()
        return str(found)

    @app.get("/probe/write")
    def write() -> str:  # a read first, then a write it never commits
        db.session.execute(text(READ), {"x": 0})
        db.session.execute(text("INSERT INTO probe_tx (x) VALUES (1)"))
        return "written, not committed"

    @app.get("/probe/pending")
    def pending() -> str:
        db.session.execute(text(READ), {"x": 0})
        db.session.add(_platform("https://pending.example"))
        return "added, not flushed"

    @app.get("/probe/failed")
    def failed() -> str:
        db.session.execute(text(READ), {"x": 0})
        try:
            db.session.execute(text("SELECT no_such_column FROM probe_tx"))
        except Exception:  # the view carries on; the transaction is failed
            return "failed"
        return "no error?"

    @app.get("/probe/failed-flush")
    def failed_flush() -> str:
        db.session.execute(text(READ), {"x": 0})
        for _ in range(2):  # the second one breaks the unique (issuer, client_id)
            db.session.add(_platform("https://twice.example"))
            try:
                db.session.flush()
            except Exception:
                return "flush failed"
        return "no error?"

    yield app.test_client()
    with app.app_context():
        db.session.execute(text("DROP TABLE probe_tx"))
        db.session.commit()


def _count(app: Flask, sql: str) -> int:
    with app.app_context():
        return int(db.session.execute(text(sql)).scalar_one())


def test_pages_that_only_read_keep_postgresql_prepared_statements(
    app: Flask, probe: FlaskClient
) -> None:
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect != "postgresql":
        pytest.skip("prepared statements: psycopg on PostgreSQL only")
    for _ in range(8):  # psycopg prepares a statement on its sixth run
        assert probe.get("/probe/read").text == "0"
    # The same pooled connection answers (one client, one thread): a ROLLBACK at the end of
    # each request would have made psycopg deallocate them.
    assert int(probe.get("/probe/prepared").text) >= 1


def test_a_write_the_view_did_not_commit_is_rolled_back(app: Flask, probe: FlaskClient) -> None:
    assert probe.get("/probe/write").status_code == 200
    assert _count(app, "SELECT count(*) FROM probe_tx") == 0
    assert probe.get("/probe/read").text == "0"


def test_an_unflushed_object_is_not_saved(app: Flask, probe: FlaskClient) -> None:
    assert probe.get("/probe/pending").status_code == 200
    found = "SELECT count(*) FROM platform WHERE issuer = 'https://pending.example'"
    assert _count(app, found) == 0


def test_a_failed_transaction_is_rolled_back_and_the_next_request_works(
    app: Flask, probe: FlaskClient
) -> None:
    assert probe.get("/probe/failed").text == "failed"
    assert probe.get("/probe/read").text == "0"


def test_a_failed_flush_left_by_the_view_is_rolled_back(app: Flask, probe: FlaskClient) -> None:
    assert probe.get("/probe/failed-flush").text == "flush failed"
    found = "SELECT count(*) FROM platform WHERE issuer = 'https://twice.example'"
    assert _count(app, found) == 0
    assert probe.get("/probe/read").text == "0"
