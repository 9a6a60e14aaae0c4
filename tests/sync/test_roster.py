"""Roster sync against the test LMS over real HTTP: complete, exact, and never destructive."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from lti_tool.courses.models import Enrolment, EnrolmentStatus, Member
from lti_tool.extensions import db
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.queue import JobTimeout, claim, execute
from lti_tool.jobs.runtime import runtime_of
from lti_tool.lti.services import ServiceHttp
from lti_tool.sync.background import app_settings
from lti_tool.sync.roster import RosterCounts, RosterSync, nrps_client_factory, sync_roster

from ..lti_harness import INSTRUCTOR, LEARNER, TA
from .conftest import TEACHER, NrpsCourse, launch_course, member

pytestmark = pytest.mark.slow


def _sync_json(course: NrpsCourse, *extra: str) -> dict:
    result = course.sync("--json", *extra)
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["status"] == "done", row
    return row


def _statuses(course: NrpsCourse) -> dict[str, str]:
    shown = course.show()
    assert shown.exit_code == 0, shown.output
    return {row["sub"]: row["status"] for row in json.loads(shown.output)}


def test_a_2500_member_roster_in_pages_of_100_syncs_completely(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(i) for i in range(2500)])
    pages_seen = _recording_pages(nrps_course)
    row = _sync_json(nrps_course)
    assert row["complete"] is True and row["mode"] == "full"
    assert row["members"] == 2501 and row["pages"] == 26
    assert row["added"] == 2500 and row["deactivated"] == 0
    assert pages_seen == [f"100:{offset}" for offset in range(0, 2600, 100)]
    statuses = _statuses(nrps_course)
    assert len(statuses) == 2501
    assert set(statuses.values()) == {"active"}
    with nrps_course.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 2501


def test_removing_100_members_marks_exactly_those_inactive(nrps_course: NrpsCourse) -> None:
    everyone = [member(i) for i in range(2500)]
    nrps_course.set_roster(everyone)
    _sync_json(nrps_course)
    removed = {m["user_id"] for m in everyone[::25]}
    assert len(removed) == 100
    nrps_course.set_roster([m for m in everyone if m["user_id"] not in removed])

    row = _sync_json(nrps_course)
    assert row["deactivated"] == 100
    assert row["added"] == 0 and row["reactivated"] == 0 and row["updated"] == 0
    statuses = _statuses(nrps_course)
    assert {sub for sub, status in statuses.items() if status == "inactive"} == removed
    assert statuses[TEACHER] == "active"
    with nrps_course.app.app_context():  # nobody deleted: members and enrolments all stay
        assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 2501


def test_returners_are_reactivated_and_changes_counted(nrps_course: NrpsCourse) -> None:
    roster = [member(i) for i in range(30)]
    nrps_course.set_roster(roster)
    _sync_json(nrps_course)
    nrps_course.set_roster(roster[:20])
    assert _sync_json(nrps_course)["deactivated"] == 10

    back = [*roster[:20], *roster[25:30], member(99)]
    back[0] = {**back[0], "roles": [TA], "email": "new@example.org"}
    nrps_course.set_roster(back)
    row = _sync_json(nrps_course)
    assert row["reactivated"] == 5 and row["added"] == 1 and row["updated"] == 1
    statuses = _statuses(nrps_course)
    assert [statuses[f"user-{i:05d}"] for i in range(20, 25)] == ["inactive"] * 5
    assert all(statuses[f"user-{i:05d}"] == "active" for i in range(25, 30))


def test_lms_inactive_status_and_profile_fields_when_given(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster(
        [
            member(1),
            member(2, status="Inactive"),
            {"user_id": "user-00003", "roles": ["Learner"]},  # short role name, no profile
            {"roles": [LEARNER]},  # no user_id: skipped
        ]
    )
    row = _sync_json(nrps_course)
    assert row["skipped"] == 1 and row["members"] == 4
    shown = {r["sub"]: r for r in json.loads(nrps_course.show().output)}
    assert shown["user-00002"]["status"] == "inactive"
    assert shown["user-00003"] == {
        "sub": "user-00003",
        "name": None,
        "email": None,
        "roles": [LEARNER],
        "status": "active",
    }
    # A later roster without the email keeps the one Bottega knew.
    nrps_course.set_roster([{**member(1), "email": None}, member(2), member(3)])
    _sync_json(nrps_course)
    shown = {r["sub"]: r for r in json.loads(nrps_course.show().output)}
    assert shown["user-00001"]["email"] == "student1@example.org"
    assert shown["user-00002"]["status"] == "active"
    assert shown["user-00003"]["name"] == "Student 3"


def test_roster_show_json_shape(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(7)])
    _sync_json(nrps_course)
    shown = nrps_course.show()
    assert shown.exit_code == 0
    rows = json.loads(shown.output)
    assert isinstance(rows, list)
    for row in rows:
        assert set(row) == {"sub", "name", "email", "roles", "status"}
        assert row["status"] in ("active", "inactive")
        assert all(
            role.startswith("http://purl.imsglobal.org/vocab/lis/v2/") for role in row["roles"]
        )
    by_sub = {r["sub"]: r for r in rows}
    assert by_sub[TEACHER]["roles"] == [INSTRUCTOR]
    assert by_sub["user-00007"] == {
        "sub": "user-00007",
        "name": "Student 7",
        "email": "student7@example.org",
        "roles": [LEARNER],
        "status": "active",
    }


def test_an_empty_roster_deactivates_nobody(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(1)])
    _sync_json(nrps_course)
    with nrps_course.platform.lock:
        nrps_course.platform.rosters[nrps_course.context_id] = []
    row = _sync_json(nrps_course)
    assert row["deactivated"] == 0 and row["stopped"].startswith("empty roster")
    assert set(_statuses(nrps_course).values()) == {"active"}


@pytest.mark.parametrize("settings_overrides", [{"ROSTER_MAX_PAGES": "3"}])
def test_page_cap_leaves_the_roster_incomplete_and_deactivates_nobody(
    nrps_course: NrpsCourse,
) -> None:
    nrps_course.set_roster([member(i) for i in range(50)])
    _sync_json(nrps_course)
    nrps_course.set_roster([member(i) for i in range(10, 1000)])
    row = _sync_json(nrps_course)
    assert row["complete"] is False and row["stopped"] == "page cap"
    assert row["pages"] == 3 and row["deactivated"] == 0
    assert "inactive" not in _statuses(nrps_course).values()


def test_cli_errors_are_one_line_with_exit_2(nrps_course: NrpsCourse) -> None:
    missing = nrps_course.cli("roster", "sync", "--issuer", nrps_course.lms.issuer)
    assert missing.exit_code == 2 and "--context" in missing.output
    unknown = nrps_course.cli(
        "roster", "show", "--issuer", nrps_course.lms.issuer, "--context", "nope", "--json"
    )
    assert unknown.exit_code == 2 and "no course nope" in unknown.output
    other = nrps_course.cli("roster", "show", "--issuer", "https://x.example", "--context", "c")
    assert other.exit_code == 2 and "no platform" in other.output
    # A deployment narrows one course: with --all it would have been ignored, syncing them all.
    every = nrps_course.cli("roster", "sync", "--all", "--deployment-id", "1")
    assert every.exit_code == 2 and "--deployment-id" in every.output


def test_roster_sync_all_syncs_every_course_with_a_service(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(1), member(2)])
    second = launch_course(nrps_course.lms, nrps_course.app, context_id="course-202")
    second.set_roster([member(3)])
    result = nrps_course.cli("roster", "sync", "--all", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sorted(r["members"] for r in rows) == [2, 3]
    with nrps_course.app.app_context():
        states = db.session.scalars(select(RosterSync.status)).all()
        assert sorted(states) == ["done", "done"]
        jobs = db.session.scalars(select(Job).where(Job.kind == "roster.sync")).all()
        assert {j.status for j in jobs} == {JobStatus.DONE}


def test_enrolment_status_values_are_stored_as_the_enum(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(1), member(2, status="Inactive")])
    _sync_json(nrps_course)
    with nrps_course.app.app_context():
        statuses = db.session.scalars(select(Enrolment.status)).all()
        assert set(statuses) == {EnrolmentStatus.ACTIVE, EnrolmentStatus.INACTIVE}


def test_a_person_erased_at_their_request_is_not_brought_back_by_a_sync(
    nrps_course: NrpsCourse,
) -> None:
    from lti_tool.sync import privacy

    nrps_course.set_roster([member(1), member(2)])
    assert _sync_json(nrps_course)["added"] == 2
    app = nrps_course.app
    with app.app_context():
        giulia = db.session.scalar(select(Member).where(Member.lms_id == "user-00001"))
        assert giulia is not None
        privacy.erase_member(db.session(), giulia, route="cli")

    # Still enrolled in the LMS: the next syncs skip her, and keep no trace of her id or name.
    for _ in range(2):
        row = _sync_json(nrps_course)
        assert row["added"] == 0 and row["skipped"] == 1, row
    with app.app_context():
        assert db.session.scalar(select(Member).where(Member.lms_id == "user-00001")) is None
        assert db.session.scalar(select(Member).where(Member.name == "Student 1")) is None
        stored = db.session.scalars(select(privacy.ErasureLog.subject_hash)).all()
        assert stored and "user-00001" not in "".join(h or "" for h in stored)

    # Her own launch brings her back, as a new member; syncs then keep her up to date.
    result = nrps_course.lms.launch(
        user={"sub": "user-00001", "name": "Giulia"},
        roles=[LEARNER],
        context={"id": nrps_course.context_id, "title": "Storia dell'arte"},
    )
    assert result.ok
    row = _sync_json(nrps_course)
    assert row["skipped"] == 0 and row["updated"] == 1, row  # the LMS's name replaces hers
    assert _statuses(nrps_course)["user-00001"] == "active"


def test_roster_sync_from_the_cli_during_a_running_sync_says_it_runs_after_it(
    nrps_course: NrpsCourse,
) -> None:
    nrps_course.set_roster([member(1), member(2)])
    runtime = runtime_of(nrps_course.app)
    running = claim(runtime.session_factory, "w1", lease=60)  # the launch's sync, in a worker
    assert running is not None
    result = nrps_course.sync("--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["status"] == "pending" and row["job_id"] == running.id
    assert row["error"] == (
        "running in another worker; it runs again, for this request, as soon as it ends"
    )
    with nrps_course.app.app_context():
        assert execute(runtime.session_factory, running, "w1", runtime.settings.jobs).status == (
            "done"
        )
        job = db.session.get(Job, running.id)
        assert job is not None and job.status == JobStatus.QUEUED  # the CLI's request, now due
        assert job.payload["trigger"] == "cli" and job.payload["full"] is True
    assert _statuses(nrps_course) == {
        TEACHER: "active",
        "user-00001": "active",
        "user-00002": "active",
    }
    nrps_course.set_roster([member(1)])
    summary = runtime.drain("w2")
    assert [(o.job_id, o.status) for o in summary.outcomes] == [(running.id, "done")]
    assert _statuses(nrps_course)["user-00002"] == "inactive"  # a full sync, as asked


def _stopped_at_page(course: NrpsCourse, pages: int) -> None:
    """A full sync whose attempt reaches its time bound while reading page ``pages``."""
    app = course.app
    with app.app_context():
        settings = app_settings()
        http = ServiceHttp(settings.services)

        def time_bound(session: object, counts: RosterCounts) -> None:
            if counts.pages == pages:
                raise JobTimeout("the attempt's time bound")

        with pytest.raises(JobTimeout):
            sync_roster(
                db.session(),
                course.course_id,
                nrps_client_factory(http, settings),
                on_page=time_bound,
            )
        http.close()


def _recording_pages(course: NrpsCourse) -> list[str]:
    seen: list[str] = []
    original = course.platform.memberships

    def recording(context_id: str, **kwargs: object) -> object:
        seen.append(f"{kwargs.get('limit')}:{kwargs.get('offset')}")
        return original(context_id, **kwargs)  # type: ignore[arg-type]

    course.platform.memberships = recording
    return seen


def test_a_full_sync_stopped_midway_goes_on_from_where_it_stopped(
    nrps_course: NrpsCourse,
) -> None:
    """A roster longer than one attempt can read: the next attempt starts at the page the last
    one did not finish, and the run still deactivates exactly who the LMS no longer lists."""
    everyone = [member(i) for i in range(1000)]
    nrps_course.set_roster(everyone)
    _sync_json(nrps_course)
    nrps_course.set_roster(everyone[100:])  # 100 left the course: 901 entries, 10 pages
    seen = _recording_pages(nrps_course)
    _stopped_at_page(nrps_course, 3)  # pages 1 and 2 stored, page 3 not
    assert seen == ["100:0", "100:100", "100:200"]
    with nrps_course.app.app_context():
        state = db.session.get(RosterSync, nrps_course.course_id)
        assert state is not None and state.resume_pages == 2 and state.resume_members == 200
    row = _sync_json(nrps_course)
    assert seen[3:] == [f"100:{offset}" for offset in range(200, 1000, 100)]  # from page 3
    assert row["complete"] is True and row["pages"] == 10 and row["members"] == 901
    assert row["deactivated"] == 100
    statuses = _statuses(nrps_course)
    assert [k for k, v in statuses.items() if v == "inactive"] == [
        f"user-{i:05d}" for i in range(100)
    ]
    with nrps_course.app.app_context():
        state = db.session.get(RosterSync, nrps_course.course_id)
        assert state is not None and state.resume_url is None  # the next sync starts afresh
    _sync_json(nrps_course)
    assert seen[11] == "100:0"


def test_a_resume_link_the_lms_refuses_reads_the_roster_from_its_first_page(
    nrps_course: NrpsCourse,
) -> None:
    nrps_course.set_roster([member(i) for i in range(450)])
    _stopped_at_page(nrps_course, 2)
    with nrps_course.app.app_context():
        state = db.session.get(RosterSync, nrps_course.course_id)
        assert state is not None and state.resume_url is not None
        state.resume_url = state.resume_url.replace("from=100", "from=expired")
        db.session.commit()
    seen = _recording_pages(nrps_course)
    row = _sync_json(nrps_course)
    assert row["complete"] is True and row["members"] == 451 and row["pages"] == 5
    assert seen == [f"100:{offset}" for offset in range(0, 500, 100)]
