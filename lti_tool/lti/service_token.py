"""OAuth2 service tokens (LTI Security Framework 1.0 §4.1): client credentials with a signed
JWT client assertion, cached per tenant and shared by every worker.

The cache key is (issuer, client_id, deployment, scopes): two registrations of one issuer (Canvas
registers a tool once per developer key) never share a token. pylti1p3's own cache leaves the
client id out of its key, so it is not used. Tokens live in the database, or in Redis when
REDIS_URL is set, until shortly before ``expires_in``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt
import requests
from sqlalchemy import String, Text, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from lti_tool.courses.models import Platform
from lti_tool.extensions import UTCDateTime, db, utcnow
from lti_tool.jobs import begin_write
from lti_tool.lti.keys import KeyStore
from lti_tool.lti.services import ServiceError, ServiceHttp, ServiceRegistration, lms_message

log = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300
DEFAULT_EXPIRES_IN = 300  # when the LMS does not say how long its token lives


class ServiceToken(db.Model):  # type: ignore[name-defined]
    """A cached access token for one (issuer, client id, deployment, scopes)."""

    __tablename__ = "lti_service_token"

    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the key
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(Text)
    access_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # already less the safety margin
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class TokenKey:
    """Whose token: a token is never shared between tenants or scope sets."""

    issuer: str
    client_id: str
    deployment_id: str
    scopes: tuple[str, ...]

    @classmethod
    def of(
        cls, platform: ServiceRegistration, deployment_id: str, scopes: Sequence[str]
    ) -> TokenKey:
        return cls(platform.issuer, platform.client_id, deployment_id, tuple(sorted(set(scopes))))

    @property
    def digest(self) -> str:
        parts = (self.issuer, self.client_id, self.deployment_id, " ".join(self.scopes))
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class TokenCache(Protocol):
    """Where tokens are kept between calls and across workers."""

    def get(self, key: TokenKey) -> str | None: ...

    def put(self, key: TokenKey, token: str, usable_for: float) -> None: ...

    def drop(self, key: TokenKey) -> None: ...

    def claim(self, key: TokenKey, seconds: float) -> bool:
        """Whether this caller may fetch the token now (False: another worker is fetching it)."""
        ...

    def release(self, key: TokenKey) -> None: ...


# Workers that miss the cache together ask the LMS once: the first claims the fetch (for at most
# FETCH_CLAIM seconds), the others wait up to FETCH_WAIT for its token, then fetch their own.
FETCH_CLAIM = 15.0
FETCH_WAIT = 5.0
FETCH_POLL = 0.05


class DatabaseTokenCache:
    """Tokens in ``lti_service_token``, each read and write in a short transaction of its own."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def get(self, key: TokenKey) -> str | None:
        with self.session_factory() as session:
            row = session.execute(
                select(ServiceToken.access_token, ServiceToken.expires_at).where(
                    ServiceToken.cache_key == key.digest
                )
            ).one_or_none()
        if row is None or row.expires_at <= utcnow():
            return None
        return str(row.access_token)

    def put(self, key: TokenKey, token: str, usable_for: float) -> None:
        expires_at = datetime.fromtimestamp(time.time() + usable_for, UTC)
        values: dict[str, Any] = {
            "cache_key": key.digest,
            "issuer": key.issuer,
            "client_id": key.client_id,
            "deployment_id": key.deployment_id,
            "scopes": " ".join(key.scopes),
            "access_token": token,
            "expires_at": expires_at,
            "created_at": utcnow(),
        }
        with self.session_factory() as session:
            begin_write(session)
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(ServiceToken).values(**values)
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["cache_key"],
                    set_={"access_token": token, "expires_at": expires_at},
                )
            )
            session.commit()

    def drop(self, key: TokenKey) -> None:
        with self.session_factory() as session:
            begin_write(session)
            session.execute(delete(ServiceToken).where(ServiceToken.cache_key == key.digest))
            session.commit()

    def claim(self, key: TokenKey, seconds: float) -> bool:
        return True  # one process (the embedded default): nobody else fetches at the same time

    def release(self, key: TokenKey) -> None:
        return None


