"""A scripted NRPS endpoint for the cases the test LMS does not produce: cursor paging with
unquoted or relative Link headers, rel="differences", loops, 429 with Retry-After, 401s."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request

from lti_tool.demo.platform import RunningServer, serve_in_thread

MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


@dataclass
class FakeLms:
    members: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    link_style: str = "quoted"  # "quoted", "bare" (rel=next) or "relative"
    offer_differences: bool = False
    loop: bool = False  # every page says its next page is the first
    statuses: list[int] = field(default_factory=list)  # answers to give before the real ones
    retry_after: str | None = None
    hang: threading.Event | None = None  # when set, requests wait for it (up to 30 s)
    valid_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    requests: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def issue(self) -> str:
        with self.lock:
            self.token_requests += 1
            token = f"token-{self.token_requests}"
            self.valid_tokens.add(token)
        return token

    def link(self, target: str, rel: str) -> str:
        if self.link_style == "relative":
            return f"<{target.removeprefix(self.url)}>; rel={rel}"
        if self.link_style == "bare":
            return f"<{target}>; rel={rel}"
        return f'<{target}>; rel="{rel}"'


def create_fake_app(fake: FakeLms) -> Flask:
    app = Flask(__name__)

    @app.post("/token")
    def token() -> Any:
        return {"access_token": fake.issue(), "token_type": "bearer", "expires_in": 3600}

    def gate() -> Response | None:
        with fake.lock:
            fake.requests.append(request.full_path)
            fake.authorizations.append(request.headers.get("Authorization", ""))
            status = fake.statuses.pop(0) if fake.statuses else None
        if fake.hang is not None:
            fake.hang.wait(30)
        if status is not None:
            headers = {"Retry-After": fake.retry_after} if fake.retry_after else {}
            return Response(json.dumps({"error": "scripted"}), status, headers=headers)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in fake.valid_tokens:
            return Response(json.dumps({"error": "invalid_token"}), 401)
        return None

    @app.get("/roster")
    def roster() -> Any:
        refused = gate()
        if refused is not None:
            return refused
        start = int(request.args.get("cursor", "0"))
        size = fake.page_size
        page = fake.members[start : start + size]
        response = Response(json.dumps({"id": "x", "members": page}), mimetype=MEDIA_TYPE)
        links = []
        if fake.loop:
            links.append(fake.link(f"{fake.url}/roster?cursor=0", "next"))
        elif start + size < len(fake.members):
            links.append(fake.link(f"{fake.url}/roster?cursor={start + size}", "next"))
        if fake.offer_differences:
            links.append(fake.link(f"{fake.url}/roster/changes?since=42", "differences"))
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    @app.get("/roster/changes")
    def changes() -> Any:
        refused = gate()
        if refused is not None:
            return refused
        response = Response(json.dumps({"members": fake.changes}), mimetype=MEDIA_TYPE)
        response.headers["Link"] = fake.link(f"{fake.url}/roster/changes?since=43", "differences")
        return response

    return app


@contextmanager
def serve_fake(fake: FakeLms) -> Iterator[RunningServer]:
    with serve_in_thread(create_fake_app(fake)) as server:
        fake.url = server.url
        try:
            yield server
        finally:
            if fake.hang is not None:
                fake.hang.set()
