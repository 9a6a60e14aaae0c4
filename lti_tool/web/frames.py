"""Which LMS pages may frame the page being answered (the CSP ``frame-ancestors`` origins).

A page belongs to the registration it was launched from, found in this order:

1. what the view said: the login and launch set ``g.frame_platform_id`` from the signed state
   or the validated launch (and from issuer and client id when they refuse one); dynamic
   registration pages name the LMS in ``g.frame_extra_origins``;
2. the launch the page shows (``g.viewer``, or the ``lid`` in its address in this session);
3. the launches this browser's session holds (a page of the tool with no ``lid``);
4. none of them: an error page (4xx/5xx) may be framed by any registered platform, so that
   "open Bottega again from your course" shows inside the LMS after a session expired; any other
   page (the landing page) by this site only.

Each answer is a cached registry lookup: no query on most requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from flask import Response, current_app, g, request, session
from sqlalchemy.orm import Session

from lti_tool.extensions import db
from lti_tool.lti.registry import Registry


def _registry() -> Registry:
    found: Registry = current_app.extensions["bottega_registry"]
    return found


def _launch_platforms() -> list[int]:
    launches = session.get("launches") if session else None
    if not isinstance(launches, dict):
        return []
    lid = (request.view_args or {}).get("lid")
    if isinstance(lid, str) and isinstance(launches.get(lid), dict):
        return [launches[lid]["p"]]
    return list(dict.fromkeys(v["p"] for v in launches.values() if isinstance(v, dict)))


def page_platforms() -> list[int]:
    """The registrations the current page belongs to (rules 1 to 3 above)."""
    explicit = g.get("frame_platform_id")
    if explicit is not None:
        return [explicit]
    viewer = g.get("viewer")
    if viewer is None:
        opened = g.get("opened_launch")
        viewer = opened.viewer if opened is not None else None
    if viewer is not None:
        return [viewer.platform_id]
    return _launch_platforms()


def frame_origins(response: Response) -> Iterable[str]:
    """The origins besides 'self' that may frame ``response``."""
    extra: tuple[str, ...] = g.get("frame_extra_origins", ())
    found: dict[str, None] = dict.fromkeys(extra)
    platforms = page_platforms()
    # The scoped session itself: a cached answer (most requests) opens no session.
    registry, dbs = _registry(), cast(Session, db.session)
    for platform_id in platforms:
        found.update(dict.fromkeys(registry.frame_origins(dbs, platform_id)))
    if not platforms and not extra and response.status_code >= 400:
        found.update(dict.fromkeys(registry.any_frame_origins(dbs)))
    return tuple(found)
