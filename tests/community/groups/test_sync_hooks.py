"""Groups follow the course: a first launch and a roster sync place late joiners and free
leavers' places (real HTTP launches and NRPS sync against the test LMS)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lti_tool.community.groups import services
from lti_tool.community.groups.models import ChangeReason, Membership, MembershipChange
from lti_tool.community.groups.permissions import Actor
from lti_tool.courses.models import Member
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from ...lti_harness import LEARNER, browser
from ...sync import conftest as sync_fixtures
from ...sync.conftest import CONTEXT, TEACHER, NrpsCourse, member

# The roster-sync fixtures (their app, the real-HTTP LMS, a launched NRPS course), shared here.
app = sync_fixtures.app
lms = sync_fixtures.lms
tool_server = sync_fixtures.tool_server
settings_overrides = sync_fixtures.settings_overrides
nrps_course = sync_fixtures.nrps_course

pytestmark = pytest.mark.slow


def _form_random_set(course: NrpsCourse) -> int:
    with course.app.app_context():
        teacher = db.session.scalar(select(Member.id).where(Member.lms_id == TEACHER))
        prof = Actor(int(teacher or 0), course.course_id, CourseRole.INSTRUCTOR)
        group_set = services.create_set(
            db.session, prof, services.SetInput("Study groups", 3, "random")
        )
        services.form_groups(db.session, prof, group_set.id)
        return group_set.id


def _placed(course: NrpsCourse, set_id: int) -> dict[str, int]:
    with course.app.app_context():
        rows = db.session.execute(
            select(Member.lms_id, Membership.group_id)
            .join(Member, Member.id == Membership.member_id)
            .where(Membership.set_id == set_id)
        )
        return {lms_id: group_id for lms_id, group_id in rows}


def _reasons(course: NrpsCourse, set_id: int) -> list[ChangeReason]:
    with course.app.app_context():
        return list(
            db.session.scalars(
                select(MembershipChange.reason).where(MembershipChange.set_id == set_id)
            )
        )


def test_a_roster_sync_frees_leavers_and_places_newcomers(nrps_course: NrpsCourse) -> None:
    roster = [member(i) for i in range(9)]
    nrps_course.set_roster(roster)
    assert nrps_course.sync().exit_code == 0
    set_id = _form_random_set(nrps_course)
    assert len(_placed(nrps_course, set_id)) == 9

    nrps_course.set_roster([*roster[2:], member(100)])  # two leave, one arrives
    assert nrps_course.sync().exit_code == 0
    placed = _placed(nrps_course, set_id)
    assert "user-00000" not in placed and "user-00001" not in placed
    assert "user-00100" in placed and len(placed) == 8
    reasons = _reasons(nrps_course, set_id)
    assert reasons.count(ChangeReason.LEFT_COURSE) == 2
    assert reasons.count(ChangeReason.LATE_JOINER) == 1


def test_a_first_launch_places_a_new_student(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(i) for i in range(6)])
    assert nrps_course.sync().exit_code == 0
    set_id = _form_random_set(nrps_course)
    result = nrps_course.lms.launch(
        browser(),
        user={"sub": "newcomer", "name": "Nuova Studentessa"},
        roles=[LEARNER],
        context={"id": CONTEXT, "title": "Storia dell'arte"},
    )
    assert result.page is not None and result.page.status_code == 200
    placed = _placed(nrps_course, set_id)
    assert "newcomer" in placed and len(placed) == 7
    assert _reasons(nrps_course, set_id).count(ChangeReason.LATE_JOINER) == 1
