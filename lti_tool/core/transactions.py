"""How a request's database transaction ends when the view did not end it.

A view that writes commits what it wrote; anything else the request's session still holds is
rolled back when Flask-SQLAlchemy closes the session at the end of the request. On PostgreSQL
that ROLLBACK has a cost beyond its round trip: psycopg forgets every statement it has prepared
on the connection whenever a transaction is rolled back (the rollback may have undone objects
those statements refer to). Pages that only read, which are most requests, therefore had their
statements parsed and planned by PostgreSQL again on every request: about 2 ms of the database's
CPU for a Q&A question page, against 0.6 ms with its prepared statements kept.

So on PostgreSQL a request whose transaction has only run SELECT statements ends it with
COMMIT, which changes nothing in the data (there is nothing to commit) and keeps the prepared
statements. A transaction that ran anything else (INSERT, UPDATE, DELETE, a savepoint, a
statement starting with WITH...), or whose session holds unflushed changes, or a request that
ended with an exception, is rolled back as before: nothing a view left uncommitted is ever
committed by this.

Prepared statements live in each connection of the pool. After a migration that changes a table
the statements read, restart the workers (a normal deployment does): PostgreSQL refuses to run a
prepared statement whose result columns changed.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.extensions import db

WROTE = "bottega_wrote"  # in Connection.info: this transaction ran something other than SELECT


def _reads_only(statement: str) -> bool:
    return statement.lstrip()[:6].upper() == "SELECT"


def _watch(engine: Engine) -> None:
    """Mark each connection's transaction as written to when it runs anything but a SELECT."""

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not _reads_only(statement):
            conn.info[WROTE] = True

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(conn: Any) -> None:
        conn.info.pop(WROTE, None)


def commit_if_read_only(exc: BaseException | None = None) -> bool:
    """End the request's open transaction with COMMIT when it only read (see the module's
    docstring); True when it did. Otherwise leave it for the session's close to roll back."""
    if exc is not None or not db.session.registry.has():
        return False
    session = db.session()
    transaction = session.get_transaction()
    if transaction is None or not transaction.is_active:  # none, or failed: the close rolls back
        return False
    if session.new or session.dirty or session.deleted:
        return False
    try:
        if session.connection().info.get(WROTE):
            return False
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()  # nothing changed: what was loaded stays loaded
        finally:
            session.expire_on_commit = expire
    except SQLAlchemyError:  # e.g. the connection broke: roll back as before, never raise here
        session.rollback()
        return False
    return True


def install_read_only_commit(app: Flask) -> None:
    """On PostgreSQL, end read-only request transactions with COMMIT: at the end of each
    request, before Flask-SQLAlchemy closes the session with its application context. Only
    requests: CLI commands, jobs and tests that open an application context are left as they
    were."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql":
        return
    _watch(engine)

    @app.teardown_request
    def _end_read_only(exc: BaseException | None = None) -> None:
        commit_if_read_only(exc)
