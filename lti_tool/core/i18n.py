"""Locale selection: a launch's locale when there is one, else the browser's Accept-Language;
and relative times ("5 minutes ago") in the page's language."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from babel import dates
from flask import current_app, g, has_request_context, request

from lti_tool.extensions import utcnow


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


def time_ago(moment: datetime | None, locale: str) -> str:
    """ "5 minutes ago" in ``locale``, rounded to what the words can show so that a page's many
    stamps share a few cached lookups."""
    if moment is None:
        return ""
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    step = 60 if seconds < 86_400 else 3_600 if seconds < 30 * 86_400 else 86_400
    return _time_words(seconds // step * step, locale)


@lru_cache(maxsize=4096)
def _time_words(seconds: int, locale: str) -> str:
    # Negative: Babel words it as the past.
    return str(
        dates.format_timedelta(
            timedelta(seconds=-seconds), granularity="minute", add_direction=True, locale=locale
        )
    )
