"""Fixtures that serve the tool and a test LMS on real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from lti_tool.demo.platform import RunningServer, serve_in_thread, serve_platform

from ..lti_harness import Lms, register_both_sides


@pytest.fixture
def tool_server(app: Flask) -> Iterator[RunningServer]:
    with serve_in_thread(app) as server:
        yield server


@pytest.fixture
def lms(app: Flask, tool_server: RunningServer) -> Iterator[Lms]:
    """An LMS with Bottega registered on both sides (deployment "1")."""
    with serve_platform() as server:
        register_both_sides(app, server.platform, tool_server.url, name="Test LMS")
        yield Lms(server=server, tool_url=tool_server.url)
