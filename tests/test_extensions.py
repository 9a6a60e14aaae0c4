"""The rate limiter's app-wide check is dropped only when it has nothing to check."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_limiter import Limiter

from lti_tool.extensions import drop_idle_limiter_check


def _app(limiter: Limiter, *, decorated: str | None = None) -> Flask:
    app = Flask(__name__)
    limiter.init_app(app)

    @app.get("/open")
    def open_page() -> str:
        return "open"

    def posted() -> str:
        return "posted"

    app.add_url_rule(
        "/post",
        "post",
        limiter.limit(decorated)(posted) if decorated else posted,
        methods=["POST"],
    )
    return app


def _limiter_checks(app: Flask, limiter: Limiter) -> int:
    return sum(
        getattr(hook, "__self__", None) is limiter
        for hook in app.before_request_funcs.get(None, [])
    )


def test_decorated_limits_still_refuse_once_the_app_wide_check_is_gone() -> None:
    limiter = Limiter(
        key_func=lambda: "one", storage_uri="memory://", default_limits=[], headers_enabled=True
    )
    app = _app(limiter, decorated="2/minute")
    assert drop_idle_limiter_check(app, limiter) is True
    assert _limiter_checks(app, limiter) == 0
    client = app.test_client()
    first = client.post("/post")
    assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "2"
    assert client.post("/post").status_code == 200
    assert client.post("/post").status_code == 429
    assert all(client.get("/open").status_code == 200 for _ in range(5))


def test_default_limits_keep_the_app_wide_check() -> None:
    limiter = Limiter(key_func=lambda: "one", storage_uri="memory://", default_limits=["2/minute"])
    app = _app(limiter)
    assert drop_idle_limiter_check(app, limiter) is False
    assert _limiter_checks(app, limiter) == 1
    client = app.test_client()
    assert [client.get("/open").status_code for _ in range(3)] == [200, 200, 429]


def test_bottega_has_no_app_wide_limiter_check_but_limits_its_posts(app: Flask) -> None:
    from lti_tool.extensions import limiter

    assert _limiter_checks(app, limiter) == 0
    assert "qa.ask_post" in app.view_functions


def test_plain_views_are_called_as_they_are_and_coroutines_go_to_flask(app: Flask) -> None:
    async def coroutine_view() -> str:
        return "async answer"

    def plain_view() -> str:
        return "plain answer"

    assert app.ensure_sync(plain_view) is plain_view
    # A coroutine still goes to Flask's own handling (which needs the "async" extra here).
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(coroutine_view)


def test_timestamps_come_back_aware_and_in_utc(app: Flask) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import literal, select

    from lti_tool.extensions import UTCDateTime, db

    rome = timezone(timedelta(hours=1))
    written = datetime(2026, 11, 26, 3, 4, 5, 123456, tzinfo=rome)
    with app.app_context():
        read = db.session.execute(
            select(literal(written, UTCDateTime()), literal(None, UTCDateTime()))
        ).one()
    assert read[0] == written and read[0].utcoffset() is not None
    assert read[0].astimezone(UTC) == datetime(2026, 11, 26, 2, 4, 5, 123456, tzinfo=UTC)
    assert read[1] is None


def test_blueprint_limits_keep_the_app_wide_check() -> None:
    from flask import Blueprint

    limiter = Limiter(key_func=lambda: "one", storage_uri="memory://", default_limits=[])
    app = Flask(__name__)
    limiter.init_app(app)
    limited = Blueprint("limited", __name__)

    @limited.get("/page")
    def page() -> str:
        return "page"

    limiter.limit("2/minute")(limited)
    app.register_blueprint(limited)
    assert drop_idle_limiter_check(app, limiter) is False
    client = app.test_client()
    assert [client.get("/page").status_code for _ in range(3)] == [200, 200, 429]
