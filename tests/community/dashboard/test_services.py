"""Dashboard services on seeded data with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from lti_tool.community.dashboard import hanging, metrics, risk
from lti_tool.community.dashboard.models import ReachOutOutcome
from lti_tool.community.dashboard.settings import ThresholdError, save_thresholds
from lti_tool.community.engagement.models import EventKind, WeekFigures
from lti_tool.community.engagement.services import record
from lti_tool.community.notifications.models import Notification
from lti_tool.community.qa.models import Answer, Question, QuestionState
from lti_tool.courses.models import Enrolment
from lti_tool.extensions import db

from ..qa.conftest import CourseWorld

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


def enrol(
    world: CourseWorld, key: str, *, days_ago: float, launched_days_ago: float | None
) -> None:
    """Set when a member was enrolled and last launched (None: never launched)."""
    launched = None if launched_days_ago is None else NOW - timedelta(days=launched_days_ago)
    db.session.execute(
        update(Enrolment)
        .where(
            Enrolment.course_id == world.course_id,
            Enrolment.member_id == world[key].member_id,
        )
        .values(
            created_at=NOW - timedelta(days=days_ago),
            first_launch_at=launched,
            last_launch_at=launched,
        )
    )
    db.session.commit()


def act(world: CourseWorld, key: str, kind: EventKind, *, days_ago: float, n: int = 1) -> None:
    for i in range(n):
        record(
            db.session,
            course_id=world.course_id,
            member_id=world[key].member_id,
            kind=kind,
            subject_type="qa_question",
            subject_id=i + 1,
            at=NOW - timedelta(days=days_ago, minutes=i),
        )
    db.session.commit()


def ask(world: CourseWorld, key: str, *, hours_ago: float, title: str = "A question") -> Question:
    asked = NOW - timedelta(hours=hours_ago)
    question = Question(
        course_id=world.course_id,
        author_id=world[key].member_id,
        title=title,
        body="",
        created_at=asked,
        updated_at=asked,
        last_activity_at=asked,
    )
    db.session.add(question)
    db.session.commit()
    return question


def everyone_fine(world: CourseWorld) -> None:
    """All learners launched yesterday and were recognised: a clean slate for one rule."""
    for key in ("giulia", "marco", "sara"):
        enrol(world, key, days_ago=5, launched_days_ago=1)


def reasons_of(world: CourseWorld) -> dict[str, list[str]]:
    names = {world[k].member_id: k for k in world.actors}
    return {names[s.member_id]: s.reasons for s in risk.at_risk(db.session, world.course_id, NOW)}


def test_never_launched_after_a_grace_period(world: CourseWorld) -> None:
    everyone_fine(world)
    enrol(world, "giulia", days_ago=3, launched_days_ago=None)
    enrol(world, "marco", days_ago=1, launched_days_ago=None)  # still within the grace period
    assert reasons_of(world) == {"giulia": ["never_launched"]}


def test_inactivity_counts_from_the_students_own_dates(world: CourseWorld) -> None:
    everyone_fine(world)
    enrol(world, "giulia", days_ago=30, launched_days_ago=10)
    enrol(world, "marco", days_ago=30, launched_days_ago=10)
    act(world, "marco", EventKind.ANSWER, days_ago=2)  # took part two days ago
    act(world, "marco", EventKind.UPVOTE_RECEIVED, days_ago=2)
    [student] = risk.at_risk(db.session, world.course_id, NOW)
    assert student.reasons == ["inactive", "no_recognition"]
    assert student.findings[0].count == 10
    save_thresholds(
        db.session,
        world.course_id,
        {
            "inactive_days": "14",
            "unanswered_hours": "24",
            "staff_check_hours": "48",
            "falling_percent": "50",
            "recognition_weeks": "3",
        },
    )
    assert reasons_of(world) == {"giulia": ["no_recognition"]}


def test_falling_activity_week_over_week(world: CourseWorld) -> None:
    everyone_fine(world)
    act(world, "giulia", EventKind.COMMENT, days_ago=10, n=6)
    act(world, "giulia", EventKind.COMMENT, days_ago=1, n=2)  # 2 < 50% of 6
    act(world, "marco", EventKind.COMMENT, days_ago=10, n=6)
    act(world, "marco", EventKind.COMMENT, days_ago=1, n=4)  # 4 >= 50% of 6
    act(world, "sara", EventKind.COMMENT, days_ago=10, n=2)  # too few to mean anything
    found = risk.at_risk(db.session, world.course_id, NOW)
    assert [(s.name, s.reasons) for s in found] == [("Giulia Rossi", ["falling"])]
    assert (found[0].findings[0].count, found[0].findings[0].previous) == (2, 6)


def test_unanswered_question_past_the_threshold(world: CourseWorld) -> None:
    everyone_fine(world)
    ask(world, "giulia", hours_ago=30)
    ask(world, "marco", hours_ago=3)
    assert reasons_of(world) == {"giulia": ["unanswered"]}


def test_anonymous_posts_count_for_staff_who_may_see_their_authors_only(
    world: CourseWorld,
) -> None:
    from lti_tool.community.qa.services import update_settings
    from lti_tool.community.sentiment.models import PostSentiment

    everyone_fine(world)
    waiting = ask(world, "giulia", hours_ago=30, title="Anonymous and unanswered")
    waiting.anonymous = True
    for days in (1, 2):
        answer = Answer(
            course_id=world.course_id,
            question_id=waiting.id,
            author_id=world["marco"].member_id,
            body="sigh",
            anonymous=True,
        )
        db.session.add(answer)
        db.session.flush()
        posted = NOW - timedelta(days=days)
        db.session.add(
            PostSentiment(
                course_id=world.course_id,
                author_id=world["marco"].member_id,
                subject_type="qa_answer",
                subject_id=answer.id,
                language="it",
                score=-0.6,
                label="negative",
                posted_at=posted,
                week_start=posted.date(),
            )
        )
    db.session.commit()

    def reasons(staff_viewer: bool) -> dict[str, list[str]]:
        names = {world[k].member_id: k for k in world.actors}
        found = risk.at_risk(db.session, world.course_id, NOW, staff_viewer=staff_viewer)
        return {names[s.member_id]: s.reasons for s in found}

    assert reasons(True) == {"giulia": ["unanswered"], "marco": ["negative_sentiment"]}
    assert reasons(False) == {}  # a community manager: nothing tells who wrote them
    update_settings(db.session(), world["prof"], allow_anonymous=True, staff_see_anonymous=False)
    assert reasons(True) == {}


def test_no_recognition_by_week_three(world: CourseWorld) -> None:
    everyone_fine(world)
    enrol(world, "giulia", days_ago=22, launched_days_ago=1)
    enrol(world, "marco", days_ago=22, launched_days_ago=1)
    act(world, "marco", EventKind.UPVOTE_RECEIVED, days_ago=3)
    assert reasons_of(world) == {"giulia": ["no_recognition"]}


def test_staff_and_managers_are_never_listed(world: CourseWorld) -> None:
    for key in ("prof", "ta", "cm"):
        enrol(world, key, days_ago=60, launched_days_ago=None)
    everyone_fine(world)
    assert reasons_of(world) == {}


def test_a_reach_out_succeeds_when_the_student_comes_back(world: CourseWorld) -> None:
    everyone_fine(world)
    enrol(world, "giulia", days_ago=40, launched_days_ago=20)
    act(world, "giulia", EventKind.UPVOTE_RECEIVED, days_ago=25)
    assert reasons_of(world) == {"giulia": ["inactive"]}
    reach_out = risk.log_reach_out(
        db.session,
        course_id=world.course_id,
        member_id=world["giulia"].member_id,
        staff_id=world["prof"].member_id,
        note="Phoned her",
        nudge="We miss you in the Q&A!",
        reasons=["inactive"],
    )
    reach_out.created_at = NOW - timedelta(days=2)
    db.session.commit()
    nudges = db.session.scalars(select(Notification).where(Notification.kind == "nudge")).all()
    assert [(n.member_id, n.excerpt) for n in nudges] == [
        (world["giulia"].member_id, "We miss you in the Q&A!")
    ]
    act(world, "giulia", EventKind.ASK, days_ago=1)
    assert reasons_of(world) == {}
    db.session.refresh(reach_out)
    assert reach_out.outcome == ReachOutOutcome.SUCCESSFUL
    [(back, name)] = risk.back_on_track(db.session, world.course_id)
    assert (back.id, name) == (reach_out.id, "Giulia Rossi")


def test_being_placed_in_a_group_is_not_coming_back(world: CourseWorld) -> None:
    """A roster sync placing a late joiner, staff moving a student or a facilitator rotation
    records a group event for the student: it is not their activity. They stay on the list, the
    reach-out stays pending, they are not "active", and their first question is a first post."""
    everyone_fine(world)
    enrol(world, "giulia", days_ago=40, launched_days_ago=20)
    reach_out = risk.log_reach_out(
        db.session,
        course_id=world.course_id,
        member_id=world["giulia"].member_id,
        staff_id=world["prof"].member_id,
        note="Phoned her",
    )
    reach_out.created_at = NOW - timedelta(days=2)
    db.session.commit()
    act(world, "giulia", EventKind.GROUP_JOINED, days_ago=1)
    act(world, "giulia", EventKind.GROUP_FACILITATOR, days_ago=1)
    assert reasons_of(world) == {"giulia": ["inactive", "no_recognition"]}
    db.session.refresh(reach_out)
    assert reach_out.outcome == ReachOutOutcome.PENDING
    figures = metrics.overview(db.session, world.course_id, date(2026, 11, 1), NOW.date(), NOW)
    assert figures.active_7 == 2  # marco and sara launched yesterday; giulia only was placed
    [week] = metrics.weekly(db.session, world.course_id, date(2026, 11, 23), date(2026, 11, 25))
    assert week.active == 0
    ask(world, "giulia", hours_ago=30, title="Giulia's first question")
    [waiting] = hanging.hanging_questions(db.session, world.course_id, NOW)
    assert waiting.first_post


def test_a_students_own_card_says_when_they_last_took_part(world: CourseWorld) -> None:
    enrol(world, "giulia", days_ago=30, launched_days_ago=3)
    act(world, "giulia", EventKind.ANSWER, days_ago=1)  # in a session launched 3 days ago
    card = risk.student_card(db.session, world.course_id, world["giulia"].member_id)
    assert card is not None and card.last_active_at == NOW - timedelta(days=1)


def test_a_reach_out_needs_a_member_of_the_course_and_some_text(world: CourseWorld) -> None:
    for member_id, note, code in [
        (world["giulia"].member_id, "   ", "empty"),
        (world["giulia"].member_id, "x" * 2001, "too_long"),
        (999_999, "note", "not_member"),
    ]:
        try:
            risk.log_reach_out(
                db.session,
                course_id=world.course_id,
                member_id=member_id,
                staff_id=world["prof"].member_id,
                note=note,
            )
        except risk.ReachOutError as error:
            assert str(error) == code
        else:
            raise AssertionError(f"{code} accepted")


def test_overview_figures(world: CourseWorld) -> None:
    everyone_fine(world)
    enrol(world, "sara", days_ago=40, launched_days_ago=None)
    for hours, staff_hours in [(1, 3), (2, None), (5, 9)]:
        question = ask(world, "giulia", hours_ago=48)
        question.first_answer_at = question.created_at + timedelta(hours=hours)
        if staff_hours:
            question.first_staff_answer_at = question.created_at + timedelta(hours=staff_hours)
        question.state = QuestionState.ANSWERED
    ask(world, "marco", hours_ago=10)
    db.session.commit()
    act(world, "giulia", EventKind.KUDOS_GIVEN, days_ago=1, n=2)
    act(world, "marco", EventKind.COMMENT, days_ago=20)
    act(world, "giulia", EventKind.KUDOS_RECEIVED, days_ago=1)  # recognition, not activity
    figures = metrics.overview(
        db.session, world.course_id, date(2026, 11, 1), date(2026, 11, 30), NOW
    )
    assert figures.learners == 3  # the community manager is on the staff side
    assert figures.questions == 4 and figures.answered == 3 and figures.answered_percent == 75
    assert figures.median_first_answer == timedelta(hours=2)
    assert figures.median_first_staff_answer == timedelta(hours=6)
    assert figures.kudos_given == 2
    assert figures.never_launched == 1
    # launched yesterday: giulia and marco; sara never; marco's comment 20 days ago also counts
    assert (figures.active_7, figures.active_30) == (2, 2)


def test_weekly_trend_buckets_by_iso_week(world: CourseWorld) -> None:
    act(world, "giulia", EventKind.ASK, days_ago=1)  # week of Mon 23 Nov
    act(world, "marco", EventKind.ANSWER, days_ago=1)
    act(world, "marco", EventKind.ANSWER, days_ago=8, n=3)  # week of Mon 16 Nov
    weeks = metrics.weekly(db.session, world.course_id, date(2026, 11, 10), date(2026, 11, 25))
    assert [(w.start.isoformat(), w.active, w.questions, w.answers) for w in weeks] == [
        ("2026-11-09", 0, 0, 0),
        ("2026-11-16", 1, 0, 3),
        ("2026-11-23", 2, 1, 1),
    ]


def test_weekly_active_students_are_learners_only(world: CourseWorld) -> None:
    """Staff answering and a community manager's kudos are not "active students", as in the
    overview; a week stored before (when they were counted) is computed again."""
    for key in ("giulia", "prof", "ta", "cm"):
        act(world, key, EventKind.ANSWER, days_ago=1)  # this week (Mon 23 Nov)
        act(world, key, EventKind.ANSWER, days_ago=8)  # finished week (Mon 16 Nov)
    db.session.add(  # as an older release stored the finished week: staff counted
        WeekFigures(
            course_id=world.course_id, week_start=date(2026, 11, 16), kind="_active", count=4
        )
    )
    db.session.add(
        WeekFigures(course_id=world.course_id, week_start=date(2026, 11, 16), kind="_done", count=0)
    )
    db.session.commit()
    weeks = metrics.weekly(db.session, world.course_id, date(2026, 11, 16), date(2026, 11, 25))
    assert [(w.active, w.answers) for w in weeks] == [(1, 4), (1, 4)]
    [stored] = metrics.weekly(db.session, world.course_id, date(2026, 11, 16), date(2026, 11, 22))
    assert stored.active == 1  # read back from the stored week


def test_hanging_questions_put_first_posts_first(world: CourseWorld) -> None:
    act(world, "marco", EventKind.COMMENT, days_ago=10)  # marco has posted before
    old = ask(world, "marco", hours_ago=60, title="Old, no reply")
    first = ask(world, "giulia", hours_ago=26, title="Giulia's first post")
    ask(world, "sara", hours_ago=2, title="Too recent")

    def answered_by_sara(question: Question, **flags: bool) -> None:
        question.state = QuestionState.ANSWERED
        db.session.add(
            Answer(
                course_id=world.course_id,
                question_id=question.id,
                author_id=world["sara"].member_id,
                body="peer",
                **flags,
            )
        )

    answered_by_sara(ask(world, "marco", hours_ago=50, title="Answered by a peer only"))
    checked = ask(world, "marco", hours_ago=50, title="Endorsed")
    checked.state, checked.endorsed = QuestionState.ANSWERED, True
    # A peer's answer endorsed by a peer mentor still waits for staff; one endorsed by staff
    # does not.
    for title, mentor in [("Mentor-endorsed answer", True), ("Staff-endorsed answer", False)]:
        answered_by_sara(
            ask(world, "marco", hours_ago=49, title=title), endorsed=True, endorsed_by_mentor=mentor
        )
    db.session.commit()
    act(world, "marco", EventKind.ASK, days_ago=3)  # marco's own asks are not his first post
    items = hanging.hanging_questions(db.session, world.course_id, NOW)
    assert [(q.title, q.waiting.value, q.first_post) for q in items] == [
        ("Giulia's first post", "no_reply", True),
        ("Old, no reply", "no_reply", False),
        ("Answered by a peer only", "no_staff_check", False),
        ("Mentor-endorsed answer", "no_staff_check", False),
    ]
    assert items[1].question_id == old.id and first.id == items[0].question_id
    # A busy course lists a few at a time: the first post is among them, however many older
    # questions wait.
    top = hanging.hanging_questions(db.session, world.course_id, NOW, limit=2)
    assert [q.title for q in top] == ["Giulia's first post", "Old, no reply"]
    [only] = hanging.hanging_questions(db.session, world.course_id, NOW, limit=1)
    assert only.title == "Giulia's first post"


def test_thresholds_are_validated_as_a_whole(world: CourseWorld) -> None:
    good = {
        "inactive_days": "10",
        "unanswered_hours": "12",
        "staff_check_hours": "36",
        "falling_percent": "40",
        "recognition_weeks": "4",
    }
    for field, bad in [
        ("inactive_days", "0"),
        ("falling_percent", "abc"),
        ("recognition_weeks", ""),
    ]:
        try:
            save_thresholds(db.session, world.course_id, {**good, field: bad})
        except ThresholdError as error:
            assert error.field == field
        else:
            raise AssertionError(f"{field}={bad!r} accepted")
    saved = save_thresholds(db.session, world.course_id, good)
    assert saved.inactive_days == 10 and saved.falling_percent == 40


def tag(world: CourseWorld, question: Question, name: str) -> None:
    from lti_tool.community.qa.models import QuestionTag, Tag

    found = db.session.scalar(select(Tag).where(Tag.course_id == world.course_id, Tag.name == name))
    if found is None:
        found = Tag(course_id=world.course_id, name=name, label=f"Module {name}")
        db.session.add(found)
        db.session.flush()
    db.session.add(QuestionTag(question_id=question.id, tag_id=found.id))
    db.session.commit()


def test_top_tags_trends_and_gaps(world: CourseWorld) -> None:
    from lti_tool.community.dashboard import signals

    for _ in range(3):
        tag(world, ask(world, "giulia", hours_ago=24), "recursion")  # this week
    tag(world, ask(world, "marco", hours_ago=24 * 10), "recursion")  # the weeks before
    for days in (9, 16, 23):
        tag(world, ask(world, "sara", hours_ago=24 * days), "sql")
    tag(world, ask(world, "sara", hours_ago=24 * 2), "sql")
    top = signals.top_tags(db.session, world.course_id, date(2026, 10, 1), date(2026, 11, 30))
    assert [(t.name, t.questions) for t in top] == [("recursion", 4), ("sql", 4)]
    trends = signals.trending(db.session, world.course_id, NOW)
    assert [(t.name, t.this_week, t.weekly_before) for t in trends] == [("recursion", 3, 0.25)]
    # Gaps: older than 7 days, neither accepted nor endorsed.
    accepted = ask(world, "marco", hours_ago=24 * 20, title="accepted")
    answer = Answer(
        course_id=world.course_id,
        question_id=accepted.id,
        author_id=world["ta"].member_id,
        body="a",
    )
    db.session.add(answer)
    db.session.flush()
    accepted.accepted_answer_id = answer.id
    endorsed = ask(world, "marco", hours_ago=24 * 20, title="endorsed answer")
    db.session.add(
        Answer(
            course_id=world.course_id,
            question_id=endorsed.id,
            author_id=world["sara"].member_id,
            body="b",
            endorsed=True,
        )
    )
    db.session.commit()
    gaps = signals.content_gaps(db.session, world.course_id, NOW)
    assert [(g.title, g.tags) for g in gaps] == [
        ("A question", ("sql",)),  # 23 days
        ("A question", ("sql",)),  # 16 days
        ("A question", ("recursion",)),  # 10 days
        ("A question", ("sql",)),  # 9 days
    ]


def test_staff_figures_with_response_times(world: CourseWorld) -> None:
    from lti_tool.community.dashboard import signals

    q1 = ask(world, "giulia", hours_ago=50)
    q2 = ask(world, "marco", hours_ago=30)
    q3 = ask(world, "sara", hours_ago=20)
    answers = [(q1, "ta", 2), (q1, "prof", 5), (q2, "ta", 4), (q2, "ta", 6), (q3, "cm", 1)]
    for question, key, after in [*answers, (q3, "prof", 3)]:
        db.session.add(
            Answer(
                course_id=world.course_id,
                question_id=question.id,
                author_id=world[key].member_id,
                body="x",
                is_staff_answer=key != "cm",  # a community manager is a student of the course
                created_at=question.created_at + timedelta(hours=after),
            )
        )
    db.session.commit()
    act(world, "ta", EventKind.ANSWER, days_ago=1, n=3)
    act(world, "prof", EventKind.ANSWER, days_ago=1)
    act(world, "prof", EventKind.ENDORSE, days_ago=1, n=2)
    rows = signals.staff_figures(db.session, world.course_id, date(2026, 11, 1), date(2026, 11, 30))
    by_name = {r.name: r for r in rows}
    assert [r.name for r in rows][:2] == ["Anna Neri", "Luca Gallo"]  # 3 actions each, by name
    assert "Elena Costa" in by_name  # the community manager is on the staff side
    ta, prof = by_name["Luca Gallo"], by_name["Anna Neri"]
    assert (ta.answers, ta.first_answers, ta.median_response) == (3, 2, timedelta(hours=3))
    # q3: the instructor's answer is its first staff answer, as the overview counts it, though
    # the community manager answered before.
    assert (prof.answers, prof.endorsements, prof.first_answers) == (1, 2, 1)
    assert prof.median_response == timedelta(hours=4)  # 5 and 3
    assert (by_name["Elena Costa"].first_answers, by_name["Elena Costa"].median_response) == (
        0,
        timedelta(hours=1),
    )


def test_playbook_guidelines_and_templates(world: CourseWorld) -> None:
    from lti_tool.community.dashboard import playbook

    saved = playbook.save_guidelines(
        db.session,
        world.course_id,
        world["cm"].member_id,
        "Reply within **24 h**.<script>x</script>",
    )
    assert "<strong>24 h</strong>" in saved.body_html and "<script" not in saved.body_html
    template = playbook.add_template(
        db.session,
        world.course_id,
        world["prof"].member_id,
        "Syllabus",
        "See the syllabus, section 2.",
    )
    for title, body, code in [("", "x", "empty"), ("t" * 121, "x", "too_long")]:
        try:
            playbook.add_template(db.session, world.course_id, world["prof"].member_id, title, body)
        except playbook.PlaybookError as error:
            assert str(error) == code
        else:
            raise AssertionError(code)
    assert [t.title for t in playbook.templates(db.session, world.course_id)] == ["Syllabus"]
    assert not playbook.delete_template(db.session, world.course_id + 1, template.id)
    assert playbook.delete_template(db.session, world.course_id, template.id)
    assert playbook.templates(db.session, world.course_id) == []


def test_academy_rows_per_course(world: CourseWorld) -> None:
    from lti_tool.community.dashboard.academy import academy, totals
    from lti_tool.courses.models import Platform
    from lti_tool.courses.roles import CourseRole

    from ..qa.conftest import make_course

    everyone_fine(world)
    enrol(world, "sara", days_ago=10, launched_days_ago=None)
    platform = db.session.get(Platform, world.platform_id)
    assert platform is not None
    other = make_course(
        platform,
        "course-2",
        {"ada": ("Ada", CourseRole.LEARNER), "t": ("T", CourseRole.INSTRUCTOR)},
    )
    act(other, "ada", EventKind.ASK, days_ago=10)
    ask(world, "giulia", hours_ago=5).first_answer_at = NOW - timedelta(hours=4)
    db.session.commit()
    rows = academy(db.session, world.platform_id, date(2026, 11, 1), date(2026, 11, 30), NOW)
    figures = [(r.learners, r.never_launched, r.active_7, r.active_30, r.questions) for r in rows]
    assert figures == [(3, 1, 2, 2, 1), (1, 1, 0, 1, 0)]
    assert rows[0].median_first_answer == timedelta(hours=1)
    total = totals(db.session, world.platform_id, rows, NOW)
    assert (total.learners, total.never_launched, total.active_7, total.active_30) == (4, 2, 2, 3)
    assert (total.questions, total.answered) == (1, 0)


def test_academy_totals_count_a_student_of_two_courses_once(world: CourseWorld) -> None:
    """The organisation asks how many students the academy has, not how many enrolments."""
    from lti_tool.community.dashboard.academy import academy, totals
    from lti_tool.courses.models import Platform
    from lti_tool.courses.roles import CourseRole

    from ..qa.conftest import ROLE_URIS, make_course

    everyone_fine(world)
    enrol(world, "sara", days_ago=10, launched_days_ago=None)
    platform = db.session.get(Platform, world.platform_id)
    assert platform is not None
    other = make_course(platform, "course-2", {"t": ("T", CourseRole.INSTRUCTOR)})
    for key in ("giulia", "sara", "prof"):  # prof is a student of the other course
        db.session.add(
            Enrolment(
                course_id=other.course_id,
                member_id=world[key].member_id,
                roles=ROLE_URIS[CourseRole.LEARNER],
                first_launch_at=NOW - timedelta(days=2) if key == "sara" else None,
                last_launch_at=NOW - timedelta(days=2) if key == "sara" else None,
            )
        )
    db.session.commit()
    rows = academy(db.session, world.platform_id, date(2026, 11, 1), date(2026, 11, 30), NOW)
    assert [r.learners for r in rows] == [3, 3]
    total = totals(db.session, world.platform_id, rows, NOW)
    # giulia, marco, sara and the instructor who studies elsewhere (and never opened Bottega);
    # sara, who never opened it in the first course, did in the second.
    assert (total.learners, total.never_launched, total.active_7) == (4, 1, 3)


def test_negative_tone_in_recent_posts_is_a_reason(world: CourseWorld) -> None:
    from lti_tool.community.sentiment.models import PostSentiment

    everyone_fine(world)
    for i, (key, label, days) in enumerate(
        [
            ("giulia", "negative", 2),
            ("giulia", "negative", 5),
            ("marco", "negative", 3),  # one is not a pattern
            ("sara", "negative", 20),  # too long ago
            ("sara", "negative", 30),
        ]
    ):
        posted = NOW - timedelta(days=days)
        db.session.add(
            PostSentiment(
                course_id=world.course_id,
                author_id=world[key].member_id,
                subject_type="qa_answer",
                subject_id=i + 1,
                language="it",
                score=-0.6,
                label=label,
                posted_at=posted,
                week_start=posted.date(),
            )
        )
    db.session.commit()
    found = {s.name: s for s in risk.at_risk(db.session, world.course_id, NOW)}
    assert list(found) == ["Giulia Rossi"]
    assert found["Giulia Rossi"].reasons == ["negative_sentiment"]
    assert found["Giulia Rossi"].findings[0].count == 2


def test_peer_group_reasons(world: CourseWorld) -> None:
    from lti_tool.community.groups.models import AssignMode, Group, GroupSet, Membership

    everyone_fine(world)
    assert reasons_of(world) == {}  # no group sets in the course: nobody is missing a group
    group_set = GroupSet(
        course_id=world.course_id, name="Study groups", group_size=3, mode=AssignMode.MANUAL
    )
    db.session.add(group_set)
    db.session.flush()
    quiet = Group(
        course_id=world.course_id,
        set_id=group_set.id,
        number=1,
        created_at=NOW - timedelta(days=30),
        last_activity_at=NOW - timedelta(days=10),
    )
    lively = Group(
        course_id=world.course_id,
        set_id=group_set.id,
        number=2,
        created_at=NOW - timedelta(days=30),
        last_activity_at=NOW - timedelta(days=1),
    )
    db.session.add_all([quiet, lively])
    db.session.flush()
    for key, group in (("giulia", quiet), ("marco", lively)):
        db.session.add(
            Membership(
                course_id=world.course_id,
                set_id=group_set.id,
                group_id=group.id,
                member_id=world[key].member_id,
            )
        )
    db.session.commit()
    found = {s.name: s for s in risk.at_risk(db.session, world.course_id, NOW)}
    assert {name: s.reasons for name, s in found.items()} == {
        "Giulia Rossi": ["quiet_group"],
        "Sara Verdi": ["no_group"],
    }
    assert found["Giulia Rossi"].findings[0].count == 10


def test_finished_weeks_are_grouped_once_and_again_after_a_late_event(world: CourseWorld) -> None:
    from sqlalchemy import delete

    from lti_tool.community.engagement.models import ParticipationEvent

    week = (date(2026, 11, 16), date(2026, 11, 22))  # finished: NOW is Wednesday 25 November
    act(world, "marco", EventKind.ANSWER, days_ago=8, n=3)
    assert [(w.answers, w.active) for w in metrics.weekly(db.session, world.course_id, *week)] == [
        (3, 1)
    ]
    db.session.execute(delete(ParticipationEvent))
    db.session.commit()
    # Read from engagement_week: the finished week is not grouped again.
    assert metrics.weekly(db.session, world.course_id, *week)[0].answers == 3
    act(world, "giulia", EventKind.ANSWER, days_ago=9)  # recorded late into that week
    assert [(w.answers, w.active) for w in metrics.weekly(db.session, world.course_id, *week)] == [
        (1, 1)
    ]
