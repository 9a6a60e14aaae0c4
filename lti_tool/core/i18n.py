"""Locale selection: a launch's locale when there is one, else the browser's Accept-Language;
and relative times ("5 minutes ago") in the page's language."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from babel import Locale, dates
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import format_date, format_decimal, get_translations
from jinja2 import pass_context
from jinja2.runtime import Context

from lti_tool.extensions import utcnow


def normalise_locale(value: str | None) -> str | None:
    """Map an LMS or browser locale (``it-IT``, ``it_CH``, ``en``) to a supported language."""
    if not value:
        return None
    language = value.replace("_", "-").split("-")[0].strip().lower()
    supported: tuple[str, ...] = current_app.config["LANGUAGES"]
    return language if language in supported else None


def language_for(locale: str | None) -> str:
    """The supported language of a stored locale ("it-IT", "it_IT", "IT": Italian), else the
    default: for what is written outside a request (e-mails)."""
    return normalise_locale(locale) or str(current_app.config["BABEL_DEFAULT_LOCALE"])


def select_locale() -> Locale:
    """The language of the current page (a shared ``Locale``: Flask-Babel would parse a name
    again on every request, which costs more than choosing it)."""
    if has_request_context():
        forced = normalise_locale(getattr(g, "locale", None))
        if forced:
            return _parsed(forced)
        best = request.accept_languages.best_match(current_app.config["LANGUAGES"])
        if best:
            return _parsed(best)
    return _parsed(str(current_app.config["BABEL_DEFAULT_LOCALE"]))


@lru_cache(maxsize=64)
def _parsed(name: str) -> Locale:
    return Locale.parse(name)


def time_ago(moment: datetime | None, locale: str, now: datetime | None = None) -> str:
    """ "5 minutes ago" in ``locale`` (``now``: the page's moment), rounded to what the words
    can show so that a page's many stamps share a few cached lookups."""
    if moment is None:
        return ""
    seconds = max(0, int(((now or utcnow()) - moment).total_seconds()))
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


# -- templates' _(), gettext and ngettext -------------------------------------------------------

_CATALOGUE = "_bottega_catalogue"


def _catalogue(context: Context) -> Any:
    # Flask-Babel finds the request's catalogue again for every string (context lookups and a
    # locale-to-text conversion each time); a page's strings share one lookup per render.
    found = getattr(context, _CATALOGUE, None)
    if found is None:
        found = get_translations()
        setattr(context, _CATALOGUE, found)
    return found


@pass_context
def _gettext(context: Context, string: str) -> str:
    return str(_catalogue(context).ugettext(string))


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(_catalogue(context).ungettext(singular, plural, n))


@pass_context
def _pgettext(context: Context, message_context: str, string: str) -> str:
    return str(_catalogue(context).upgettext(message_context, string))


@pass_context
def _npgettext(context: Context, message_context: str, singular: str, plural: str, n: int) -> str:
    return str(_catalogue(context).unpgettext(message_context, singular, plural, n))


def decimal(value: float, pattern: str = "0.##") -> str:
    """A number as the page's language writes it ("0,25" in Italian), for templates:
    ``{{ score|decimal("0.00") }}``."""
    return str(format_decimal(value, format=pattern))


def iso_date(value: str, pattern: str = "long") -> str:
    """A date stored as ISO text (a digest's week) as the page's language writes it ("23
    novembre 2026"); any other text as it is."""
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    return str(format_date(day, pattern))


def install_template_gettext(app: Flask) -> None:
    """Templates translate with the catalogue looked up once per render (after Babel's init),
    and write numbers and ISO dates in the page's language (``decimal``, ``iso_date``)."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext,
        ngettext=_ngettext,
        pgettext=_pgettext,
        npgettext=_npgettext,
        newstyle=True,
    )
    app.jinja_env.filters["decimal"] = decimal
    app.jinja_env.filters["iso_date"] = iso_date
