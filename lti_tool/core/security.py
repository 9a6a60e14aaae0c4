"""Security headers on every response.

A Content-Security-Policy with a fresh nonce per request for the few inline scripts
(``{{ csp_nonce() }}`` in templates), ``object-src 'none'`` and ``base-uri 'none'``; scripts
only from this site. Styles allow 'unsafe-inline': KaTeX writes the layout of every formula in
``style`` attributes. ``frame-ancestors`` is left out for now: Bottega lives in LMS iframes and
the LMS page's origin is not always the registration's (Canvas serves courses from each school's
domain), so a list from the registration alone would break real embeds.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request


def csp_nonce() -> str:
    """This request's nonce for inline ``<script nonce=...>`` elements."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def _policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: https:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
        ]
    )


def install_security_headers(app: Flask, *, hsts: bool) -> None:
    """Add the headers after every request (``hsts``: behind TLS in production)."""
    app.add_template_global(csp_nonce)

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", _policy(csp_nonce()))
        if hsts and request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