class RedisTokenCache:
    """Tokens in Redis with a TTL (used when REDIS_URL is set)."""

    def __init__(self, redis: Any, prefix: str = "bottega:service-token:") -> None:
        self.redis = redis
        self.prefix = prefix

    def get(self, key: TokenKey) -> str | None:
        value = self.redis.get(self.prefix + key.digest)
        return value.decode() if isinstance(value, bytes) else value

    def put(self, key: TokenKey, token: str, usable_for: float) -> None:
        self.redis.set(self.prefix + key.digest, token, px=max(1, int(usable_for * 1000)))

    def drop(self, key: TokenKey) -> None:
        self.redis.delete(self.prefix + key.digest)

    def claim(self, key: TokenKey, seconds: float) -> bool:
        claimed = self.redis.set(
            self.prefix + "fetching:" + key.digest, "1", nx=True, px=max(1, int(seconds * 1000))
        )
        return bool(claimed)

    def release(self, key: TokenKey) -> None:
        self.redis.delete(self.prefix + "fetching:" + key.digest)


def usable_for(expires_in: float) -> float:
    """How long to keep a token: until shortly before it expires (a minute, or a tenth)."""
    return max(0.0, expires_in - min(60.0, expires_in / 10))


def client_assertion(
    platform: ServiceRegistration | Platform, keys: KeyStore, now: float | None = None
) -> str:
    """A JWT signed with the tool's current key: iss = sub = client id, aud = token endpoint."""
    moment = now if now is not None else time.time()
    key = keys.signing_key(datetime.fromtimestamp(moment, UTC))
    issued = int(moment)
    claims = {
        "iss": platform.client_id,
        "sub": platform.client_id,
        "aud": platform.auth_audience or platform.auth_token_url,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
        "jti": secrets.token_urlsafe(24),
    }
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


class ServiceTokenClient:
    """Gets access tokens for one process's calls: from the cache, else from the LMS."""

    def __init__(self, http: ServiceHttp, keys: KeyStore, cache: TokenCache) -> None:
        self.http = http
        self.keys = keys
        self.cache = cache
        self.fetched = 0  # tokens requested from LMSs by this client

    def token(
        self,
        platform: ServiceRegistration,
        deployment_id: str,
        scopes: Sequence[str],
        *,
        refresh: bool = False,
    ) -> str:
        """An access token for these scopes; ``refresh`` forgets the cached one first."""
        key = TokenKey.of(platform, deployment_id, scopes)
        if refresh:
            self.cache.drop(key)
        else:
            cached = self.cache.get(key)
            if cached:
                return cached
        if not self.cache.claim(key, FETCH_CLAIM):
            fetched = self._wait_for(key)  # another worker is asking the LMS right now
            if fetched:
                return fetched
        try:
            token, expires_in = self._request(platform, key.scopes)
            self.cache.put(key, token, usable_for(expires_in))
        finally:
            self.cache.release(key)
        return token

    def _wait_for(self, key: TokenKey) -> str | None:
        deadline = time.monotonic() + FETCH_WAIT
        while time.monotonic() < deadline:
            time.sleep(FETCH_POLL)
            cached = self.cache.get(key)
            if cached:
                return cached
        return None

    def _request(self, platform: ServiceRegistration, scopes: Sequence[str]) -> tuple[str, float]:
        def form() -> dict[str, str]:  # a new assertion (new jti) for every attempt
            return {
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(platform, self.keys),
                "scope": " ".join(scopes),
            }

        self.fetched += 1
        response = self.http.request(
            "POST",
            platform.auth_token_url,
            headers={"Accept": "application/json"},
            data=form,
            service="token",
        )
        if response.status_code != 200:
            message = lms_message(response)
            response.close()
            raise ServiceError(
                "token_refused",
                f"the LMS token endpoint refused Bottega ({response.status_code})",
                temporary=response.status_code in (408, 425),
                status=response.status_code,
                detail=message,
            )
        data = self.http.read_json(response, limit=256 * 1024)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ServiceError(
                "bad_response", "the LMS token answer has no access_token", temporary=False
            )
        try:
            expires_in = float(data.get("expires_in") or DEFAULT_EXPIRES_IN)
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        return token, expires_in


def authorized(
    http: ServiceHttp,
    token: Callable[[bool], str],
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    data: bytes | None = None,
    service: str = "lms",
    retry: bool = True,
) -> requests.Response:
    """A request with a bearer token from ``token(refresh)``; a 401 gets one retry with a
    refreshed token (the LMS refused it before doing anything). Returns the last answer unread
    (a 401 when the new token failed too). ``retry``: see ``ServiceHttp.request``."""
    for refresh in (False, True):
        bearer = token(refresh)
        response = http.request(
            method,
            url,
            headers={**headers, "Authorization": f"Bearer {bearer}"},
            data=data,
            service=service,
            retry=retry,
        )
        if response.status_code != 401 or refresh:
            return response
        response.close()
    raise AssertionError("unreachable")
