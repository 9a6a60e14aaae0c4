"""Calling LMS services (token, NRPS, AGS) politely and safely.

Every call has connect and read timeouts, a User-Agent and no redirects (a redirect could carry
the bearer token elsewhere); timeouts, 429 and 5xx are retried a few times with jittered
exponential backoff, honouring ``Retry-After``, and never past the caller's deadline. Bearer
tokens only go to the hosts of the registration they were issued for.
"""

from __future__ import annotations

import email.utils
import html
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters

from lti_tool.config import ServiceSettings, is_loopback_url
from lti_tool.courses.models import Platform
from lti_tool.telemetry.metrics import lms_call_failed

log = logging.getLogger(__name__)

USER_AGENT = "Bottega-LTI/0.1 (+https://purl.imsglobal.org/spec/lti)"
MAX_BODY_BYTES = 32 * 1024 * 1024  # one page or token answer larger than this is refused
_random = secrets.SystemRandom()
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_HTML_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class ServiceRegistration:
    """What service calls need of a platform registration, copied out of the ORM row."""

    issuer: str
    client_id: str
    auth_token_url: str
    auth_login_url: str
    auth_audience: str | None = None

    @classmethod
    def of(cls, platform: Platform) -> ServiceRegistration:
        return cls(
            issuer=platform.issuer,
            client_id=platform.client_id,
            auth_token_url=platform.auth_token_url,
            auth_login_url=platform.auth_login_url,
            auth_audience=platform.auth_audience,
        )


class ServiceError(Exception):
    """A failed service call, with a stable code, whether retrying may help, and the LMS's words.

    Codes: ``timeout``, ``unreachable``, ``rate_limited``, ``server_error`` (temporary);
    ``refused`` (a 4xx), ``unauthorized``, ``token_refused``, ``bad_response``,
    ``untrusted_host``, ``no_service`` (permanent until someone changes something).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        temporary: bool,
        status: int | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.temporary = temporary
        self.status = status
        self.retry_after = retry_after
        self.detail = detail


class Deadline:
    """A point in time (monotonic clock) after which no new request or wait may start."""

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds

    @classmethod
    def at_monotonic(cls, at: float) -> Deadline:
        deadline = cls(None)
        deadline.at = at
        return deadline

    def remaining(self) -> float:
        return float("inf") if self.at is None else self.at - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise ServiceError(
                "timeout", "the job's time bound was reached during an LMS call", temporary=True
            )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


ERROR_BODY_BYTES = 64 * 1024  # what is read of a refusal's body: its message is at the start
ERROR_BODY_SECONDS = 2.0  # and for how long (a body sent a byte at a time trips no timeout)


def _error_body(response: requests.Response) -> str:
    """The start of a refusal's body, or "" if it does not come: an LMS (or a proxy) may send
    the status line and then stall, break off or send megabytes; the status says enough."""
    chunks: list[bytes] = []
    total = 0
    started = time.monotonic()
    try:
        for chunk in response.iter_content(chunk_size=8192):
            chunks.append(chunk)
            total += len(chunk)
            if total >= ERROR_BODY_BYTES or time.monotonic() - started > ERROR_BODY_SECONDS:
                break
    except (requests.RequestException, OSError):
        return ""
    finally:
        response.close()
    body = b"".join(chunks)[:ERROR_BODY_BYTES]
    try:
        return body.decode(response.encoding or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")


def lms_message(response: requests.Response) -> str:
    """What the LMS said about a refusal (OAuth error fields, or the start of the body).

    Never raises: the body is read up to ERROR_BODY_BYTES, and one that does not come in time
    leaves the status's reason phrase."""
    text = _error_body(response)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("error", "error_description", "message") if data.get(k)]
        if parts:
            return ": ".join(parts)[:500]
    return (_body_excerpt(text) or response.reason or "").strip()[:300]


def _body_excerpt(text: str) -> str:
    """The start of an answer's body; an HTML page (often a proxy's) by its title, no markup."""
    if text.lstrip()[:1] == "<":
        title = _HTML_TITLE.search(text)
        text = title.group(1) if title else _HTML_TAG.sub(" ", text)
        text = " ".join(html.unescape(text).split())
    return text.strip()[:300]


