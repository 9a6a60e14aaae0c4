"""Error pages are short, translated and never show a traceback; JSON clients get JSON."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_italian_browser_gets_the_italian_404_page(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert '<html lang="it">' in page
    assert "Pagina non trovata" in page


def test_english_is_the_default_language(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": "de-DE"})
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert '<html lang="en">' in page and "Page not found" in page


def test_json_clients_get_a_json_error(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json == {
        "error": {
            "status": 404,
            "title": "Page not found",
            "message": "There is nothing at this address.",
        }
    }


def test_wrong_method_gets_405_with_allowed_methods(client: FlaskClient) -> None:
    response = client.post("/healthz", headers={"Accept-Language": "it"})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "Metodo non consentito" in response.get_data(as_text=True)


def test_unexpected_error_is_a_500_page_without_traceback(app: Flask) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom", headers={"Accept-Language": "it"})
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Qualcosa è andato storto" in page
    assert "secret internals" not in page and "Traceback" not in page


def test_bad_request_page_is_translated(app: Flask) -> None:
    from werkzeug.exceptions import BadRequest

    @app.get("/bad")
    def bad() -> str:
        raise BadRequest()

    response = app.test_client().get("/bad", headers={"Accept-Language": "it"})
    assert response.status_code == 400
    assert "Richiesta non valida" in response.get_data(as_text=True)


def test_forbidden_page_is_translated(app: Flask) -> None:
    from flask import abort

    @app.get("/staff-only")
    def staff_only() -> str:
        abort(403)

    response = app.test_client().get("/staff-only", headers={"Accept-Language": "it"})
    assert response.status_code == 403
    assert "Non hai il permesso" in response.get_data(as_text=True)
