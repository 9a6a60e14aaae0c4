"""Platform registrations and deployments, read once and kept in each process for a short time.

Logins and launches read the same few registration rows thousands of times; they change only
when an administrator registers, activates, disables or removes an LMS. Each process keeps an
immutable copy of what it read for ``ttl`` seconds. A change made through the ORM in this
process is seen at once (mapper events bump a generation number); a change made by another
process (the CLI, another worker) within ``ttl`` seconds. Nothing that must be shared between
workers lives only here: state and nonce are consumed in the database, and platform keys are
verified on every launch.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from lti_tool.courses.models import Deployment, Platform, PlatformStatus
from lti_tool.lti.frame_origins import default_origins
from lti_tool.lti.models import FrameOrigin

DEFAULT_TTL = 30.0  # seconds a registration change made elsewhere may take to be seen
MAX_ANY_ORIGINS = 100  # beyond this, pages with no registration are framed by no LMS


@dataclass(frozen=True)
class PlatformInfo:
    """What a login and a launch need of a registration, copied out of the ORM row."""

    id: int
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    auth_audience: str | None
    status: PlatformStatus

    @property
    def own_origins(self) -> tuple[str, ...]:
        """The origins of the registration's own URLs (frame-ancestors defaults)."""
        return default_origins(
            (self.issuer, self.auth_login_url, self.auth_token_url, self.key_set_url)
        )

    @classmethod
    def of(cls, row: Any) -> PlatformInfo:
        return cls(
            id=row.id,
            issuer=row.issuer,
            client_id=row.client_id,
            auth_login_url=row.auth_login_url,
            auth_token_url=row.auth_token_url,
            key_set_url=row.key_set_url,
            auth_audience=row.auth_audience,
            status=PlatformStatus(row.status),
        )


@dataclass(frozen=True)
class DeploymentInfo:
    id: int
    platform_id: int
    deployment_id: str
    active: bool


_generation = itertools.count(1)
_current = [next(_generation)]


def registrations_changed(*_args: Any) -> None:
    """Forget every cached registration in this process (another generation begins)."""
    _current[0] = next(_generation)


for _model in (Platform, Deployment, FrameOrigin):
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _name, registrations_changed)

_PLATFORM_COLUMNS = (
    Platform.id,
    Platform.issuer,
    Platform.client_id,
    Platform.auth_login_url,
    Platform.auth_token_url,
    Platform.key_set_url,
    Platform.auth_audience,
    Platform.status,
)


class Registry:
    """A per-process, time-limited cache of platform and deployment rows.

    Entries live ``ttl`` seconds (cachetools' TTLCache, the least recently used leave first past
    ``size``) and are ignored once this process has seen a registration change (a new
    generation); other processes see a change within ``ttl``.
    """

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._items: TTLCache[tuple[Any, ...], tuple[int, Any]] = TTLCache(size, ttl, timer=clock)
        self._lock = threading.Lock()  # a TTLCache changes as it is read: one thread at a time

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _get(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        with self._lock:
            try:
                generation, value = self._items[key]
            except KeyError:
                return False, None
        if generation != _current[0]:
            return False, None
        return True, value

    def _put(self, key: tuple[Any, ...], value: Any, generation: int) -> None:
        with self._lock:
            self._items[key] = (generation, value)

    def platform(self, session: Session, iss: str, client_id: str | None) -> PlatformInfo | None:
        """The registration for (issuer, client id); with no client id, the issuer's only one."""
        key = ("p", iss, client_id)
        hit, value = self._get(key)
        if hit:
            return value
        generation = _current[0]
        query = select(*_PLATFORM_COLUMNS).where(Platform.issuer == iss)
        if client_id:
            rows = session.execute(query.where(Platform.client_id == client_id)).all()
        else:
            rows = session.execute(query.limit(2)).all()
        info = PlatformInfo.of(rows[0]) if len(rows) == 1 else None
        if info is not None:  # an unknown LMS is looked up again next time
            self._put(key, info, generation)
            self._put(("id", info.id), info, generation)
        return info

    def platform_by_id(self, session: Session, platform_id: int) -> PlatformInfo | None:
        key = ("id", platform_id)
        hit, value = self._get(key)
        if hit:
            return value
        generation = _current[0]
        row = session.execute(
            select(*_PLATFORM_COLUMNS).where(Platform.id == platform_id)
        ).one_or_none()
        info = PlatformInfo.of(row) if row is not None else None
        if info is not None:
            self._put(key, info, generation)
        return info

    def deployment(
        self, session: Session, platform_id: int, deployment_id: str
    ) -> DeploymentInfo | None:
        key = ("d", platform_id, deployment_id)
        hit, value = self._get(key)
        if hit:
            return value
        generation = _current[0]
        row = session.execute(
            select(
                Deployment.id, Deployment.platform_id, Deployment.deployment_id, Deployment.active
            ).where(
                Deployment.platform_id == platform_id, Deployment.deployment_id == deployment_id
            )
        ).one_or_none()
        info = DeploymentInfo(row[0], row[1], row[2], bool(row[3])) if row is not None else None
        if info is not None:
            self._put(key, info, generation)
        return info

    def frame_origins(self, session: Session, platform_id: int) -> tuple[str, ...]:
        """Every origin allowed to frame pages of this registration (see lti.frame_origins)."""
        key = ("fo", platform_id)
        hit, value = self._get(key)
        if hit:
            return value
        generation = _current[0]
        platform = self.platform_by_id(session, platform_id)
        if platform is None:
            return ()
        stored = session.scalars(
            select(FrameOrigin.origin)
            .where(FrameOrigin.platform_id == platform_id)
            .order_by(FrameOrigin.created_at, FrameOrigin.origin)
        ).all()
        origins = tuple(dict.fromkeys((*platform.own_origins, *stored)))
        self._put(key, origins, generation)
        return origins

    def any_frame_origins(self, session: Session) -> tuple[str, ...]:
        """The origins of every active registration, for pages that belong to none of them.

        Empty when there are more than MAX_ANY_ORIGINS: the header must stay small.
        """
        key = ("fo*",)
        hit, value = self._get(key)
        if hit:
            return value
        generation = _current[0]
        active = Platform.status == PlatformStatus.ACTIVE
        found: dict[str, None] = {}
        for row in session.execute(select(*_PLATFORM_COLUMNS).where(active)).all():
            found.update(dict.fromkeys(PlatformInfo.of(row).own_origins))
        stored = select(FrameOrigin.origin).join(Platform, Platform.id == FrameOrigin.platform_id)
        found.update(dict.fromkeys(session.scalars(stored.where(active)).all()))
        if len(found) > MAX_ANY_ORIGINS:
            found = {}
        origins = tuple(found)
        self._put(key, origins, generation)
        return origins
