"""The per-process cache of registrations: how soon a change is seen, and how much it keeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import update

from lti_tool.courses.models import Platform
from lti_tool.extensions import db
from lti_tool.lti.registry import Registry

from ..community.qa.conftest import make_platform

ISSUER = "https://moodle.example.org"


@pytest.fixture
def platform(app: Flask) -> Iterator[Platform]:
    with app.app_context():
        row = make_platform(ISSUER)
        db.session.commit()
        yield row


def _changed_elsewhere(platform_id: int, key_set_url: str) -> None:
    """What another worker process does: the row changes, this process hears nothing of it."""
    db.session.execute(
        update(Platform).where(Platform.id == platform_id).values(key_set_url=key_set_url)
    )
    db.session.commit()


def test_a_change_made_by_another_process_is_seen_within_the_ttl(platform: Platform) -> None:
    clock = [100.0]
    registry = Registry(ttl=30, clock=lambda: clock[0])
    found = registry.platform(db.session(), ISSUER, "client")
    assert found is not None and found.key_set_url == f"{ISSUER}/jwks"
    _changed_elsewhere(platform.id, f"{ISSUER}/keys-v2")
    clock[0] += 29
    assert registry.platform(db.session(), ISSUER, "client").key_set_url == f"{ISSUER}/jwks"
    assert registry.platform_by_id(db.session(), platform.id).key_set_url == f"{ISSUER}/jwks"
    clock[0] += 1
    assert registry.platform(db.session(), ISSUER, "client").key_set_url == f"{ISSUER}/keys-v2"


def test_a_change_made_in_this_process_is_seen_at_once(platform: Platform) -> None:
    registry = Registry(ttl=3600)
    deployment = registry.deployment(db.session(), platform.id, "1")
    assert deployment is not None and deployment.active
    platform.deployments[0].active = False  # through the ORM: a registration changed here
    db.session.commit()
    assert not registry.deployment(db.session(), platform.id, "1").active


def test_unknown_registrations_are_looked_up_again_and_the_cache_is_bounded(
    platform: Platform,
) -> None:
    registry = Registry(size=2)
    assert registry.platform(db.session(), "https://canvas.example.com", "client") is None
    other = make_platform("https://canvas.example.com")
    db.session.commit()
    assert registry.platform(db.session(), "https://canvas.example.com", "client") is not None
    for number in range(3):  # more deployments than the cache holds: the oldest leave
        registry.deployment(db.session(), platform.id, "1")
        registry.deployment(db.session(), other.id, str(number))
    assert len(registry._items) == 2
