"""Security headers on every response.

A Content-Security-Policy with a fresh nonce per request for the few inline scripts and styles
(``{{ csp_nonce() }}`` in templates), ``object-src 'none'`` and ``base-uri 'none'``; scripts and
style sheets only from this site. No ``'unsafe-inline'`` styles: KaTeX lays formulas out through
the CSSOM (``element.style``), which CSP does not restrict, and no template writes a ``style``
attribute. ``frame-ancestors`` lists this site and the origins of the registered platform the
page belongs to: the web layer passes a ``frame_origins`` function that finds them (this layer
knows nothing of LTI). Bottega lives in LMS iframes, and the LMS page's origin is not always the
registration's own (Canvas serves courses from each school's domain), so that list also holds
origins learnt from signed launches and added by administrators (``lti_tool.lti.frame_origins``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable

from flask import Flask, Response, g, request

log = logging.getLogger(__name__)

FrameOrigins = Callable[[Response], Iterable[str]]


def csp_nonce() -> str:
    """This request's nonce for inline ``<script nonce=...>`` and ``<style nonce=...>``."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def _policy(nonce: str, frame_origins: Iterable[str]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data: https:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            " ".join(["frame-ancestors 'self'", *frame_origins]),
        ]
    )


def install_security_headers(
    app: Flask, *, hsts: bool, frame_origins: FrameOrigins | None = None
) -> None:
    """Add the headers after every request (``hsts``: behind TLS in production)."""
    app.add_template_global(csp_nonce)

    def origins(response: Response) -> Iterable[str]:
        if frame_origins is None:
            return ()
        try:
            return frame_origins(response)
        except Exception:  # a header must never turn a page into a 500; 'self' alone is safe
            log.exception("frame-ancestors: could not look up the allowed origins")
            return ()

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if response.mimetype == "text/html" and "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = _policy(csp_nonce(), origins(response))
        if hsts and request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
