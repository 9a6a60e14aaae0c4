"""rel="differences": remembered after a full sync, used for the next one, and dropped when the
LMS no longer honours it. (The test LMS does not offer it: a scripted endpoint does.)"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask import Flask

from lti_tool.courses.services import CourseInfo, upsert_course
from lti_tool.extensions import db
from lti_tool.lti.registration import PlatformInput, add_platform

from .fake_lms import FakeLms, serve_fake

pytestmark = pytest.mark.slow


@pytest.fixture
def fake(app: Flask) -> Iterator[FakeLms]:
    lms = FakeLms(
        members=[{"user_id": f"u{i}", "name": f"U {i}", "roles": ["Learner"]} for i in range(5)],
        page_size=2,
        offer_differences=True,
    )
    with serve_fake(lms):
        with app.app_context():
            platform = add_platform(
                db.session(),
                PlatformInput(
                    issuer=lms.url,
                    client_id="fake-client",
                    auth_login_url=lms.url + "/auth",
                    auth_token_url=lms.url + "/token",
                    key_set_url=lms.url + "/jwks",
                    deployment_ids=("1",),
                ),
            )
            upsert_course(
                db.session(),
                platform.id,
                platform.deployments[0].id,
                CourseInfo(
                    lms_id="c1",
                    services={"nrps": {"context_memberships_url": lms.url + "/roster"}},
                ),
            )
            db.session.commit()
        yield lms


def _sync(app: Flask, fake: FakeLms, *extra: str) -> dict:
    result = app.test_cli_runner().invoke(
        args=["roster", "sync", "--issuer", fake.url, "--context", "c1", "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    return row


def _statuses(app: Flask, fake: FakeLms) -> dict[str, str]:
    result = app.test_cli_runner().invoke(
        args=["roster", "show", "--issuer", fake.url, "--context", "c1", "--json"]
    )
    return {r["sub"]: r["status"] for r in json.loads(result.output)}


def test_differences_are_used_after_a_full_sync(app: Flask, fake: FakeLms) -> None:
    first = _sync(app, fake)
    assert first["mode"] == "full" and first["members"] == 5 and first["pages"] == 3
    fake.changes = [
        {"user_id": "u1", "roles": ["Learner"], "status": "Deleted"},
        {"user_id": "u9", "name": "New", "roles": ["Learner"]},
        {"user_id": "ghost", "status": "Deleted"},  # never known: nothing to record
    ]
    fake.requests.clear()
    second = _sync(app, fake, "--differences")
    assert second["mode"] == "differences" and second["complete"] is True
    assert fake.requests == ["/roster/changes?since=42"]  # exactly the URL the LMS gave
    assert second["added"] == 1 and second["deactivated"] == 1
    statuses = _statuses(app, fake)
    assert statuses == {
        "u0": "active",
        "u1": "inactive",
        "u2": "active",
        "u3": "active",
        "u4": "active",
        "u9": "active",
    }
    fake.requests.clear()
    _sync(app, fake, "--differences")  # the next differences link is the newest one given
    assert fake.requests == ["/roster/changes?since=43"]


def test_a_refused_differences_link_falls_back_to_a_full_sync(app: Flask, fake: FakeLms) -> None:
    _sync(app, fake)
    fake.statuses = [410]
    row = _sync(app, fake, "--differences")
    assert row["mode"] == "full" and row["members"] == 5 and row["complete"] is True
