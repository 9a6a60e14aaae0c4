"""Flask extensions, created here and bound to the app in create_app()."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial, wraps
from inspect import unwrap
from typing import Any

from flask import Flask, g, request
from flask import json as flask_json
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Typed declarative base with constraint names Alembic can track."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()


def _rate_limit_key() -> str:
    # Per member when a launch is known (students share campus IPs), else per address.
    viewer = getattr(g, "viewer", None)
    if viewer is not None:
        return f"member:{viewer.platform_id}:{viewer.member_id}"
    return f"ip:{request.remote_addr or 'unknown'}"


limiter = Limiter(key_func=_rate_limit_key, default_limits=[], headers_enabled=True)


def _plain_json(value: Any) -> bool:
    """Whether Flask's tagged JSON would write ``value`` exactly as plain JSON does: only
    text, whole numbers, floats, booleans, None, lists and dicts with text keys, and no
    one-key dict whose key is one of the serializer's tags (those get wrapped)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return True
    if kind is list:
        return all(_plain_json(item) for item in value)
    if kind is dict:
        if len(value) == 1 and next(iter(value)) in _SESSION_TAGS:
            return False
        return all(type(key) is str and _plain_json(item) for key, item in value.items())
    return False


class SessionJSON(TaggedJSONSerializer):
    """Flask's session serializer, without its tag walk when the session holds plain JSON
    (launch ids, numbers and text, as Bottega's does): the same text, in a third of the time.
    Anything else (bytes, tuples, dates, markup) goes through the tags as before."""

    def dumps(self, value: Any) -> str:
        if _plain_json(value):
            return flask_json.dumps(value, separators=(",", ":"))
        return super().dumps(value)


_SESSION_TAGS = frozenset(TaggedJSONSerializer().tags)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its signing serializer built once per set of keys
    rather than on every request and again on every save."""

    serializer = SessionJSON()
    _built: tuple[tuple[Any, ...], Any] | None = None

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def drop_idle_limiter_check(app: Flask, limiter: Limiter) -> bool:
    """Remove the rate limiter's app-wide check before every request when it can find nothing.

    Bottega's limits are decorators on the posting views, and each decorator checks its own
    limits; the app-wide check only evaluates default, application and blueprint limits, which
    Bottega does not set. With none of them it still resolves the (empty) set for every request,
    about a third of a plain request's CPU in Flask. Call after every blueprint is registered;
    with any such limit configured the check stays. Its after-request (headers) and teardown
    hooks stay either way. Returns whether the check was removed.
    """
    manager = limiter.limit_manager
    # Blueprint limits have no public accessor; if a Flask-Limiter release renames the
    # attribute, keep the check rather than guess.
    blueprint_limits = getattr(manager, "_blueprint_limits", None)
    if blueprint_limits is None or blueprint_limits:
        return False
    if manager.application_limits or manager.default_limits:
        return False
    hooks: list[Any] = app.before_request_funcs.get(None, [])
    hooks[:] = [h for h in hooks if getattr(unwrap(h), "__self__", None) is not limiter]
    return True


def skip_hooks_on(app: Flask, endpoints: Iterable[str], owner: object) -> None:
    """Make the app-wide per-request hooks of extension ``owner`` skip ``endpoints``.

    For endpoints that do not need that extension's work on every request, such as the rate
    limiter on the LTI login and launch (which have no limits; state and nonce protect them).
    A new app-wide hook can be made skippable the same way. The hooks still run everywhere else.
    """
    skipped = frozenset(endpoints)

    def owned(hook: Callable[..., Any]) -> bool:
        if isinstance(hook, partial):
            return any(arg is owner for arg in hook.args)
        return getattr(hook, "__self__", None) is owner

    def before(hook: Callable[[], Any]) -> Callable[[], Any]:
        @wraps(hook)
        def skippable() -> Any:
            return None if request.endpoint in skipped else hook()

        return skippable

    def after(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
        @wraps(hook)
        def skippable(response: Any) -> Any:
            return response if request.endpoint in skipped else hook(response)

        return skippable

    def teardown(hook: Callable[[BaseException | None], Any]) -> Callable[..., Any]:
        @wraps(hook)
        def skippable(exc: BaseException | None = None) -> Any:
            return None if request.endpoint in skipped else hook(exc)

        return skippable

    for funcs, wrap in (
        (app.before_request_funcs, before),
        (app.after_request_funcs, after),
        (app.teardown_request_funcs, teardown),
    ):
        hooks: list[Any] = funcs.get(None, [])
        hooks[:] = [wrap(h) if owned(h) else h for h in hooks]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """One function per value read instead of two or three (a question page reads a few
        hundred timestamps): PostgreSQL's ``timestamptz`` comes back aware already, and
        SQLite's text is parsed and marked UTC in one step (what the default chain does)."""
        if dialect.name == "postgresql":
            return None
        if dialect.name == "sqlite":
            return _sqlite_utc
        return super().result_processor(dialect, coltype)


def _sqlite_utc(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers work while one writer commits; foreign keys are off by default in SQLite.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
