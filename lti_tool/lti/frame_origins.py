"""Which origins may frame Bottega's pages for a registration (CSP ``frame-ancestors``).

An LMS page that embeds the tool is not always on the registration's own host: Canvas serves
every school's courses from the school's domain while its issuer and endpoints stay on
instructure.com. So a registration's origins are: its own URLs' origins (issuer, login, token,
key set: computed, never stale), origins learnt from launches the platform signed (the
``launch_presentation`` return URL and the deep-linking return URL name the page the user came
from), and origins an administrator added (``flask platform frame-origins add``).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.config import is_loopback_url
from lti_tool.lti.models import FrameOrigin

LEARNT = "learnt"
ADMIN = "admin"
MAX_LEARNT = 50  # learnt origins kept per registration: the header must stay small


class FrameOriginError(ValueError):
    """An origin an administrator typed that cannot be used, with a message for them."""


def origin_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased; None for anything else.

    The result goes into a response header, so only characters a host may contain get through.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if not all(c.isalnum() or c in ".-[]:" for c in host):
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    origin = f"{parts.scheme.lower()}://{host.lower()}"
    return f"{origin}:{port}" if port is not None else origin


def default_origins(urls: Iterable[str | None]) -> tuple[str, ...]:
    """The origins of a registration's own URLs (issuer, login, token and key set URLs)."""
    found = [o for o in (origin_of(u) for u in urls) if o]
    return tuple(dict.fromkeys(found))


def stored_origins(session: Session, platform_id: int) -> list[FrameOrigin]:
    """The learnt and admin-added origins of one registration, oldest first."""
    return list(
        session.scalars(
            select(FrameOrigin)
            .where(FrameOrigin.platform_id == platform_id)
            .order_by(FrameOrigin.created_at, FrameOrigin.origin)
        )
    )


def learn(
    session: Session, platform_id: int, urls: Iterable[str | None], known: Iterable[str]
) -> list[str]:
    """Store the origins of a validated launch's return URLs that ``known`` lacks; commits.

    Cheap when nothing is new (no query). Two workers learning the same origin at once is
    harmless: the loser's insert is rolled back to its savepoint.
    """
    already = set(known)
    new = [o for o in dict.fromkeys(origin_of(u) for u in urls) if o and o not in already]
    if not new:
        return []
    count = len(stored_origins(session, platform_id))
    added = []
    for origin in new:
        if count >= MAX_LEARNT:
            break
        try:
            with session.begin_nested():
                session.add(FrameOrigin(platform_id=platform_id, origin=origin, source=LEARNT))
        except IntegrityError:
            continue
        added.append(origin)
        count += 1
    session.commit()
    return added


def _checked(origin: str, *, allow_http: bool) -> str:
    found = origin_of(origin)
    if found is None or found.rstrip("/") != origin.strip().rstrip("/").lower():
        raise FrameOriginError(
            f"{origin!r} is not an origin: give scheme://host[:port], e.g. https://lms.example.org"
        )
    if found.startswith("http://") and not (allow_http or is_loopback_url(found)):
        raise FrameOriginError(f"{origin!r} must use https (http only on 127.0.0.1/localhost)")
    return found


def add_origin(session: Session, platform_id: int, origin: str, *, allow_http: bool) -> str:
    """Allow ``origin`` to frame the tool for this registration (kept until removed)."""
    origin = _checked(origin, allow_http=allow_http)
    row = session.get(FrameOrigin, (platform_id, origin))
    if row is None:
        session.add(FrameOrigin(platform_id=platform_id, origin=origin, source=ADMIN))
    else:
        row.source = ADMIN  # an admin's choice outlives the learnt one
    session.commit()
    return origin


def remove_origin(session: Session, platform_id: int, origin: str) -> bool:
    """Forget a stored origin; False when there was none (defaults cannot be removed)."""
    row = session.get(FrameOrigin, (platform_id, origin_of(origin) or origin.strip()))
    if row is None:
        return False
    session.delete(row)
    session.commit()
    return True
