"""`flask --app wsgi privacy export|erase|purge-events`: output, --json, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti_tool.community.qa import services as qa
from lti_tool.courses.models import Member
from lti_tool.extensions import db
from lti_tool.sync.privacy import ErasureLog, request_erasure

from .community.qa.conftest import PEOPLE, CourseWorld, make_course, make_platform

ISSUER = "https://moodle.example.org"


@pytest.fixture
def course(app: Flask) -> CourseWorld:
    with app.app_context():
        world = make_course(make_platform(ISSUER), "course-1", PEOPLE)
        qa.ask(db.session, world["giulia"], qa.QuestionInput(title="Giotto?", body="Why?"))
        return world


def test_export_by_sub_prints_the_member_json(runner: FlaskCliRunner, course: CourseWorld) -> None:
    result = runner.invoke(
        args=["privacy", "export", "--platform", ISSUER, "--sub", "course-1-giulia"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["member"]["name"] == "Giulia Rossi"
    assert [q["title"] for q in data["tables"]["qa_question"]] == ["Giotto?"]


def test_export_by_member_id_to_a_file(
    runner: FlaskCliRunner, course: CourseWorld, tmp_path: Path
) -> None:
    target = tmp_path / "giulia.json"
    member_id = str(course["giulia"].member_id)
    result = runner.invoke(
        args=[
            "privacy",
            "export",
            "--platform",
            "1",
            "--member",
            member_id,
            "--output",
            str(target),
        ]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["member"]["id"] == course["giulia"].member_id
    assert target.stat().st_mode & 0o077 == 0  # personal data: the owner's only

    # Another member's export to the same file: refused, the first one kept, unless --force.
    marco = ["privacy", "export", "--platform", "1", "--member", str(course["marco"].member_id)]
    refused = runner.invoke(args=[*marco, "--output", str(target)])
    assert refused.exit_code == 2 and "exists" in refused.output and "--force" in refused.output
    assert json.loads(target.read_text())["member"]["id"] == course["giulia"].member_id
    forced = runner.invoke(args=[*marco, "--output", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(target.read_text())["member"]["id"] == course["marco"].member_id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--platform", "https://nowhere.example.org", "--sub", "x"], "no platform"),
        (["--platform", ISSUER, "--sub", "nobody"], "no member with LMS user id 'nobody'"),
        (["--platform", ISSUER], "give either a member id or an LMS user id"),
        (["--platform", ISSUER, "--member", "1", "--sub", "x"], "give either"),
        (["--platform", ISSUER, "--member", "abc"], "'abc' is not a valid integer"),
        (["--sub", "x"], "Missing option '--platform'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    runner: FlaskCliRunner, course: CourseWorld, args: list[str], message: str
) -> None:
    for extra in (["export"], ["erase", "--yes"]):
        result = runner.invoke(args=["privacy", extra[0], *args, *extra[1:]])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_erase_needs_yes_and_changes_nothing_without_it(
    runner: FlaskCliRunner, course: CourseWorld, app: Flask
) -> None:
    result = runner.invoke(
        args=["privacy", "erase", "--platform", ISSUER, "--sub", "course-1-giulia"]
    )
    assert result.exit_code == 2
    assert "add --yes" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ErasureLog)) == 0


def test_erase_then_again_reports_already_erased(
    runner: FlaskCliRunner, course: CourseWorld, app: Flask
) -> None:
    args = ["privacy", "erase", "--platform", ISSUER, "--sub", "course-1-giulia", "--yes"]
    first = runner.invoke(args=[*args, "--json"])
    assert first.exit_code == 0, first.output
    row = json.loads(first.output)
    assert row["already_erased"] is False
    assert row["counts"]["enrolment.member_id"] == 1
    # The sub is gone from Bottega, yet the same command says it is done (the erasure log's
    # hash finds the anonymous member), as does the member id.
    member_id = str(course["giulia"].member_id)
    again = runner.invoke(args=args)
    assert again.exit_code == 0, again.output
    assert again.output.strip() == f"Member {member_id} was already erased."
    other = runner.invoke(args=[*args[:-3], "--sub", "never-seen", "--yes"])
    assert other.exit_code == 2 and "no member" in other.output
    by_id = runner.invoke(
        args=["privacy", "erase", "--platform", ISSUER, "--member", member_id, "--yes"]
    )
    assert by_id.exit_code == 0
    assert by_id.output.strip() == f"Member {member_id} was already erased."
    with app.app_context():
        member = db.session.get(Member, course["giulia"].member_id)
        assert (
            member is not None and member.email is None and member.display_name == "Former member"
        )


def test_purge_events_needs_a_retention(runner: FlaskCliRunner, course: CourseWorld) -> None:
    off = runner.invoke(args=["privacy", "purge-events"])
    assert off.exit_code == 2 and "retention is off" in off.output
    too_short = runner.invoke(args=["privacy", "purge-events", "--days", "3"])
    assert too_short.exit_code == 2
    ran = runner.invoke(args=["privacy", "purge-events", "--days", "365", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["deleted"] == 0  # every event is recent


def test_requests_lists_pending_erasure_requests(
    runner: FlaskCliRunner, course: CourseWorld, app: Flask
) -> None:
    assert runner.invoke(args=["privacy", "requests"]).output.strip() == (
        "No pending erasure request."
    )
    with app.app_context():
        member = db.session.get(Member, course["giulia"].member_id)
        assert member is not None
        request_erasure(db.session, member, course.course_id)
    listed = runner.invoke(args=["privacy", "requests", "--platform", ISSUER, "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert row["member_id"] == course["giulia"].member_id
    erased = runner.invoke(
        args=["privacy", "erase", "--platform", ISSUER, "--member", str(row["member_id"]), "--yes"]
    )
    assert erased.exit_code == 0
    assert json.loads(runner.invoke(args=["privacy", "requests", "--json"]).output) == []
    bad = runner.invoke(args=["privacy", "requests", "--platform", "nowhere"])
    assert bad.exit_code == 2 and "no platform" in bad.output
