"""Demo mode without a browser: mounted only when on, registered both ways, key kept.

(These need no browser; they live here with the demo's browser tests they support.)
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from lti_tool.config import ConfigError, load_settings
from lti_tool.demo.install import CLIENT_ID, MOUNT_PATH
from lti_tool.extensions import db
from lti_tool.lti.registration import list_platforms

from .conftest import demo_app, dispose

PUBLIC = "http://127.0.0.1:5999"


@pytest.mark.parametrize(
    "path", ["/demo/lms", "/demo/lms/", "/demo/lms/course/student", "/demo/lms/jwks"]
)
def test_demo_lms_is_404_when_demo_mode_is_off(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_index_without_demo_mode_has_no_demo_links(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "Bottega" in page and "/demo/lms" not in page and "demo course" not in page


def test_production_never_runs_the_demo(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BOTTEGA_DEMO"):
        load_settings(
            {
                "BOTTEGA_ENV": "production",
                "BOTTEGA_DEMO": "1",
                "SECRET_KEY": "x" * 40,
                "PUBLIC_URL": "https://bottega.example.org",
                "INSTANCE_PATH": str(tmp_path),
            }
        )


def _platforms(app: Flask) -> list[tuple[str, str, list[str]]]:
    with app.app_context():
        return [
            (p.issuer, p.client_id, [d.deployment_id for d in p.deployments])
            for p in list_platforms(db.session())
        ]


def test_demo_mode_mounts_registers_and_keeps_its_key(
    tmp_path: Path, keys_dir: Path, database_url: str
) -> None:
    first = demo_app(tmp_path, keys_dir, database_url, PUBLIC)
    try:
        client = first.test_client()
        kid = client.get(f"{MOUNT_PATH}/jwks").get_json()["keys"][0]["kid"]
        index = client.get("/").get_data(as_text=True)
        for person in ("student", "tutor", "instructor"):
            assert f'href="{MOUNT_PATH}/course/{person}"' in index
        assert "Open the demo course as a student" in index and "Giulia Rossi" in index
        assert _platforms(first) == [(PUBLIC + MOUNT_PATH, CLIENT_ID, ["1"])]
    finally:
        dispose(first)
    key_file = tmp_path / "instance" / "demo-lms-key.pem"
    assert key_file.stat().st_mode & 0o077 == 0

    again = demo_app(tmp_path, keys_dir, database_url, PUBLIC)  # a restart
    try:
        client = again.test_client()
        assert client.get(f"{MOUNT_PATH}/jwks").get_json()["keys"][0]["kid"] == kid
        assert _platforms(again) == [(PUBLIC + MOUNT_PATH, CLIENT_ID, ["1"])]
    finally:
        dispose(again)


def test_course_page_embeds_a_fresh_launch_in_an_iframe(
    tmp_path: Path, keys_dir: Path, database_url: str
) -> None:
    app = demo_app(tmp_path, keys_dir, database_url, PUBLIC)
    try:
        client = app.test_client()
        pages = [client.get(f"{MOUNT_PATH}/course/tutor") for _ in range(2)]
        srcs = []
        for response in pages:
            assert response.status_code == 200
            assert response.headers["Cache-Control"] == "no-store"
            html = response.get_data(as_text=True)
            frame = re.search(r"<iframe[^>]*>", html)
            assert frame, html
            tag = frame.group(0)
            assert 'allow="clipboard-write"' in tag and 'title="Community home (Bottega)"' in tag
            assert f'data-tool-origin="{PUBLIC}"' in tag
            srcs.append(unescape(re.search(r'src="([^"]+)"', tag).group(1)))  # type: ignore[union-attr]
            assert "<script>" not in html  # no inline script: a CSP will forbid them
        assert srcs[0] != srcs[1]  # a new launch per page view
        assert all(s.startswith(f"{PUBLIC}/lti/login?") for s in srcs)
        assert "lti_storage_target=_parent" in srcs[0]
        assert client.get(f"{MOUNT_PATH}/course/student/add").status_code == 403
        assert client.get(f"{MOUNT_PATH}/course/nobody").status_code == 404
        with client.get(f"{MOUNT_PATH}/static/lms.js") as script:
            assert script.status_code == 200
    finally:
        dispose(app)


def test_demo_mode_waits_for_the_tables(tmp_path: Path, keys_dir: Path) -> None:
    """`flask db upgrade` builds the app before the tables exist: no error, register later."""
    database = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    app = demo_app(tmp_path, keys_dir, database, PUBLIC)
    try:
        with app.app_context():
            upgrade()
        assert _platforms(app) == []
        assert app.test_client().get("/healthz").status_code == 200
        assert _platforms(app) == [(PUBLIC + MOUNT_PATH, CLIENT_ID, ["1"])]
    finally:
        dispose(app)
