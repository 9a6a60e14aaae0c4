"""Locale selection: a launch's locale when there is one, else the browser's Accept-Language."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request


def normalise_locale(value: str | None) -> str | None:
    """Map an LMS or browser locale (``it-IT``, ``it_CH``, ``en``) to a supported language."""
    if not value:
        return None
    language = value.replace("_", "-").split("-")[0].strip().lower()
    supported: tuple[str, ...] = current_app.config["LANGUAGES"]
    return language if language in supported else None


def select_locale() -> str:
    """The language of the current page."""
    if has_request_context():
        forced = normalise_locale(getattr(g, "locale", None))
        if forced:
            return forced
        best = request.accept_languages.best_match(current_app.config["LANGUAGES"])
        if best:
            return best
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])
