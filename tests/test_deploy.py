"""The production layout on one machine: gunicorn with the real deploy/gunicorn.conf.py (three
workers), two ``flask jobs work`` processes, PostgreSQL and Redis, driven over real HTTP.

Every piece of state a request needs must be shared through PostgreSQL or Redis: the session
cookie opened by one worker is honoured by the others, a rate limit counts posts whichever
worker takes them, an origin learnt from a launch reaches every worker's Content-Security-Policy,
a roster sync queued by a web worker runs in a job worker, and an LMS access token fetched by
one job worker is reused by the other. Which worker answered is read from gunicorn's access log
(the config writes each worker's pid there).

Skipped with the reason when PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) does not
answer. Redis database 5 holds this test's rate limits, its own queue and tokens.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from lti_tool.config import PROJECT_ROOT
from lti_tool.demo.platform import Platform, RunningServer, serve_platform

from .conftest import POSTGRES_URL, _port_answers, postgres_reason
from .lti_harness import (
    CLIENT_ID,
    INSTRUCTOR,
    LEARNER,
    Browser,
    browser,
    csrf_token,
    parse_form,
    post_launch,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/5"
WORKERS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = postgres_reason()
    if reason:
        pytest.skip(reason)
    if not _port_answers("127.0.0.1", 6379):
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    import psycopg

    name = f"bottega_deploy_{secrets.token_hex(5)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stack:
    """The tool's processes, started as docs/deploy.md starts them (systemd aside)."""

    def __init__(self, tmp: Path, database_url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = tmp / "access.log"
        self.queue = f"bottega-deploy-test-{secrets.token_hex(4)}"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JOBS_", "ROSTER_", "GRADES_", "BOTTEGA_", "HTTP_"))
        }
        self.env.update(
            BOTTEGA_ENV="production",
            SECRET_KEY=secrets.token_urlsafe(48),
            PUBLIC_URL=self.url,
            DATABASE_URL=database_url,
            REDIS_URL=REDIS_URL,
            KEYS_DIR=str(tmp / "keys"),
            INSTANCE_PATH=str(tmp / "instance"),
            JOBS_QUEUE=self.queue,
            JOBS_SWEEP_INTERVAL="0.5",
            JOBS_POLL_INTERVAL="0.2",
            ROSTER_SCHEDULE_INTERVAL="0",
            GRADES_SCHEDULE_INTERVAL="0",
            DIGEST_SCHEDULE_INTERVAL="0",
            WEB_CONCURRENCY=str(WORKERS),
            BOTTEGA_THREADS="2",
            BOTTEGA_BIND=f"127.0.0.1:{self.port}",
            BOTTEGA_ACCESS_LOG=str(self.access_log),
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[Any] = []
        self.logs = tmp

    def flask(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done.stdout

    def start(self, name: str, *argv: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.files.append(log)
        self.procs.append(
            subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=10).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert all(p.poll() is None for p in self.procs), self.log_tail()
            time.sleep(0.2)
        raise AssertionError("gunicorn did not answer: " + self.log_tail())

    def log_tail(self) -> str:
        return "\n".join(p.read_text()[-1500:] for p in self.logs.glob("*.log"))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for file in self.files:
            file.close()

    def workers_of(self, marker: str) -> set[str]:
        """The pids of the gunicorn workers that answered requests whose URL holds ``marker``."""
        lines = [line for line in self.access_log.read_text().splitlines() if marker in line]
        return {m.group(1) for line in lines if (m := re.search(r" <(\d+)> ", line))}


@pytest.fixture
def stack(pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path, pg_url)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def lms_server() -> Iterator[RunningServer]:
    with serve_platform() as server:
        yield server


def _sql(url: str, query: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return list(conn.execute(query).fetchall())


def _launch(lms: Platform, client: Browser, **kwargs: Any) -> str:
    prepared = lms.prepare_launch(CLIENT_ID, **kwargs)
    login = client.get(prepared.login_url, allow_redirects=False, timeout=10)
    assert login.status_code == 302, login.text[:300]
    auth = client.get(login.headers["Location"], allow_redirects=False, timeout=10)
    result = post_launch(client, *parse_form(auth.text))
    assert result.page is not None and result.page.status_code == 200, result.status
    return str(result.page.url).split("/w/", 1)[1].split("/", 1)[0]


# A new connection per request: gunicorn's workers take connections in turn; keep-alive would
# pin every request to one worker.
FRESH = {"Connection": "close"}


def test_several_workers_and_job_workers_share_every_state(
    stack: Stack, lms_server: RunningServer, pg_url: str
) -> None:
    import redis

    lms = lms_server.platform
    lms.register_tool(
        CLIENT_ID,
        login_url=f"{stack.url}/lti/login",
        redirect_uris=[f"{stack.url}/lti/launch"],
        jwks_url=f"{stack.url}/.well-known/jwks.json",
        deployment_ids=["1"],
    )
    # Database 5 is this test's own: start it empty. Rate limits of an earlier run (the same
    # member ids in a fresh database, a 60-an-hour window) would otherwise refuse every post.
    with redis.Redis.from_url(REDIS_URL) as store:
        store.flushdb()

    # docs/deploy.md: migrate, create the keys, register the LMS, start everything.
    stack.flask("db", "upgrade")
    assert stack.flask("keys", "list").strip()
    stack.flask(
        "platform",
        "add",
        "--issuer",
        lms.issuer,
        "--client-id",
        CLIENT_ID,
        "--auth-login-url",
        lms.auth_url,
        "--auth-token-url",
        lms.token_url,
        "--key-set-url",
        lms.jwks_url,
        "--deployment-id",
        "1",
    )
    stack.start("gunicorn", str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app")
    for n in (1, 2):
        stack.start(f"jobs{n}", str(BIN / "flask"), "--app", "wsgi", "jobs", "work",
                    "--worker-id", f"deploy-test-{n}")  # fmt: skip
    stack.wait_until_up()

    # Two courses with a roster service: each launch queues a roster sync in a web worker.
    teacher = browser()
    courses = ["course-a", "course-b"]
    school = "http://school.localhost:9"
    lids = []
    for context in courses:
        with lms.lock:
            lms.rosters[context] = [
                {"user_id": f"{context}-s{i}", "roles": [LEARNER], "status": "Active"}
                for i in range(30)
            ]
        lids.append(
            _launch(
                lms,
                teacher,
                user={"sub": "teacher-1", "name": "Prof Bianchi"},
                roles=[INSTRUCTOR],
                context={"id": context, "title": context},
                nrps=True,
                launch_presentation={"document_target": "iframe", "return_url": school + "/c"},
            )
        )

    # The session cookie one worker signed opens pages on every worker; and the origin learnt
    # from the launch's return URL is in every worker's frame-ancestors.
    for i in range(30):
        page = teacher.get(
            f"{stack.url}/w/{lids[i % 2]}/qa/?probe=session-{i}",
            headers=FRESH,
            timeout=10,
        )
        assert page.status_code == 200, page.text[:300]
        assert school in page.headers["Content-Security-Policy"]
        assert lms.issuer in page.headers["Content-Security-Policy"]
    assert len(stack.workers_of("probe=session-")) >= 2, stack.access_log.read_text()[-2000:]

    # The rate limit (10 questions a minute) counts in Redis, whichever worker takes a post.
    ask = teacher.get(f"{stack.url}/w/{lids[0]}/qa/ask", timeout=10)
    token = csrf_token(ask.text)
    statuses = []
    for i in range(12):
        posted = teacher.post(
            f"{stack.url}/w/{lids[0]}/qa/ask?probe=post-{i}",
            data={"csrf_token": token, "title": f"Question number {i} about art", "body": "Why?"},
            headers=FRESH,
            allow_redirects=False,
            timeout=10,
        )
        statuses.append(posted.status_code)
    assert statuses[:10] == [303] * 10 and statuses[10:] == [429, 429], statuses
    assert len(stack.workers_of("probe=post-")) >= 2

    # The roster syncs ran in the job workers, and one LMS token served both (Redis cache).
    deadline = time.monotonic() + 60
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        rows = _sql(pg_url, "SELECT status FROM job_outbox WHERE kind = 'roster.sync'")
        if len(rows) == 2 and all(r[0] == "done" for r in rows):
            break
        time.sleep(0.3)
    assert [r[0] for r in rows] == ["done", "done"], (rows, stack.log_tail())
    assert _sql(pg_url, "SELECT count(*) FROM member")[0][0] >= 1 + 2 * 30
    assert lms.token_requests == 1
