"""A browser-like HTTP client for the benchmark (the same cookie rules as tests/lti_harness.py)."""

# A copy rather than an import from tests/, so that the benchmark does not break when the test
# harness changes, and so that it can drive an older checkout of the tool (--tool-root).

from __future__ import annotations

import re
from html import unescape
from http.cookiejar import Cookie, DefaultCookiePolicy
from urllib.request import Request

import requests
from requests.cookies import RequestsCookieJar

FORM_RE = re.compile(r'<form[^>]*action="([^"]+)"', re.S)
INPUT_RE = re.compile(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)


class LoopbackSecurePolicy(DefaultCookiePolicy):
    """Browsers treat http://127.0.0.1 and localhost as secure contexts; so do we."""

    def return_ok_secure(self, cookie: Cookie, request: Request) -> bool:
        """Send Secure cookies to loopback hosts over http too."""
        if request.host.split(":")[0] in ("127.0.0.1", "localhost"):
            return True
        return bool(super().return_ok_secure(cookie, request))


class Browser(requests.Session):
    """A requests session that keeps and sends Secure cookies on loopback, as browsers do."""

    def __init__(self) -> None:
        super().__init__()
        self.cookies = RequestsCookieJar(policy=LoopbackSecurePolicy())

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """The request with cookies chosen by our policy."""
        prepared = super().prepare_request(request)
        # requests merges cookies into a jar with the default policy; ask ours instead.
        prepared.headers.pop("Cookie", None)
        prepared.prepare_cookies(self.cookies)
        return prepared


def parse_form(html: str) -> tuple[str, dict[str, str]]:
    """The first form's action and hidden fields (the LMS's auto-submitting launch form)."""
    match = FORM_RE.search(html)
    if match is None:
        raise ValueError(f"no form in the page: {html[:200]!r}")
    fields = {unescape(k): unescape(v) for k, v in INPUT_RE.findall(html)}
    return unescape(match.group(1)), fields
