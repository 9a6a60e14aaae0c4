"""Registering LMS platforms (manually, from the CLI; dynamic registration comes later)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lti_tool.config import is_loopback_url
from lti_tool.courses.models import Deployment, Platform, PlatformStatus


class RegistrationError(ValueError):
    """A registration that cannot be stored, with a message for the admin."""


def check_url(label: str, url: str) -> str:
    """An absolute https URL (http only on loopback, for development)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistrationError(f"{label} must be an absolute https URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback_url(url):
        raise RegistrationError(f"{label} must use https (http only on 127.0.0.1/localhost)")
    return url


MAX_TEXT = 255  # the database's limit for issuers, client ids, names and deployment ids


def check_length(label: str, value: str) -> str:
    """Refused here in words, rather than by PostgreSQL (SQLite would store it whole)."""
    if len(value) > MAX_TEXT:
        raise RegistrationError(
            f"{label} is {len(value)} characters long; Bottega stores at most {MAX_TEXT}"
        )
    return value


@dataclass(frozen=True)
class PlatformInput:
    """What an admin types in to register an LMS."""

    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: tuple[str, ...] = ()
    name: str = ""
    auth_audience: str | None = None
    status: PlatformStatus = PlatformStatus.ACTIVE


def add_platform(session: Session, data: PlatformInput) -> Platform:
    """Store a new registration with its deployments; refuses duplicates and bad URLs."""
    issuer = data.issuer.strip()
    if not issuer:
        raise RegistrationError("issuer must not be empty")
    if "://" in issuer:
        check_url("issuer", issuer)
    client_id = data.client_id.strip()
    if not client_id:
        raise RegistrationError("client id must not be empty")
    deployment_ids = [d.strip() for d in data.deployment_ids]
    if any(not d for d in deployment_ids):
        raise RegistrationError("deployment ids must not be empty")
    if len(set(deployment_ids)) != len(deployment_ids):
        raise RegistrationError("a deployment id is given twice")
    check_length("issuer", issuer)
    check_length("client id", client_id)
    check_length("name", data.name.strip())
    for deployment_id in deployment_ids:
        check_length("deployment id", deployment_id)
    platform = Platform(
        issuer=issuer,
        client_id=client_id,
        name=data.name.strip() or issuer,
        auth_login_url=check_url("auth login URL", data.auth_login_url),
        auth_token_url=check_url("auth token URL", data.auth_token_url),
        key_set_url=check_url("key set URL", data.key_set_url),
        auth_audience=data.auth_audience,
        status=data.status,
        deployments=[Deployment(deployment_id=d) for d in deployment_ids],
    )
    existing = session.scalar(
        select(Platform.id).where(Platform.issuer == issuer, Platform.client_id == client_id)
    )
    if existing is not None:
        raise RegistrationError(
            f"a platform with issuer {issuer} and client id {client_id} is already registered"
        )
    session.add(platform)
    session.commit()
    return platform


def list_platforms(session: Session) -> list[Platform]:
    """Every registration with its deployments, oldest first."""
    return list(
        session.scalars(
            select(Platform).options(selectinload(Platform.deployments)).order_by(Platform.id)
        )
    )


def add_deployments(session: Session, platform: Platform, deployment_ids: Iterable[str]) -> None:
    """Add deployments a platform does not have yet."""
    deployment_ids = [check_length("deployment id", d) for d in deployment_ids]
    known = {d.deployment_id for d in platform.deployments}
    for deployment_id in deployment_ids:
        if deployment_id not in known:
            platform.deployments.append(Deployment(deployment_id=deployment_id))
            known.add(deployment_id)
    session.commit()


def set_platform_status(session: Session, platform: Platform, status: PlatformStatus) -> None:
    """Approve (active), or disable, a registration; every worker sees it within the registry's
    cache lifetime (30 s)."""
    platform.status = status
    session.commit()


def platform_as_dict(platform: Platform) -> dict[str, Any]:
    """A registration as plain data (for --json output and the admin API)."""
    return {
        "id": platform.id,
        "issuer": platform.issuer,
        "client_id": platform.client_id,
        "name": platform.name,
        "auth_login_url": platform.auth_login_url,
        "auth_token_url": platform.auth_token_url,
        "key_set_url": platform.key_set_url,
        "auth_audience": platform.auth_audience,
        "status": platform.status.value,
        "deployment_ids": [d.deployment_id for d in platform.deployments],
        "created_at": platform.created_at.isoformat() if platform.created_at else None,
    }
