"""Static file addresses in pages, under the application root a proxy gives."""

from __future__ import annotations

from flask import Flask, render_template_string


def test_static_addresses_follow_the_application_root(app: Flask) -> None:
    template = "{{ static_url('css/app.css') }}|{{ url_for('static', filename='css/app.css') }}"
    with app.test_request_context("/"):
        plain = render_template_string(template)
    with app.test_request_context("/", base_url="http://127.0.0.1/bottega/"):
        prefixed = render_template_string(template)
    assert plain == "/static/css/app.css|/static/css/app.css"
    assert prefixed == "/bottega/static/css/app.css|/bottega/static/css/app.css"
