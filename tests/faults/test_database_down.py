"""The database unreachable from the start (nothing listens on its port): every page a person
opens is a translated 503 with Retry-After, a refused form gives its text back, never a 500."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from lti_tool import create_app

from ..conftest import base_config


@pytest.fixture
def app(tmp_path: Path, keys_dir: Path) -> Flask:
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/bottega?connect_timeout=2"
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL=url))
    app.config["WTF_CSRF_ENABLED"] = False  # the token's page needs the database too
    return app


def _signed_in(app: Flask, locale: str | None) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as session:
        session["launches"] = {
            "L1": {"p": 1, "m": 1, "c": 1, "e": 1, "pl": None, "r": 1, "w": "qa", "l": locale}
        }
    return client


def test_a_post_while_the_database_is_away_is_a_503_giving_the_text_back(app: Flask) -> None:
    client = _signed_in(app, "it-IT")
    title, body = "Come si data un affresco?", "Vorrei capire il metodo <b>stratigrafico</b>."
    answer = client.post("/w/L1/qa/ask", data={"title": title, "body": body})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert "Al momento non è stato possibile salvare il tuo post" in text
    assert "Invia di nuovo" in text and 'action="/w/L1/qa/ask"' in text
    assert title in text and "&lt;b&gt;stratigrafico&lt;/b&gt;" in text  # kept, escaped
    assert "Traceback" not in text


@pytest.mark.parametrize("path", ["/w/L1/qa/", "/w/L1/kudos/", "/w/L1/groups/", "/w/L1/"])
def test_pages_while_the_database_is_away_are_a_clear_503(app: Flask, path: str) -> None:
    answer = _signed_in(app, None).get(path)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 503, text[:500]
    assert "temporarily unavailable" in text and "Traceback" not in text


def test_json_clients_get_a_json_503(app: Flask) -> None:
    answer = _signed_in(app, None).get("/w/L1/qa/", headers={"Accept": "application/json"})
    assert answer.status_code == 503 and answer.get_json()["error"]["status"] == 503
