"""Fixtures that serve the tool and a test LMS on real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from lti_tool.demo.platform import RunningServer, serve_in_thread, serve_platform
from lti_tool.extensions import db
from lti_tool.lti.registration import PlatformInput, add_platform

from ..lti_harness import CLIENT_ID, Lms


@pytest.fixture
def tool_server(app: Flask) -> Iterator[RunningServer]:
    with serve_in_thread(app) as server:
        yield server


@pytest.fixture
def lms(app: Flask, tool_server: RunningServer) -> Iterator[Lms]:
    """An LMS with Bottega registered on both sides (deployment "1")."""
    with serve_platform() as server:
        platform = server.platform
        tool = tool_server.url
        platform.register_tool(
            CLIENT_ID,
            login_url=f"{tool}/lti/login",
            redirect_uris=[f"{tool}/lti/launch"],
            jwks_url=f"{tool}/.well-known/jwks.json",
            deployment_ids=["1"],
        )
        with app.app_context():
            add_platform(
                db.session(),
                PlatformInput(
                    issuer=platform.issuer,
                    client_id=CLIENT_ID,
                    auth_login_url=platform.auth_url,
                    auth_token_url=platform.token_url,
                    key_set_url=platform.jwks_url,
                    deployment_ids=("1",),
                    name="Test LMS",
                ),
            )
        yield Lms(server=server, tool_url=tool)
