"""Job tests use the app of tests/sync (fast retries, settings per test) and its LMS fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..sync.conftest import app, lms, nrps_course, settings_overrides, tool_server  # noqa: F401
from . import handlers


@pytest.fixture(autouse=True)
def _fresh_handler_log() -> Iterator[None]:
    handlers.reset()
    yield
    handlers.GATE.set()  # release any handler still waiting
