"""Demo mode: the demo LMS mounted at /demo/lms inside the tool's own server.

Only ``create_app`` calls ``install_demo``, and only when DEMO_MODE is on (``BOTTEGA_DEMO``;
``config.py`` refuses it in production). The demo platform is registered with the tool like
any LMS (issuer ``PUBLIC_URL + /demo/lms``, client id ``bottega-demo``, deployment ``1``) and
the tool with the platform, so every demo launch takes the real OIDC path, over HTTP. The
platform's signing key is kept in the instance folder: the tool caches platform key sets, and a
new key on every restart would make that cache stale.

The demo platform keeps its launches in memory: serve it from one process (``make run``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from wsgiref.types import WSGIApplication

from flask import Flask, request
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from lti_tool.demo.lms import PERSONAS, DemoLms, install_course_pages
from lti_tool.demo.platform import Platform, PlatformKey, create_platform_app
from lti_tool.extensions import db
from lti_tool.lti.registration import (
    PlatformInput,
    RegistrationError,
    add_deployments,
    add_platform,
    list_platforms,
)

if TYPE_CHECKING:
    from lti_tool.courses.models import Platform as ToolPlatform

log = logging.getLogger(__name__)

MOUNT_PATH = "/demo/lms"
CLIENT_ID = "bottega-demo"
DEPLOYMENT_ID = "1"
KEY_FILE = "demo-lms-key.pem"
FALLBACK_PUBLIC_URL = "http://127.0.0.1:5000"
EXTENSION = "bottega_demo"


@dataclass
class Demo:
    """What the tool's pages need to know about the mounted demo LMS."""

    platform: Platform
    lms: DemoLms
    tool_url: str
    registered: bool = False

    def course_url(self, persona: str) -> str:
        """The demo course as ``persona``, relative to the current request's host."""
        return f"{request.script_root}{MOUNT_PATH}/course/{persona}"

    def person_name(self, persona: str) -> str:
        return PERSONAS[persona].name


def install_demo(app: Flask) -> Demo:
    """Mount the demo LMS, register it both ways, and remember it in ``app.extensions``."""
    tool_url = (app.config.get("PUBLIC_URL") or FALLBACK_PUBLIC_URL).rstrip("/")
    if not app.config.get("PUBLIC_URL"):
        log.warning("PUBLIC_URL is not set: the demo LMS assumes Bottega is at %s", tool_url)
    issuer = tool_url + MOUNT_PATH
    key = PlatformKey.load_or_create(Path(app.instance_path) / KEY_FILE)
    platform = Platform(issuer, key=key)
    lms_app = create_platform_app(issuer, platform=platform)
    register_tool(platform, tool_url, CLIENT_ID, (DEPLOYMENT_ID,))
    lms = install_course_pages(lms_app, CLIENT_ID, tool_home_url=tool_url + "/")
    demo = Demo(platform=platform, lms=lms, tool_url=tool_url)
    app.extensions[EXTENSION] = demo

    mounts: dict[str, WSGIApplication] = {MOUNT_PATH: lms_app}
    outer = app.wsgi_app
    if isinstance(outer, ProxyFix):  # keep the proxy fix outermost, for the demo LMS too
        outer.app = DispatcherMiddleware(outer.app, mounts)
    else:
        app.wsgi_app = DispatcherMiddleware(outer, mounts)  # type: ignore[method-assign]

    # `flask db upgrade` builds the app too, before the tables exist: then register on the
    # first request instead.
    if not register_in_tool(app, demo):
        lock = threading.Lock()

        @app.before_request
        def _register_demo_platform() -> None:
            if not demo.registered:
                with lock:
                    if not demo.registered:
                        register_in_tool(app, demo)

    return demo


def register_in_tool(app: Flask, demo: Demo) -> bool:
    """Register the demo platform in the tool's database (idempotent); False if not possible yet."""
    platform = demo.platform
    with app.app_context():
        session = db.session()
        try:
            existing = _find(platform.issuer)
            if existing is None:
                try:
                    add_platform(
                        session,
                        platform_input(platform, CLIENT_ID, (DEPLOYMENT_ID,), platform.name),
                    )
                except IntegrityError:  # another worker registered it first
                    session.rollback()
                    existing = _find(platform.issuer)
            if existing is not None:
                add_deployments(session, existing, [DEPLOYMENT_ID])
        except (OperationalError, ProgrammingError) as exc:
            session.rollback()
            log.info("demo LMS not registered yet (database not ready: %s)", type(exc).__name__)
            return False
        except RegistrationError as exc:
            session.rollback()
            log.warning("the demo LMS cannot be registered: %s", exc)
            demo.registered = True  # retrying would not help; say it once
            return True
    demo.registered = True
    log.info("demo LMS at %s (issuer %s, client id %s)", MOUNT_PATH, platform.issuer, CLIENT_ID)
    return True


def _find(issuer: str) -> ToolPlatform | None:
    for platform in list_platforms(db.session()):
        if platform.issuer == issuer and platform.client_id == CLIENT_ID:
            return platform
    return None


def register_tool(
    platform: Platform, tool_url: str, client_id: str, deployment_ids: Sequence[str] = ("1",)
) -> None:
    """Register Bottega at ``tool_url`` in the demo LMS, as the LMS's administrator would."""
    platform.register_tool(
        client_id,
        login_url=f"{tool_url}/lti/login",
        redirect_uris=[f"{tool_url}/lti/launch"],
        jwks_url=f"{tool_url}/.well-known/jwks.json",
        deployment_ids=list(deployment_ids),
    )


def platform_input(
    platform: Platform, client_id: str, deployment_ids: Sequence[str] = ("1",), name: str = ""
) -> PlatformInput:
    """What Bottega's administrator types in to register the demo LMS."""
    return PlatformInput(
        issuer=platform.issuer,
        client_id=client_id,
        auth_login_url=platform.auth_url,
        auth_token_url=platform.token_url,
        key_set_url=platform.jwks_url,
        deployment_ids=tuple(deployment_ids),
        name=name,
    )


def register_both_sides(
    session: Session,
    platform: Platform,
    tool_url: str,
    client_id: str,
    *,
    deployment_ids: Sequence[str] = ("1",),
    name: str = "",
) -> ToolPlatform:
    """Bottega registered in the demo LMS and the LMS in Bottega (tests and benchmarks)."""
    if client_id not in platform.tools:
        register_tool(platform, tool_url, client_id, deployment_ids)
    return add_platform(session, platform_input(platform, client_id, deployment_ids, name))
