"""URLs the tool hands out to LMSs and browsers, built from PUBLIC_URL when it is set."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for


def base_url() -> str:
    """The public base URL: PUBLIC_URL, or the URL of the current request."""
    configured: str | None = current_app.config.get("PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    return request.host_url.rstrip("/")


def public_url_for(endpoint: str, **values: Any) -> str:
    """An absolute URL for an endpoint, on the public base URL."""
    return base_url() + url_for(endpoint, **values)
