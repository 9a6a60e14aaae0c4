"""Fixtures shared by the community capabilities: an SMTP server that keeps what it receives."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from lti_tool import create_app
from lti_tool.extensions import db

from ..conftest import _truncate_all, base_config


class Inbox:
    """An SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 try again later"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def inbox(request: pytest.FixtureRequest) -> Iterator[tuple[Inbox, int]]:
    """The server and its port; parametrize indirectly with aiosmtpd SMTP options."""
    options: dict[str, Any] = getattr(request, "param", {})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    yield handler, port
    controller.stop()


def mail_app(
    database_url: str, tmp_path: Path, keys_dir: Path, smtp_port: int, **extra: str
) -> Iterator[Flask]:
    """An app that mails through the test SMTP server (for an ``app`` fixture to yield from)."""
    app = create_app(
        base_config(
            tmp_path,
            keys_dir,
            DATABASE_URL=database_url,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp_port),
            SMTP_STARTTLS="0",
            SMTP_FROM="Bottega <noreply@academy.example>",
            JOBS_BACKOFF_BASE="60",  # a retry is never due in the same burst
            JOBS_BACKOFF_MAX="60",
            **extra,
        )
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            _truncate_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
