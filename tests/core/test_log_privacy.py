"""No token and no personal data in the logs, whoever writes them.

A real dynamic registration (its token in the query string), a launch (an id_token carrying a
name and an e-mail address), a roster sync and a grade push (bearer tokens, learners' e-mail
addresses) run over HTTP on 127.0.0.1 with every logger at DEBUG in JSON; the captured output of
Bottega's log handler must hold none of those secrets.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from lti_tool.community.engagement.models import EventKind

from ..lti.test_dynamic_registration import confirm
from ..lti_harness import Lms, browser, post_launch
from ..sync.conftest import app, lms, tool_server  # noqa: F401
from ..sync.grades_helpers import make_graded_course

pytestmark = pytest.mark.slow


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"}


def test_registration_launch_roster_and_grades_leave_no_secret_in_the_logs(
    app: Flask,  # noqa: F811
    lms: Lms,  # noqa: F811
    capfd: pytest.CaptureFixture[str],
) -> None:
    platform = lms.platform
    capfd.readouterr()

    # A launch with a name and an e-mail address in its id_token.
    student = browser()
    prepared = lms.prepare(
        user={"sub": "student-9", "name": "Giulia Rossi", "email": "giulia.rossi@example.org"}
    )
    action, fields = lms.id_token_post(student, prepared)
    id_token = fields["id_token"]
    launched = post_launch(student, action, fields)
    assert launched.ok

    # An instructor's graded placement, a roster sync (NRPS) and a grade push (AGS).
    graded = make_graded_course(lms, app, learners=3)
    graded.participate("user-00001", EventKind.ANSWER, times=2)
    assert graded.push_result()["status"] == "done"
    with platform.lock:
        access_tokens = list(platform.access_tokens)
    assert access_tokens

    # Dynamic registration (last: a second registration of the issuer changes the CLI's
    # arguments): the LMS sends the admin's browser here with a one-time token.
    start = platform.registration_start_url(f"{lms.tool_url}/lti/register")
    registration_token = parse_qs(urlsplit(start).query)["registration_token"][0]
    admin = browser()
    action, fields = confirm(admin, start)
    assert admin.post(action, data=fields, timeout=30).status_code == 200

    err = capfd.readouterr().err
    secrets = [registration_token, id_token, *access_tokens]
    personal = ["Giulia", "Rossi", "Bianchi", "@example.org"]
    assert [s[:12] for s in secrets if s in err] == []
    assert [p for p in personal if p in err] == []
    assert "eyJ" not in err  # no JWT at all: id_tokens, client assertions
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert len(lines) > 20
    # The secrets were there to hide: the dev server logged the registration URL, redacted.
    assert any("registration_token=[redacted]" in r["message"] for r in lines)
    # And the lines of the work know whose it is.
    push_lines = [r for r in lines if r.get("job_kind") == "grades.push"]
    assert push_lines and all(r["tenant"].startswith("p") for r in push_lines)
    assert any(r.get("course_id") == graded.course.course_id for r in push_lines)
