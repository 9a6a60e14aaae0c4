"""`flask --app wsgi platform|keys ...`: round trips, --json, and one-line errors with exit 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti_tool import create_app
from lti_tool.community import rerender
from lti_tool.community.dashboard.models import Playbook
from lti_tool.community.groups.models import AssignMode, Group, GroupPost, GroupSet
from lti_tool.community.moderation.models import ConductVersion
from lti_tool.community.notifications.models import Notification
from lti_tool.community.qa.models import Answer, Comment, Question
from lti_tool.community.welcome.models import Introduction, Welcome
from lti_tool.courses.models import Deployment, Platform
from lti_tool.extensions import db

from .community.qa.conftest import PEOPLE, make_course, make_platform
from .conftest import base_config

MOODLE = [
    "--issuer",
    "https://moodle.example.org",
    "--client-id",
    "Bq3x9",
    "--auth-login-url",
    "https://moodle.example.org/mod/lti/auth.php",
    "--auth-token-url",
    "https://moodle.example.org/mod/lti/token.php",
    "--key-set-url",
    "https://moodle.example.org/mod/lti/certs.php",
    "--deployment-id",
    "1",
    "--deployment-id",
    "7",
    "--name",
    "Academy Moodle",
]


def _count(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Platform)) or 0,
            db.session.scalar(select(func.count()).select_from(Deployment)) or 0,
        )


def test_platform_add_then_list_round_trips_every_field(runner: FlaskCliRunner) -> None:
    added = runner.invoke(args=["platform", "add", *MOODLE, "--json"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(args=["platform", "list", "--json"])
    assert listed.exit_code == 0
    [platform] = json.loads(listed.output)
    assert platform == json.loads(added.output)
    assert platform["issuer"] == "https://moodle.example.org"
    assert platform["client_id"] == "Bq3x9"
    assert platform["auth_login_url"] == "https://moodle.example.org/mod/lti/auth.php"
    assert platform["auth_token_url"] == "https://moodle.example.org/mod/lti/token.php"
    assert platform["key_set_url"] == "https://moodle.example.org/mod/lti/certs.php"
    assert platform["deployment_ids"] == ["1", "7"]
    assert platform["name"] == "Academy Moodle"
    assert platform["status"] == "active"


def test_platform_list_in_words(runner: FlaskCliRunner) -> None:
    assert "No platform registered yet." in runner.invoke(args=["platform", "list"]).output
    runner.invoke(args=["platform", "add", *MOODLE])
    assert "client=Bq3x9" in runner.invoke(args=["platform", "list"]).output


def _replace(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(option) + 1] = value
    return out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (MOODLE[2:], "Missing option '--issuer'"),
        (_replace(MOODLE, "--key-set-url", "moodle.example.org/certs"), "key set URL must be"),
        (_replace(MOODLE, "--auth-login-url", "http://moodle.example.org/auth"), "must use https"),
        (_replace(MOODLE, "--client-id", "  "), "client id must not be empty"),
        ([*MOODLE, "--deployment-id", "1"], "deployment id is given twice"),
        ([*MOODLE, "--colour", "red"], "No such option"),
        (_replace(MOODLE, "--client-id", "c" * 256), "client id is 256 characters long"),
        (_replace(MOODLE, "--name", "n" * 300), "name is 300 characters long"),
        ([*MOODLE, "--deployment-id", "d" * 256], "deployment id is 256 characters long"),
    ],
)
def test_invalid_input_exits_2_with_one_line_and_writes_nothing(
    app: Flask, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(args=["platform", "add", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.output
    assert _count(app) == (0, 0)


def test_duplicate_registration_is_refused_and_nothing_changes(
    app: Flask, runner: FlaskCliRunner
) -> None:
    assert runner.invoke(args=["platform", "add", *MOODLE]).exit_code == 0
    again = runner.invoke(args=["platform", "add", *_replace(MOODLE, "--name", "Other")])
    assert again.exit_code == 2
    assert "already registered" in again.output
    assert _count(app) == (1, 2)


def test_loopback_http_is_accepted_for_development(runner: FlaskCliRunner) -> None:
    local = [
        "--issuer",
        "http://127.0.0.1:8001",
        "--client-id",
        "dev",
        "--auth-login-url",
        "http://127.0.0.1:8001/auth",
        "--auth-token-url",
        "http://localhost:8001/token",
        "--key-set-url",
        "http://127.0.0.1:8001/jwks",
        "--deployment-id",
        "1",
    ]
    assert runner.invoke(args=["platform", "add", *local]).exit_code == 0


def test_every_command_has_help(runner: FlaskCliRunner) -> None:
    for command in (
        ["platform", "add"],
        ["platform", "list"],
        ["keys", "list"],
        ["keys", "rotate"],
        ["keys", "retire"],
    ):
        result = runner.invoke(args=[*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_keys_rotate_publishes_the_new_key_before_it_signs(
    tmp_path: Path, keys_dir: Path, database_url: str
) -> None:
    from lti_tool import create_app

    from .conftest import base_config

    app = create_app(base_config(tmp_path, tmp_path / "keys", DATABASE_URL=database_url))
    runner = app.test_cli_runner()
    before = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)
    assert len(before) == 1 and before[0]["signing"] and before[0]["state"] == "signing"
    rotated = json.loads(runner.invoke(args=["keys", "rotate", "--json"]).output)
    assert rotated["state"] == "published" and not rotated["signing"]
    after = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)
    assert [(k["kid"], k["state"]) for k in after] == [
        (rotated["kid"], "published"),
        (before[0]["kid"], "signing"),
    ]
    published = app.test_client().get("/.well-known/jwks.json").json["keys"]  # type: ignore[index]
    assert {k["kid"] for k in published} == {rotated["kid"], before[0]["kid"]}
    listed = runner.invoke(args=["keys", "list"]).output.splitlines()
    signs_from = rotated["signs_from"][:19]
    assert listed[0].endswith(f"published, signs from {signs_from}+00:00")
    assert listed[1].startswith(before[0]["kid"]) and listed[1].endswith("  signing")
    refused = runner.invoke(args=["keys", "retire", before[0]["kid"]])
    assert refused.exit_code == 2
    assert "signs new tokens: rotate first" in refused.output
    with app.app_context():
        from lti_tool.extensions import db as _db

        _db.engine.dispose()


def test_keys_rotate_now_signs_at_once(tmp_path: Path, keys_dir: Path) -> None:
    """For a leaked key: the new one signs now, the old one can be retired at once."""
    from lti_tool import create_app

    from .conftest import base_config

    app = create_app(base_config(tmp_path, tmp_path / "keys", DATABASE_URL="sqlite://"))
    runner = app.test_cli_runner()
    leaked = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)[0]["kid"]
    result = runner.invoke(args=["keys", "rotate", "--now"])
    assert result.exit_code == 0 and ", signing now;" in result.output
    listed = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)
    assert [k["state"] for k in listed] == ["signing", "retiring"] and listed[1]["kid"] == leaked
    refused = runner.invoke(args=["keys", "retire", leaked])
    assert refused.exit_code == 2 and "or now with --now if it leaked" in refused.output
    assert runner.invoke(args=["keys", "retire", leaked, "--now"]).exit_code == 0
    published = app.test_client().get("/.well-known/jwks.json").json["keys"]  # type: ignore[index]
    assert [k["kid"] for k in published] == [listed[0]["kid"]]


def test_retiring_an_unknown_key_is_a_clear_error(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["keys", "retire", "nope"])
    assert result.exit_code == 2
    assert "no published key with kid nope" in result.output


def test_add_deployment_to_a_registered_platform(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["platform", "add", *MOODLE]).exit_code == 0
    result = runner.invoke(
        args=[
            "platform",
            "add-deployment",
            "--issuer",
            "https://moodle.example.org",
            "--client-id",
            "Bq3x9",
            "--deployment-id",
            "9",
            "--deployment-id",
            "1",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["deployment_ids"] == ["1", "7", "9"]
    unknown = runner.invoke(
        args=[
            "platform",
            "add-deployment",
            "--issuer",
            "https://nope.example",
            "--client-id",
            "x",
            "--deployment-id",
            "2",
        ]
    )
    assert unknown.exit_code == 2 and "no platform with issuer" in unknown.output


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("sqlite:///{tmp}/new.sqlite3", "run `flask --app wsgi db upgrade` first"),
        ("postgresql://postgres@127.0.0.1:1/bottega", "the database cannot answer: connection"),
    ],
    ids=["not-migrated", "unreachable"],
)
@pytest.mark.parametrize(
    "command",
    [["platform", "list"], ["roster", "sync", "--all"], ["privacy", "requests"], ["jobs", "list"]],
)
def test_a_database_that_cannot_answer_is_one_line_and_exit_1(
    tmp_path: Path, keys_dir: Path, database: str, message: str, command: list[str]
) -> None:
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL=database.format(tmp=tmp_path)))
    result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: ") and message in line
    with app.app_context():
        db.engine.dispose()


def test_a_too_long_deployment_id_is_refused_and_nothing_changes(
    app: Flask, runner: FlaskCliRunner
) -> None:
    assert runner.invoke(args=["platform", "add", *MOODLE]).exit_code == 0
    result = runner.invoke(
        args=[
            "platform",
            "add-deployment",
            *["--issuer", "https://moodle.example.org", "--client-id", "Bq3x9"],
            *["--deployment-id", "9", "--deployment-id", "d" * 256],
        ]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: deployment id is 256 characters long; Bottega stores at most 255"
    )
    assert _count(app) == (1, 2)


def test_a_job_worker_without_redis_stops_in_one_line_without_the_password(
    tmp_path: Path, keys_dir: Path, database_url: str
) -> None:
    """systemd restarts it every 5 s: before, each start wrote a traceback to the journal."""
    app = create_app(
        base_config(
            tmp_path, keys_dir, DATABASE_URL=database_url, REDIS_URL="redis://:pw@127.0.0.1:1/0"
        )
    )
    result = app.test_cli_runner().invoke(args=["jobs", "work"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "pw" not in result.output
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith(
            "Error: Redis (REDIS_URL) cannot be reached: Error 111 connecting to 127.0.0.1:1."
        )
    )
    with app.app_context():
        db.engine.dispose()


def test_a_shared_issuer_asks_for_the_client_id_instead_of_saying_it_is_unknown(
    app: Flask, runner: FlaskCliRunner
) -> None:
    """Canvas: one issuer, a client id per developer key. Before: "no platform with issuer"."""
    assert runner.invoke(args=["platform", "add", *MOODLE]).exit_code == 0
    other = _replace(_replace(MOODLE, "--client-id", "Zz9"), "--name", "Second key")
    assert runner.invoke(args=["platform", "add", *other]).exit_code == 0
    issuer = ["--issuer", "https://moodle.example.org"]
    for command in (["disable"], ["approve"], ["frame-origins", "list"]):
        result = runner.invoke(args=["platform", *command, *issuer])
        assert result.exit_code == 2
        assert result.output.strip() == (
            "Error: issuer https://moodle.example.org has several registrations: "
            "pass --client-id (Bq3x9, Zz9)"
        )
    chosen = runner.invoke(args=["platform", "disable", *issuer, "--client-id", "Zz9"])
    assert chosen.exit_code == 0, chosen.output
    listed = json.loads(runner.invoke(args=["platform", "list", "--json"]).output)
    assert [(p["client_id"], p["status"]) for p in listed] == [
        ("Bq3x9", "active"),
        ("Zz9", "disabled"),
    ]


# -- content rerender -------------------------------------------------------------------------

# Written before images became links and before headings were demoted: the HTML stored then.
OLD_BODY = "# Ciao @marco\n\n![the diagram](https://example.org/d.png)"
STALE_HTML = '<h1>Ciao @marco</h1>\n<p><img src="https://example.org/d.png" alt="the diagram"></p>'
EDITED_AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _stored_posts(course_id: int, author_id: int) -> dict[str, Any]:
    """One row of every kind that stores rendered HTML, all with the stale HTML; commits."""
    question = Question(
        course_id=course_id,
        author_id=author_id,
        title="Old",
        body=OLD_BODY,
        body_html=STALE_HTML,
        created_at=EDITED_AT,
        updated_at=EDITED_AT,
        last_activity_at=EDITED_AT,
    )
    db.session.add(question)
    db.session.flush()
    answer = Answer(
        course_id=course_id,
        question_id=question.id,
        author_id=author_id,
        body=OLD_BODY,
        body_html=STALE_HTML,
        updated_at=EDITED_AT,
    )
    intro = Introduction(
        course_id=course_id, member_id=author_id, body=OLD_BODY, body_html=STALE_HTML
    )
    group_set = GroupSet(course_id=course_id, name="Set", group_size=3, mode=AssignMode.MANUAL)
    db.session.add_all([answer, intro, group_set])
    db.session.flush()
    group = Group(
        course_id=course_id,
        set_id=group_set.id,
        number=1,
        meeting_note=OLD_BODY,
        meeting_note_html=STALE_HTML,
        meeting_updated_at=EDITED_AT,
    )
    db.session.add(group)
    db.session.flush()
    rows = {
        "questions": question,
        "answers": answer,
        "comments": Comment(
            course_id=course_id,
            question_id=question.id,
            author_id=author_id,
            body=OLD_BODY,
            body_html=STALE_HTML,
            edited_at=EDITED_AT,
        ),
        "group posts": GroupPost(
            course_id=course_id,
            group_id=group.id,
            author_id=author_id,
            body=OLD_BODY,
            body_html=STALE_HTML,
        ),
        "group meeting notes": group,
        "introductions": intro,
        "introduction replies": Welcome(
            course_id=course_id,
            introduction_id=intro.id,
            author_id=author_id,
            body=OLD_BODY,
            body_html=STALE_HTML,
        ),
        "codes of conduct": ConductVersion(
            course_id=course_id, version=2, body=OLD_BODY, body_html=STALE_HTML
        ),
        "staff playbooks": Playbook(
            course_id=course_id, body=OLD_BODY, body_html=STALE_HTML, updated_at=EDITED_AT
        ),
    }
    db.session.add_all(rows.values())
    db.session.commit()
    return {
        kind: (type(row), row.id if hasattr(row, "id") else row.course_id)
        for kind, row in rows.items()
    }


def _html_of(kind: str, key: tuple[Any, int]) -> str:
    model, row_id = key
    row = db.session.get(model, row_id)
    db.session.refresh(row)
    return str(row.meeting_note_html if kind == "group meeting notes" else row.body_html)


def test_content_rerender_gives_old_posts_of_every_kind_the_new_rendering(
    app: Flask, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        world = make_course(make_platform("https://moodle.example.org"), "course-1", PEOPLE)
        rows = _stored_posts(world.course_id, world["giulia"].member_id)
    assert set(rows) == {s.kind for s in rerender.STORED}  # every stored kind is in the test

    result = runner.invoke(args=["content", "rerender", "--batch-size", "1"])

    assert result.exit_code == 0, result.output
    for kind in rows:
        assert f"{kind}: 1 rendered, 1 changed" in result.output
    with app.app_context():
        for kind, key in rows.items():
            html = _html_of(kind, key)
            assert "<img" not in html and "<h1>" not in html, kind
            assert "<h3>Ciao @marco</h3>" in html, kind
            assert 'href="https://example.org/d.png"' in html and ">the diagram</a>" in html, kind
        # A re-rendering is no edit, and tells nobody.
        question = db.session.get(Question, rows["questions"][1])
        assert question is not None and question.updated_at == EDITED_AT
        comment = db.session.get(Comment, rows["comments"][1])
        assert comment is not None and comment.edited_at == EDITED_AT
        group = db.session.get(Group, rows["group meeting notes"][1])
        assert group is not None and group.meeting_updated_at == EDITED_AT
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0

    again = runner.invoke(args=["content", "rerender", "--json"])
    assert again.exit_code == 0, again.output
    assert {c["kind"]: (c["rendered"], c["changed"]) for c in json.loads(again.output)} == {
        kind: (1, 0) for kind in rows
    }


def test_content_rerender_of_one_course_leaves_the_others_alone(
    app: Flask, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        platform = make_platform("https://moodle.example.org")
        mine = make_course(platform, "course-1", PEOPLE)
        other = make_course(platform, "course-2", PEOPLE)
        my_rows = _stored_posts(mine.course_id, mine["giulia"].member_id)
        other_rows = _stored_posts(other.course_id, other["giulia"].member_id)

    result = runner.invoke(args=["content", "rerender", "--course-id", str(mine.course_id)])

    assert result.exit_code == 0, result.output
    assert "questions: 1 rendered, 1 changed" in result.output
    with app.app_context():
        for kind in my_rows:
            assert "<h3>" in _html_of(kind, my_rows[kind]), kind
            assert _html_of(kind, other_rows[kind]) == STALE_HTML, kind


def test_content_rerender_of_an_unknown_course_is_a_one_line_error(
    runner: FlaskCliRunner,
) -> None:
    result = runner.invoke(args=["content", "rerender", "--course-id", "999"])
    assert result.exit_code == 2
    assert "no course with id 999" in result.output


def test_keys_retire_takes_a_kid_that_starts_with_a_dash(tmp_path: Path) -> None:
    """A kid is a base64url thumbprint: one in 64 starts with "-", copied from `keys list`."""
    from lti_tool import create_app

    from .conftest import base_config

    app = create_app(base_config(tmp_path, tmp_path / "keys", DATABASE_URL="sqlite://"))
    result = app.test_cli_runner().invoke(args=["keys", "retire", "-Zf3kidnotthere", "--now"])
    assert result.exit_code == 2
    assert "No such option" not in result.output and "-Zf3kidnotthere" in result.output
