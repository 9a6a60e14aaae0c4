"""Security headers: a CSP with a per-request nonce on pages, nosniff and a referrer policy."""

from __future__ import annotations

import re

from flask import Flask

from ..community.qa.conftest import CourseWorld, sign_in, site  # noqa: F401  (fixture)


def test_pages_carry_a_csp_with_a_fresh_nonce(app: Flask, site: CourseWorld) -> None:  # noqa: F811
    client = sign_in(app, site, "giulia")
    first = client.get("/w/L1/qa/")
    policy = first.headers["Content-Security-Policy"]
    assert "object-src 'none'" in policy and "base-uri 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    second = client.get("/w/L1/qa/").headers["Content-Security-Policy"]
    assert nonce and nonce.group(1) not in second  # a new nonce every request
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in first.headers  # not behind TLS here


def test_json_answers_are_nosniff_without_a_page_policy(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers
