"""Overview and academy figures counted by the database: known answers at the edges (waits to
the microsecond, role lists, time zones), and both pages agreeing on every course."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from lti_tool.community.dashboard import metrics
from lti_tool.community.dashboard.academy import academy
from lti_tool.community.qa.models import Question, QuestionState
from lti_tool.courses.models import Enrolment, EnrolmentStatus, Member, Platform
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from ..qa.conftest import CourseWorld, make_course

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
ROME = timezone(timedelta(hours=1))  # Europe/Rome in November (CET)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def question(
    world: CourseWorld,
    asked: datetime,
    first: datetime | None = None,
    staff: datetime | None = None,
    *,
    deleted: bool = False,
) -> None:
    db.session.add(
        Question(
            course_id=world.course_id,
            author_id=world["giulia"].member_id,
            title="A question",
            body="",
            created_at=asked,
            updated_at=asked,
            last_activity_at=asked,
            first_answer_at=first,
            first_staff_answer_at=staff,
            state=QuestionState.UNANSWERED if first is None else QuestionState.ANSWERED,
            deleted_at=asked if deleted else None,
        )
    )
    db.session.commit()


def overview(world: CourseWorld, start: date, end: date) -> metrics.Overview:
    return metrics.overview(db.session, world.course_id, start, end, NOW)


def test_median_waits_to_the_microsecond_across_second_boundaries(world: CourseWorld) -> None:
    base = datetime(2026, 11, 10, 9, 0, 0, 999_999, tzinfo=UTC)
    question(world, base, base + timedelta(microseconds=2))  # 09:00:00.999999 -> 09:00:01.000001
    question(world, base, base + timedelta(microseconds=5))
    question(world, base, base + timedelta(seconds=1, microseconds=200_001))
    question(world, base)  # never answered: no wait
    question(world, base, base + timedelta(hours=9), deleted=True)  # deleted: not counted
    figures = overview(world, *NOVEMBER)
    assert (figures.questions, figures.answered) == (4, 3)
    assert figures.median_first_answer == timedelta(microseconds=5)
    # An even count: the mean of the middle two (2 µs and 5 µs; 3.5 µs to the microsecond).
    question(world, base, base + timedelta(microseconds=1))
    median = overview(world, *NOVEMBER).median_first_answer
    assert median in (timedelta(microseconds=3), timedelta(microseconds=4))


def test_staff_median_is_over_the_questions_staff_answered(world: CourseWorld) -> None:
    base = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    question(world, base, base + timedelta(hours=1), base + timedelta(hours=8))
    question(world, base, base + timedelta(hours=2))
    question(world, base, base + timedelta(hours=3), base + timedelta(hours=4))
    figures = overview(world, *NOVEMBER)
    assert figures.median_first_answer == timedelta(hours=2)
    assert figures.median_first_staff_answer == timedelta(hours=6)
    # No question at all in the range: no median, not zero.
    empty = overview(world, date(2026, 10, 1), date(2026, 10, 31))
    assert (empty.questions, empty.median_first_answer, empty.median_first_staff_answer) == (
        0,
        None,
        None,
    )


def test_days_are_utc_days_whatever_zone_a_time_was_written_in(world: CourseWorld) -> None:
    # 00:30 in Rome on 2 November is 23:30 UTC on 1 November.
    asked = datetime(2026, 11, 2, 0, 30, tzinfo=ROME)
    question(world, asked, datetime(2026, 11, 2, 3, 0, tzinfo=ROME))
    first_only = overview(world, date(2026, 11, 1), date(2026, 11, 1))
    assert (first_only.questions, first_only.median_first_answer) == (1, timedelta(hours=2.5))
    assert overview(world, date(2026, 11, 2), date(2026, 11, 2)).questions == 0


def add_enrolment(
    world: CourseWorld,
    key: str,
    roles: list[str],
    *,
    status: EnrolmentStatus = EnrolmentStatus.ACTIVE,
    manager: bool = False,
) -> None:
    platform = db.session.get(Platform, world.platform_id)
    member = Member(platform=platform, lms_id=f"extra-{key}", name=key)
    db.session.add(member)
    db.session.flush()
    db.session.add(
        Enrolment(
            course_id=world.course_id,
            member_id=member.id,
            roles=roles,
            status=status,
            community_manager=manager,
            created_at=NOW - timedelta(days=3),
        )
    )
    db.session.commit()


def test_learners_are_decided_by_the_whole_role_list(world: CourseWorld) -> None:
    before = overview(world, *NOVEMBER)
    assert before.learners == 3  # giulia, marco, sara (the manager is on the staff side)
    admin = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
    add_enrolment(world, "short", ["Learner"])  # a short context role: a learner
    add_enrolment(world, "admin", [admin, f"{MEMBERSHIP}Learner"])  # LMS admin: still a learner
    add_enrolment(world, "mentor", [f"{MEMBERSHIP}Learner", f"{MEMBERSHIP}Mentor"])
    add_enrolment(
        world,
        "ta",
        ["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"],
    )
    add_enrolment(world, "gone", [f"{MEMBERSHIP}Learner"], status=EnrolmentStatus.INACTIVE)
    add_enrolment(world, "cm", [f"{MEMBERSHIP}Learner"], manager=True)
    add_enrolment(world, "none", [])  # no context role: a guest, not a learner
    figures = overview(world, *NOVEMBER)
    assert figures.learners == 5
    # The two new learners were enrolled on 22 November, the world's today.
    assert overview(world, date(2026, 11, 1), date(2026, 11, 23)).new_members == 2
    assert figures.never_launched == 5  # nobody in this world has launched
    assert figures.learners == len(metrics.learner_enrolments(db.session, world.course_id))


def test_academy_rows_agree_with_each_course_overview(world: CourseWorld) -> None:
    platform = db.session.get(Platform, world.platform_id)
    assert platform is not None
    other = make_course(
        platform,
        "course-2",
        {
            "giulia": ("Ada", CourseRole.LEARNER),
            "bob": ("Bob", CourseRole.LEARNER),
            "t": ("T", CourseRole.INSTRUCTOR),
        },
    )
    base = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    for course, hours in ((world, [1, 4]), (other, [2, 3, 7])):
        for h in hours:
            question(course, base, base + timedelta(hours=h))
        question(course, base)
    launched = NOW - timedelta(days=2)
    db.session.query(Enrolment).filter(Enrolment.course_id == other.course_id).update(
        {"first_launch_at": launched, "last_launch_at": launched}
    )
    db.session.commit()
    rows = {r.course_id: r for r in academy(db.session, world.platform_id, *NOVEMBER, NOW)}
    for course, median in ((world, timedelta(hours=2.5)), (other, timedelta(hours=3))):
        figures = overview(course, *NOVEMBER)
        row = rows[course.course_id]
        assert row.median_first_answer == figures.median_first_answer == median
        assert (row.learners, row.never_launched, row.questions, row.answered) == (
            figures.learners,
            figures.never_launched,
            figures.questions,
            figures.answered,
        )
        assert (row.active_7, row.active_30) == (figures.active_7, figures.active_30)
    assert (rows[other.course_id].learners, rows[other.course_id].active_7) == (2, 2)
