"""Platform public keys: fetched with timeouts, cached, refetched once on an unknown kid.

Three layers: parsed keys in this process (no parsing per launch), the last key set in the
database (shared by every worker, and served stale while the LMS is down), and the network.
A refetch because of an unknown ``kid`` happens at most once per ``refetch_interval`` seconds
per platform, so a flood of forged tokens cannot make us hammer an LMS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from flask_babel import lazy_gettext as _l
from jwt import PyJWK
from jwt.exceptions import PyJWKError
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.courses.models import Platform
from lti_tool.courses.services import dialect_insert
from lti_tool.extensions import utcnow
from lti_tool.lti.errors import LaunchError
from lti_tool.lti.models import KeySetCache
from lti_tool.lti.registry import PlatformInfo
from lti_tool.telemetry.metrics import lms_call_failed

log = logging.getLogger(__name__)
USER_AGENT = "Bottega-LTI/0.1"
MAX_KEY_SET_BYTES = 1024 * 1024  # a key set is a few kB; a platform rotating 100 keys, 100 kB


@dataclass
class _Entry:
    keys: dict[str, Any]  # kid -> public key object
    fetched_at: float  # time.time() of the fetch (shared meaning across processes)
    last_attempt: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)
    kid_refetch: float = 0.0  # the last fetch asked for by an unknown kid


def _parse_key_set(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWKS document")
    parsed: dict[str, Any] = {}
    for jwk in data["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not jwk.get("kid"):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        try:
            parsed[str(jwk["kid"])] = PyJWK(jwk, algorithm="RS256").key
        except (PyJWKError, ValueError, TypeError):
            log.warning("ignoring an unreadable key %s in a platform key set", jwk.get("kid"))
    return parsed


def _failure_status(exc: Exception) -> int | str:
    """The metrics label of a failed key set fetch: its HTTP status, or what went wrong."""
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        return int(response.status_code)
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, ValueError):  # not JSON (requests' JSONDecodeError too), not a key set
        return "bad_response"
    return "unreachable"


# Failures worth a "try again" (503) rather than "fix the registration" (400): the LMS may
# answer in a moment. 5xx statuses count too.
_TEMPORARY = frozenset({"timeout", "unreachable", 429})


class PlatformKeys:
    """Finds the public key a platform signed a token with."""

    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        refetch_interval: float = 30.0,
        timeout: tuple[float, float] = (3.05, 5.0),
    ) -> None:
        self.ttl = ttl
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self._entries: dict[int, _Entry] = {}
        self._failures: dict[int, int | str] = {}  # how the last fetch failed, per platform
        # One fetch per platform at a time; another LMS's slow key set holds up no launch here.
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._http = requests.Session()
        self._http.headers["User-Agent"] = USER_AGENT
        self._http.headers["Accept"] = "application/json"

    def key_for(self, session: Session, platform: Platform | PlatformInfo, kid: str) -> Any:
        """The public key with this kid, or a LaunchError saying what is wrong."""
        now = time.time()
        entry = self._entries.get(platform.id) or self._load_cached(session, platform)
        fetched_now = False
        # A stale key set is refreshed; while the LMS fails, stale keys serve the launches and
        # the next try waits ``refetch_interval`` (no launch waits out a timeout each time).
        if entry is None or (now - entry.fetched_at > self.ttl and self._may_try(entry, now)):
            entry = self._refresh(session, platform, entry, now) or entry
            fetched_now = True
        if entry is not None and kid in entry.keys:
            return entry.keys[kid]
        # Unknown kid: the LMS may have rotated its keys. Refetch, but not too often: the
        # interval runs from the last refetch an unknown kid caused, not from a routine fetch,
        # so a rotation just after a fetch costs no failed launch. A key set this very launch
        # fetched is not fetched again.
        if entry is not None and fetched_now:
            entry.kid_refetch = now
        elif entry is not None and now - entry.kid_refetch >= self.refetch_interval:
            entry.kid_refetch = now
            entry = self._refresh(session, platform, entry, now) or entry
            entry.kid_refetch = now
            if kid in entry.keys:
                return entry.keys[kid]
        if entry is None:
            failure = self._failures.get(platform.id)
            if failure in _TEMPORARY or (isinstance(failure, int) and failure >= 500):
                raise LaunchError(
                    _l(
                        "This LMS did not hand out its public keys (%(url)s) just now, so "
                        "Bottega cannot check the launch. Try again in a few minutes; if it "
                        "lasts, check that the key set URL of the registration answers."
                    ),
                    status=503,
                    url=platform.key_set_url,
                )
            raise LaunchError(
                _l(
                    "Bottega could not fetch the public keys of this LMS from %(url)s. "
                    "Check the key set URL of the registration."
                ),
                url=platform.key_set_url,
            )
        raise LaunchError(
            _l(
                "The launch was signed with a key (kid %(kid)s) that this LMS does not publish "
                "at %(url)s."
            ),
            status=401,
            kid=kid,
            url=platform.key_set_url,
        )

    def _may_try(self, entry: _Entry, now: float) -> bool:
        """False for ``refetch_interval`` seconds after a failed fetch."""
        failed = entry.last_attempt > entry.fetched_at
        return not failed or now - entry.last_attempt >= self.refetch_interval

    def forget(self, platform_id: int) -> None:
        self._entries.pop(platform_id, None)

    def _load_cached(self, session: Session, platform: Platform | PlatformInfo) -> _Entry | None:
        row = session.scalar(select(KeySetCache).where(KeySetCache.platform_id == platform.id))
        if row is None:
            return None
        try:
            keys = _parse_key_set(row.keys)
        except ValueError:
            return None
        entry = _Entry(keys=keys, fetched_at=row.fetched_at.timestamp(), raw=row.keys)
        self._entries[platform.id] = entry
        return entry

    def _refresh(
        self, session: Session, platform: Platform | PlatformInfo, stale: _Entry | None, now: float
    ) -> _Entry | None:
        """Fetch the key set; on failure keep serving what we had (stale) and return it."""
        with self._locks_guard:
            lock = self._locks.setdefault(platform.id, threading.Lock())
        with lock:
            # Another thread may have fetched while this one waited for the lock.
            current = self._entries.get(platform.id)
            if current is not None and current is not stale and current.fetched_at >= now - 1:
                return current
            if stale is not None:
                stale.last_attempt = now
            try:
                data = self._fetch(platform.key_set_url)
                keys = _parse_key_set(data)
            except (requests.RequestException, ValueError) as exc:
                self._failures[platform.id] = _failure_status(exc)
                lms_call_failed("jwks", self._failures[platform.id])
                log.warning(
                    "key set fetch failed for platform %s: %s", platform.id, type(exc).__name__
                )
                return stale
            entry = _Entry(keys=keys, fetched_at=now, last_attempt=now, raw=data)
            self._entries[platform.id] = entry
            self._failures.pop(platform.id, None)
        self._store(session, platform.id, data)
        return entry

    def _fetch(self, url: str) -> Any:
        """The key set document: at most MAX_KEY_SET_BYTES, and whole within the connect
        timeout and twice the read timeout (a byte at a time never trips a read timeout)."""
        started = time.monotonic()
        deadline = self.timeout[0] + 2 * self.timeout[1]
        with self._http.get(url, timeout=self.timeout, stream=True) as response:
            response.raise_for_status()
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(chunk_size=16384):
                size += len(chunk)
                if size > MAX_KEY_SET_BYTES:
                    raise ValueError(f"a key set larger than {MAX_KEY_SET_BYTES} bytes")
                if time.monotonic() - started > deadline:
                    raise requests.Timeout(f"no complete key set within {deadline:.0f} s")
                chunks.append(chunk)
        return json.loads(b"".join(chunks))

    def _store(self, session: Session, platform_id: int, data: dict[str, Any]) -> None:
        now = utcnow()
        stmt = dialect_insert(session, KeySetCache).values(
            platform_id=platform_id, keys=data, fetched_at=now
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["platform_id"], set_={"keys": data, "fetched_at": now}
            )
        )