def pooled_session(connections: int) -> requests.Session:
    """A requests session that keeps up to ``connections`` connections per host, for callers
    sending from that many threads at once (the default pool keeps 10 and drops the rest)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(1, connections))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ServiceHttp:
    """One requests session with the retry policy; counts the seconds spent waiting on LMSs."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        deadline: Deadline | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.deadline = deadline or Deadline(None)
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.sleep = sleep
        self.seconds = 0.0  # time inside HTTP calls and their waits (the LMS's share)
        self.requests = 0

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ServiceHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, seconds: float, error: ServiceError) -> None:
        if seconds > self.settings.max_wait or seconds >= self.deadline.remaining():
            raise error  # too long to wait here: the job is rescheduled instead
        started = time.monotonic()
        self.sleep(seconds)
        self.seconds += time.monotonic() - started

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | bytes | Callable[[], Mapping[str, str]] | None = None,
        service: str = "lms",
        retry: bool = True,
    ) -> requests.Response:
        """Send with retries; returns any non-retryable answer (2xx, 3xx, 4xx) unread (streamed).

        ``data`` is a form (a mapping), a body already encoded (bytes, e.g. JSON), or a function
        building the form afresh for each attempt (a signed client assertion must not be sent
        twice: LMSs refuse a reused ``jti``). Each failed
        attempt (a 4xx, a 5xx, no answer) is counted under ``service`` (token, nrps, ags).
        ``retry=False`` for a request that must not be sent twice, such as creating a line item:
        a timeout or 5xx may come after the LMS did the work, so the caller looks before it asks
        again (the job's next attempt).
        """
        attempts = self.settings.retries + 1 if retry else 1
        for attempt in range(1, attempts + 1):
            self.deadline.check()
            read = max(0.05, min(self.settings.read_timeout, self.deadline.remaining()))
            started = time.monotonic()
            self.requests += 1
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    data=data() if callable(data) else data,
                    timeout=(self.settings.connect_timeout, read),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.Timeout as exc:
                if read < self.settings.read_timeout:  # cut short by the deadline, not the LMS
                    self.deadline.check()
                error = ServiceError(
                    "timeout",
                    f"the LMS did not answer in time ({type(exc).__name__})",
                    temporary=True,
                )
                retry_after = None
                lms_call_failed(service, "timeout")
            except requests.ConnectionError as exc:
                error = ServiceError(
                    "unreachable",
                    f"could not connect to the LMS ({type(exc).__name__})",
                    temporary=True,
                )
                retry_after = None
                lms_call_failed(service, "unreachable")
            else:
                status = response.status_code
                if status >= 400:
                    lms_call_failed(service, status)
                if status != 429 and status < 500:
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                message = lms_message(response)
                response.close()
                error = ServiceError(
                    "rate_limited" if status == 429 else "server_error",
                    f"the LMS answered {status}",
                    temporary=True,
                    status=status,
                    retry_after=retry_after,
                    detail=message,
                )
            finally:
                self.seconds += time.monotonic() - started
            if attempt == attempts:
                raise error
            ceiling = min(8.0, 0.25 * 2 ** (attempt - 1))
            pause = ceiling / 2 + _random.uniform(0, ceiling / 2)
            self._wait(max(pause, retry_after or 0.0), error)
        raise AssertionError("unreachable")

    def read_json(self, response: requests.Response, limit: int = MAX_BODY_BYTES) -> Any:
        """The body as JSON, read in chunks: at most ``limit`` bytes, within the deadline."""
        started = time.monotonic()
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(chunk_size=65536):
                total += len(chunk)
                if total > limit:
                    raise ServiceError(
                        "bad_response",
                        f"the LMS answer is larger than {limit // (1024 * 1024)} MB",
                        temporary=False,
                    )
                chunks.append(chunk)
                self.deadline.check()
        except requests.RequestException as exc:
            raise ServiceError(
                "timeout", f"the LMS stopped sending ({type(exc).__name__})", temporary=True
            ) from exc
        finally:
            response.close()
            self.seconds += time.monotonic() - started
        body = b"".join(chunks)
        try:
            return json.loads(body)
        except ValueError as exc:
            # A cut-off document or a proxy's HTML page in place of the answer: a glitch more
            # often than a misconfiguration, so it is retried (the job queue bounds the tries).
            raise ServiceError(
                "bad_response",
                "the LMS answer is not JSON",
                temporary=True,
                status=response.status_code,
                detail=_body_excerpt(body.decode("utf-8", "replace")),
            ) from exc


def _origin(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.hostname.lower(), port


def registration_origins(platform: ServiceRegistration) -> set[tuple[str, int]]:
    """The (host, port) pairs of a registration's own endpoints."""
    found = {_origin(platform.auth_token_url), _origin(platform.auth_login_url)}
    return {o for o in found if o is not None}


def check_service_url(
    platform: ServiceRegistration, url: str, extra_hosts: Sequence[str] = ()
) -> None:
    """Refuse to send this registration's bearer token to ``url`` unless it is one of its hosts.

    Service URLs arrive in signed launch claims, but a claim copied from another LMS, or a
    misconfigured one, must not make Bottega hand a token to a third party. ``extra_hosts``
    (LTI_SERVICE_HOSTS) names more hosts, exactly or as ``*.example.org``, for LMSs whose
    services live elsewhere than their login and token endpoints (e.g. Canvas).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServiceError(
            "untrusted_host", f"the service URL {url!r} is not an absolute URL", temporary=False
        )
    if parts.scheme == "http" and not is_loopback_url(url):
        raise ServiceError(
            "untrusted_host", f"the service URL {url} does not use https", temporary=False
        )
    origin = _origin(url)
    if origin in registration_origins(platform):
        return
    host = parts.hostname.lower()
    for pattern in extra_hosts:
        pattern = pattern.lower()
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return
    raise ServiceError(
        "untrusted_host",
        f"the service URL host {host} is not a host of this LMS registration "
        f"({', '.join(sorted(h for h, _ in registration_origins(platform)))}); "
        "add it to LTI_SERVICE_HOSTS if the LMS really serves it",
        temporary=False,
    )
