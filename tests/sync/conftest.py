"""Fixtures for roster sync: the real-HTTP LMS of tests/lti, with an NRPS course launched."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from lti_tool import create_app
from lti_tool.courses.models import Course
from lti_tool.extensions import db

from ..conftest import _truncate_all, base_config
from ..lti import conftest as lti_fixtures
from ..lti_harness import INSTRUCTOR, LEARNER, Lms, browser

# The real-HTTP LMS fixtures of tests/lti, shared here.
lms = lti_fixtures.lms
tool_server = lti_fixtures.tool_server

CONTEXT = "course-101"
TEACHER = "teacher-1"
# Fast retries and short timeouts: a failing test should fail in seconds.
FAST = {
    "JOBS_BACKOFF_BASE": "0.01",
    "JOBS_BACKOFF_MAX": "0.05",
    "HTTP_CONNECT_TIMEOUT": "2",
    "HTTP_READ_TIMEOUT": "5",
    "HTTP_RETRIES": "1",
    "HTTP_MAX_WAIT": "2",
    "ROSTER_SCHEDULE_INTERVAL": "0",  # tests that want the schedule turn it on
    "GRADES_SCHEDULE_INTERVAL": "0",
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Settings for this test's app; parametrize a test on this name to change them."""
    return {}


@pytest.fixture
def app(
    database_url: str, tmp_path: Path, keys_dir: Path, settings_overrides: dict[str, Any]
) -> Iterator[Flask]:
    app = create_app(
        base_config(tmp_path, keys_dir, DATABASE_URL=database_url, **{**FAST, **settings_overrides})
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            _truncate_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def member(i: int, role: str = LEARNER, **extra: Any) -> dict[str, Any]:
    """An NRPS member entry as the test LMS lists it."""
    return {
        "user_id": f"user-{i:05d}",
        "name": f"Student {i}",
        "given_name": "Student",
        "family_name": str(i),
        "email": f"student{i}@example.org",
        "roles": [role],
        "status": "Active",
        **extra,
    }


def teacher() -> dict[str, Any]:
    return {
        "user_id": TEACHER,
        "name": "Prof Bianchi",
        "email": "bianchi@example.org",
        "roles": [INSTRUCTOR],
        "status": "Active",
    }


@dataclass
class NrpsCourse:
    """A course launched once by its instructor with an NRPS claim."""

    lms: Lms
    app: Flask
    context_id: str
    course_id: int
    lid: str
    client: Any  # the instructor's browser

    @property
    def platform(self) -> Any:
        return self.lms.platform

    def set_roster(self, members: list[dict[str, Any]]) -> None:
        with self.platform.lock:
            self.platform.rosters[self.context_id] = [teacher(), *members]

    def cli(self, *args: str) -> Any:
        runner: FlaskCliRunner = self.app.test_cli_runner()
        return runner.invoke(args=list(args))

    def sync(self, *extra: str) -> Any:
        return self.cli(
            "roster", "sync", "--issuer", self.lms.issuer, "--context", self.context_id, *extra
        )

    def show(self) -> Any:
        return self.cli(
            "roster", "show", "--issuer", self.lms.issuer, "--context", self.context_id, "--json"
        )


def launch_course(lms: Lms, app: Flask, context_id: str = CONTEXT) -> NrpsCourse:
    client = browser()
    result = lms.launch(
        client,
        user={"sub": TEACHER, "name": "Prof Bianchi"},
        roles=[INSTRUCTOR],
        context={"id": context_id, "title": "Storia dell'arte"},
        nrps=True,
    )
    assert result.page is not None and result.page.status_code == 200, result.status
    lid = result.page.url.rstrip("/").rsplit("/", 1)[-1]
    with app.app_context():
        course_id = db.session.scalar(select(Course.id).where(Course.lms_id == context_id))
    assert course_id is not None
    return NrpsCourse(lms, app, context_id, int(course_id), lid, client)


@pytest.fixture
def nrps_course(lms: Lms, app: Flask) -> NrpsCourse:
    course = launch_course(lms, app)
    course.set_roster([])
    return course
