"""GET /healthz tells a load balancer whether the database answers."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from lti_tool import create_app

from ..conftest import base_config


def test_health_is_ok_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json is not None and response.json["status"] == "ok"


def test_health_is_503_when_the_database_is_down(tmp_path: Path, keys_dir: Path) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL=url))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unavailable"}
