"""Fault tests share the real-HTTP LMS and the fast-retry app of tests/sync."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lti_tool.demo.platform import Platform

from ..sync import conftest as sync_fixtures

app = sync_fixtures.app
settings_overrides = sync_fixtures.settings_overrides
lms = sync_fixtures.lms
tool_server = sync_fixtures.tool_server
nrps_course = sync_fixtures.nrps_course


@pytest.fixture(autouse=True)
def _heal_the_lms(request: pytest.FixtureRequest) -> Iterator[None]:
    """Release requests a test left hanging at the LMS, so its server stops at once."""
    # Asked for here, so that this teardown runs before the LMS's.
    platform: Platform | None = None
    if "lms" in request.fixturenames:
        platform = request.getfixturevalue("lms").platform
    yield
    if platform is not None:
        platform.heal()
