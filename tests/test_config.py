"""Configuration from the environment, with safe developer defaults and a strict production mode."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from lti_tool import create_app
from lti_tool.config import PROJECT_ROOT, ConfigError, load_settings

from .conftest import base_config


def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_settings(
            {
                "BOTTEGA_ENV": "production",
                "INSTANCE_PATH": str(tmp_path),
                "PUBLIC_URL": "https://bottega.example.org",
            }
        )


def test_production_demands_an_https_public_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="https"):
        load_settings(
            {
                "BOTTEGA_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "INSTANCE_PATH": str(tmp_path),
                "PUBLIC_URL": "http://bottega.example.org",
            }
        )


def test_production_on_sqlite_warns_it_serves_one_host(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = load_settings(
            {
                "BOTTEGA_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "INSTANCE_PATH": str(tmp_path),
                "PUBLIC_URL": "https://bottega.example.org",
            }
        )
    assert settings.is_sqlite
    assert "serves one host only" in caplog.text
    assert "REDIS_URL is not set in production" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_settings(
            {
                "BOTTEGA_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "INSTANCE_PATH": str(tmp_path),
                "PUBLIC_URL": "https://bottega.example.org",
                "REDIS_URL": "redis://127.0.0.1:6379/0",
            }
        )
    assert "REDIS_URL" not in caplog.text


def test_development_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings({"INSTANCE_PATH": str(tmp_path)}).secret_key
    second = load_settings({"INSTANCE_PATH": str(tmp_path)}).secret_key
    assert len(first) >= 40
    assert first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_default_database_is_sqlite_under_instance(tmp_path: Path) -> None:
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'bottega.sqlite3'}"


def test_postgres_urls_use_psycopg_3(tmp_path: Path) -> None:
    settings = load_settings(
        {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgres://u@db/bottega"}
    )
    assert settings.database_url == "postgresql+psycopg://u@db/bottega"


def test_postgres_sessions_are_in_utc_keeping_the_urls_options(tmp_path: Path) -> None:
    def options(url: str) -> str:
        settings = load_settings({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url})
        return str(settings.flask_config()["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"])

    assert options("postgresql://u@db/bottega") == "-c TimeZone=UTC"
    given = "postgresql://u@db/bottega?sslmode=require&options=-c%20search_path%3Dtool"
    assert options(given) == "-c search_path=tool -c TimeZone=UTC"


def test_timestamps_come_back_in_utc(app: Flask) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from lti_tool.courses.models import Platform
    from lti_tool.extensions import db

    with app.app_context():
        moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        db.session.add(
            Platform(
                issuer="https://lms.example.org",
                client_id="c",
                auth_login_url="https://lms.example.org/a",
                auth_token_url="https://lms.example.org/t",
                key_set_url="https://lms.example.org/k",
                created_at=moment,
            )
        )
        db.session.commit()
        read = db.session.execute(select(Platform.created_at)).scalar_one()
        assert read == moment
        assert read.tzinfo is UTC  # not a ZoneInfo of the server's zone: "+00:00" in pages
        assert read.isoformat() == "2026-03-29T01:30:00+00:00"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path, keys_dir: Path) -> None:
    from sqlalchemy import text

    from lti_tool.extensions import db

    app = create_app(base_config(tmp_path, keys_dir))
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        db.engine.dispose()


def test_forwarded_headers_are_honoured_behind_a_proxy(tmp_path: Path, keys_dir: Path) -> None:
    app = create_app(base_config(tmp_path, keys_dir, PROXY_COUNT=1))

    @app.get("/where")
    def where() -> str:
        from flask import request

        return request.url

    response = app.test_client().get(
        "/where", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bottega.example.org"}
    )
    assert response.get_data(as_text=True) == "https://bottega.example.org/where"


def test_forwarded_headers_are_ignored_without_a_proxy(tmp_path: Path, keys_dir: Path) -> None:
    app = create_app(base_config(tmp_path, keys_dir))

    @app.get("/where")
    def where() -> str:
        from flask import request

        return request.url

    response = app.test_client().get("/where", headers={"X-Forwarded-Host": "evil.example"})
    assert "evil.example" not in response.get_data(as_text=True)


def test_demo_mode_cannot_be_on_in_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="demo"):
        load_settings(
            {
                "BOTTEGA_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "INSTANCE_PATH": str(tmp_path),
                "BOTTEGA_DEMO": "1",
                "PUBLIC_URL": "https://bottega.example.org",
            }
        )


def test_this_pythons_sqlite_has_fts5_and_json_functions() -> None:
    from lti_tool.config import sqlite_missing_features

    assert sqlite_missing_features() == ""


def test_an_sqlite_without_fts5_stops_the_start_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lti_tool.config as config

    monkeypatch.setattr(config, "sqlite_missing_features", lambda: "FTS5")
    with pytest.raises(ConfigError, match=r"lacks what Bottega needs \(FTS5\).*PostgreSQL"):
        load_settings({"INSTANCE_PATH": str(tmp_path)})
    # PostgreSQL does not need it.
    settings = load_settings(
        {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgresql://u@127.0.0.1/db"}
    )
    assert not settings.is_sqlite


@pytest.mark.parametrize("key", ["change-me", "x" * 31])
def test_production_refuses_a_guessable_secret_key(tmp_path: Path, key: str) -> None:
    # deploy/bottega.env.example says SECRET_KEY=change-me: copied as is, anyone could sign a
    # session cookie as any member.
    with pytest.raises(ConfigError, match="SECRET_KEY is too short"):
        load_settings(
            {
                "BOTTEGA_ENV": "production",
                "SECRET_KEY": key,
                "INSTANCE_PATH": str(tmp_path),
                "PUBLIC_URL": "https://bottega.example.org",
            }
        )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://bottega:s3cret@db/bottega", "'mysql://...'"),
        ("/var/lib/bottega/bottega.sqlite3", "'/var/lib/bottega/bottega.sqlite3'"),
    ],
)
def test_an_unsupported_database_url_is_refused_without_its_password(
    tmp_path: Path, url: str, shown: str
) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL must be sqlite") as refused:
        load_settings({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url})
    assert shown in str(refused.value) and "s3cret" not in str(refused.value)


def test_a_bad_setting_stops_the_cli_and_gunicorn_with_one_line(tmp_path: Path) -> None:
    """No traceback; status 4 makes gunicorn stop instead of respawning failing workers."""
    env = {
        **os.environ,
        "BOTTEGA_ENV": "prod",
        "INSTANCE_PATH": str(tmp_path),
        "KEYS_DIR": str(tmp_path / "keys"),
    }
    flask = Path(sys.executable).parent / "flask"
    done = subprocess.run(
        [str(flask), "--app", "wsgi", "platform", "list"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        "Bottega cannot start: BOTTEGA_ENV must be one of development, production, test, got 'prod'"
    ]
    assert done.stdout == ""


def test_a_redis_url_that_is_not_redis_is_refused(tmp_path: Path) -> None:
    """Before, the rate limiter raised its own traceback at start."""
    with pytest.raises(ConfigError, match=r"^REDIS_URL must be redis://.* got 'notredis'$"):
        load_settings({"INSTANCE_PATH": str(tmp_path), "REDIS_URL": "notredis"})


def test_a_negative_proxy_count_is_refused(tmp_path: Path) -> None:
    """ProxyFix given -1 takes a client-written X-Forwarded-For entry as the client's address."""
    with pytest.raises(ConfigError, match=r"^PROXY_COUNT must be at least 0, got '-1'$"):
        load_settings({"INSTANCE_PATH": str(tmp_path), "PROXY_COUNT": "-1"})
