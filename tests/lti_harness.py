"""A real-HTTP harness: the tool and an independent LMS on 127.0.0.1, and a cookie-keeping client.

The LMS is Bottega's demo platform, written from the 1EdTech specs with PyJWT (it imports
neither pylti1p3 nor the tool). The client behaves like a browser for cookies: loopback http
counts as a secure context, so Secure cookies are kept and sent there, as browsers do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from http.cookiejar import Cookie, DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin
from urllib.request import Request

import requests
from requests.cookies import RequestsCookieJar

from lti_tool.demo.platform import Platform, PreparedLaunch, RunningServer

CLIENT_ID = "bottega-test-client"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
MENTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"
SYSTEM_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"
INSTITUTION_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
INSTITUTION_FACULTY = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty"


class LoopbackSecurePolicy(DefaultCookiePolicy):
    """Browsers treat http://127.0.0.1 and localhost as secure contexts; so do we."""

    def return_ok_secure(self, cookie: Cookie, request: Request) -> bool:
        host = request.host.split(":")[0]
        if host in ("127.0.0.1", "localhost"):
            return True
        return bool(super().return_ok_secure(cookie, request))


class Browser(requests.Session):
    """A requests session that keeps and sends cookies the way a browser does on loopback."""

    def __init__(self) -> None:
        super().__init__()
        self.cookies = RequestsCookieJar(policy=LoopbackSecurePolicy())

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        # requests copies cookies into a jar with the default policy; ask ours instead.
        prepared.headers.pop("Cookie", None)
        prepared.prepare_cookies(self.cookies)
        return prepared


def browser() -> Browser:
    return Browser()


FORM_RE = re.compile(r'<form[^>]*action="([^"]+)"', re.S)
INPUT_RE = re.compile(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)


def parse_form(html: str) -> tuple[str, dict[str, str]]:
    """The first form's action and hidden fields (the LMS's auto-submitting launch form)."""
    match = FORM_RE.search(html)
    assert match, f"no form in page: {html[:300]}"
    return unescape(match.group(1)), {unescape(k): unescape(v) for k, v in INPUT_RE.findall(html)}


def register_both_sides(app: Any, platform: Platform, tool_url: str, *, name: str) -> None:
    """Register the tool in the LMS and the LMS in the tool (client CLIENT_ID, deployment "1")."""
    from lti_tool.demo.install import register_both_sides as register
    from lti_tool.extensions import db

    with app.app_context():
        register(db.session(), platform, tool_url, CLIENT_ID, name=name)


def csrf_token(html: str) -> str:
    """The CSRF token of a page's form, as a browser would submit it."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return unescape(match.group(1))


@dataclass
class LaunchResult:
    """The tool's answer to the id_token POST, and the page it leads to.

    The tool answers a launch with the widget page itself (200, or the page's own status such
    as 403), saying where that page lives in ``Content-Location``, or with a 303 to another
    page. ``page`` is that page either way, with the URL a browser shows for it.
    """

    launch_response: requests.Response
    page: requests.Response | None

    @property
    def status(self) -> int:
        return self.launch_response.status_code

    @property
    def ok(self) -> bool:
        """The launch was accepted: it led to a page (whatever that page's own status)."""
        return self.page is not None


@dataclass
class Lms:
    server: RunningServer
    tool_url: str

    @property
    def platform(self) -> Platform:
        return self.server.platform

    @property
    def issuer(self) -> str:
        return self.platform.issuer

    def prepare(self, **kwargs: Any) -> PreparedLaunch:
        kwargs.setdefault("user", {"sub": "student-1", "name": "Giulia Rossi"})
        kwargs.setdefault("roles", [LEARNER])
        kwargs.setdefault("context", {"id": "course-101", "title": "Storia dell'arte"})
        return self.platform.prepare_launch(CLIENT_ID, **kwargs)

    def id_token_post(
        self, client: requests.Session, prepared: PreparedLaunch
    ) -> tuple[str, dict[str, str]]:
        """Login at the tool, authorise at the LMS: the form the LMS would auto-post."""
        login = client.get(prepared.login_url, allow_redirects=False, timeout=10)
        assert login.status_code == 302, (login.status_code, login.text[:500])
        auth = client.get(login.headers["Location"], allow_redirects=False, timeout=10)
        assert auth.status_code == 200, (auth.status_code, auth.text[:500])
        return parse_form(auth.text)

    def launch(self, client: requests.Session | None = None, **kwargs: Any) -> LaunchResult:
        """A complete launch over real HTTP, as a browser would follow it."""
        client = client or browser()
        prepared = kwargs.pop("prepared", None) or self.prepare(**kwargs)
        action, fields = self.id_token_post(client, prepared)
        return post_launch(client, action, fields)


def post_launch(client: requests.Session, action: str, fields: dict[str, str]) -> LaunchResult:
    response = client.post(action, data=fields, allow_redirects=False, timeout=10)
    page = None
    if response.status_code in (302, 303):
        page = client.get(urljoin(action, response.headers["Location"]), timeout=10)
    elif "Content-Location" in response.headers:
        # The page came with the POST; the browser's history shows its own address.
        page = response
        page.url = urljoin(action, response.headers["Content-Location"])
    return LaunchResult(response, page)
