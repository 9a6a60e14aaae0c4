"""Privacy services: a member's export, their erasure, and the retention of participation events.

Runs on SQLite and PostgreSQL (the ``app`` fixture). A course world is filled through the real
services (Q&A, kudos) and a few direct rows for the rest, then exported and erased.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from lti_tool import create_app
from lti_tool.community.dashboard import metrics
from lti_tool.community.dashboard.models import ReachOut
from lti_tool.community.engagement.models import EventKind, ParticipationEvent, WeekFigures
from lti_tool.community.engagement.services import record
from lti_tool.community.groups.models import Group, GroupPost, GroupSet, Membership
from lti_tool.community.kudos import services as kudos
from lti_tool.community.notifications.models import Notification
from lti_tool.community.qa import services as qa
from lti_tool.community.qa.models import Answer, Follower, Question, Revision, Vote
from lti_tool.community.welcome.models import Introduction, Welcome
from lti_tool.courses.models import Enrolment, Member, Placement, display_name
from lti_tool.courses.services import Profile, upsert_member
from lti_tool.extensions import db, utcnow
from lti_tool.jobs.runtime import runtime_of
from lti_tool.sync import privacy
from lti_tool.sync.grades import GradeScore
from lti_tool.web.privacy import TABLE_LABELS

from ..community.qa import conftest as qa_fixtures
from ..community.qa.conftest import CourseWorld
from ..conftest import base_config

world = qa_fixtures.world  # one course on one LMS (fixture)


def _fill(world: CourseWorld) -> dict[str, int]:
    """Giulia asks (anonymously), edits, answers, comments, votes, follows, gives and receives
    kudos, posts in a group, introduces herself; staff log a reach-out about her."""
    s = db.session
    giulia, marco, prof = world["giulia"], world["marco"], world["prof"]
    question = qa.ask(s, giulia, qa.QuestionInput(title="Perspective in Giotto?", body="Why?"))
    qa.edit_question(
        s, giulia, question.id, qa.QuestionInput(title="Perspective in Giotto?", body="Why so?")
    )
    anonymous = qa.ask(
        s, giulia, qa.QuestionInput(title="Am I behind?", body="Worried", anonymous=True)
    )
    other = qa.ask(s, marco, qa.QuestionInput(title="Masaccio", body="Trinity fresco"))
    her_answer = qa.answer(s, giulia, other.id, "Vanishing point at eye level")
    qa.answer(s, marco, question.id, "Giotto had no single vanishing point")
    qa.comment(s, giulia, other.id, "Thanks Marco")
    qa.toggle_vote(s, giulia, "question", other.id)
    qa.toggle_vote(s, marco, "answer", her_answer.id)
    category = kudos.categories(s, world.course_id)[0]
    kudos.give(
        s,
        giulia,
        kudos.KudosInput(
            receiver_id=marco.member_id, category_id=category.id, message="Great explanation"
        ),
    )
    kudos.give(
        s,
        marco,
        kudos.KudosInput(
            receiver_id=giulia.member_id, category_id=category.id, message="Thanks Giulia"
        ),
    )
    group_set = GroupSet(course_id=world.course_id, name="Study", group_size=3, mode="manual")
    s.add(group_set)
    s.flush()
    group = Group(
        course_id=world.course_id, set_id=group_set.id, number=1, facilitator_id=giulia.member_id
    )
    s.add(group)
    s.flush()
    s.add(
        Membership(
            course_id=world.course_id,
            set_id=group_set.id,
            group_id=group.id,
            member_id=giulia.member_id,
        )
    )
    s.add(
        GroupPost(
            course_id=world.course_id,
            group_id=group.id,
            author_id=giulia.member_id,
            body="See you Tuesday",
        )
    )
    intro = Introduction(
        course_id=world.course_id,
        member_id=giulia.member_id,
        body="I'm Giulia from Rome",
        body_html="<p>I'm Giulia from Rome</p>",
    )
    s.add(intro)
    s.flush()
    s.add(
        Welcome(
            course_id=world.course_id,
            introduction_id=intro.id,
            author_id=marco.member_id,
            body="Welcome!",
            body_html="<p>Welcome!</p>",
        )
    )
    s.add(
        ReachOut(
            course_id=world.course_id,
            member_id=giulia.member_id,
            staff_id=prof.member_id,
            note="Quiet since week 2, wrote to her",
        )
    )
    placement = Placement(course_id=world.course_id, lms_id="rl-1")
    s.add(placement)
    s.flush()
    s.add(
        GradeScore(
            placement_id=placement.id,
            member_id=giulia.member_id,
            score=4.0,
            score_maximum=100.0,
            timestamp=utcnow(),
        )
    )
    s.commit()
    return {
        "question": question.id,
        "anonymous": anonymous.id,
        "other": other.id,
        "answer": her_answer.id,
    }


def _giulia(world: CourseWorld) -> Member:
    member = db.session.get(Member, world["giulia"].member_id)
    assert member is not None
    return member


def test_every_table_referencing_members_has_an_erasure_policy(app: object) -> None:
    """Fails when a table referencing the member table is added without export/erasure cover:
    give it a policy in sync.privacy.ERASURE_POLICY (the export reads the metadata itself)."""
    columns = {(t.name, c) for t, c in privacy.member_columns() if t.name != "member"}
    assert columns - set(privacy.ERASURE_POLICY) == set(), "member columns without a policy"
    assert set(privacy.ERASURE_POLICY) - columns == set(), "policies for columns that are gone"
    assert columns >= privacy.ACTS_ON_OTHERS


def test_every_table_the_privacy_page_counts_is_named_in_words(app: object) -> None:
    """The privacy page lists what Bottega holds about someone table by table: each needs a
    translatable label in web.privacy.TABLE_LABELS, or the page shows a raw table name."""
    counted = {
        t.name
        for t, c in privacy.member_columns()
        if t.name != "member" and (t.name, c) not in privacy.ACTS_ON_OTHERS
    }
    assert counted - set(TABLE_LABELS) == set(), "tables without words on the privacy page"


def test_export_holds_everything_about_the_member_and_nothing_derived(world: CourseWorld) -> None:
    ids = _fill(world)
    data = privacy.export_member(db.session, _giulia(world))

    assert data["format"] == privacy.EXPORT_FORMAT
    assert data["member"]["name"] == "Giulia Rossi"
    assert data["member"]["lms_user_id"] == "course-1-giulia"
    assert [c["lms_id"] for c in data["courses"]] == ["course-1"]
    tables = data["tables"]
    questions = {q["id"]: q for q in tables["qa_question"]}
    assert questions[ids["anonymous"]]["anonymous"] is True  # anonymous posts are hers too
    assert "search_vector" not in questions[ids["anonymous"]]
    assert "body_html" not in questions[ids["question"]]
    assert [a["id"] for a in tables["qa_answer"]] == [ids["answer"]]
    assert tables["qa_comment"][0]["body"] == "Thanks Marco"
    assert {(k["giver_id"], k["receiver_id"]) for k in tables["kudos_award"]} == {
        (world["giulia"].member_id, world["marco"].member_id),
        (world["marco"].member_id, world["giulia"].member_id),
    }
    assert tables["qa_vote"][0]["question_id"] == ids["other"]
    assert {f["question_id"] for f in tables["qa_follower"]} >= {ids["question"], ids["other"]}
    assert tables["dashboard_reach_out"][0]["note"] == "Quiet since week 2, wrote to her"
    assert tables["grades_score"][0]["score"] == 4.0
    assert tables["groups_post"][0]["body"] == "See you Tuesday"
    assert tables["welcome_introduction"][0]["body"] == "I'm Giulia from Rome"
    assert any(e["kind"] == "ask" for e in tables["engagement_event"])
    assert any(n["kind"] for n in tables["notification"])  # e.g. Marco's answer to her
    history = data["edit_history_of_own_posts"]
    assert [(h["question_id"], h["previous_body"]) for h in history] == [(ids["question"], "Why?")]
    # Nothing of Marco's own rows: his notification of her answer is listed, not copied.
    assert all(q["author_id"] == world["giulia"].member_id for q in tables["qa_question"])
    assert all(n["member_id"] == world["giulia"].member_id for n in tables["notification"])
    acted = {(a["table"], a["as"]) for a in data["acted_on_others_records"]}
    assert ("notification", "actor_id") in acted


def test_erasure_anonymises_posts_removes_personal_data_and_keeps_counts_sane(
    world: CourseWorld,
) -> None:
    ids = _fill(world)
    giulia = _giulia(world)
    member_id = giulia.id
    counts = privacy.erase_member(db.session, giulia, route="cli")
    db.session.expire_all()

    member = db.session.get(Member, member_id)
    assert member is not None
    assert (member.email, member.given_name, member.picture) == (None, None, None)
    assert member.lms_id.startswith(privacy.ERASED_PREFIX)
    assert member.display_name == "Former member"
    assert display_name(member.id, member.name, None, None) == "Former member"
    # Posts stay for their threads, anonymous flag and all.
    question = db.session.get(Question, ids["question"])
    assert question is not None and question.body == "Why so?"
    assert question.author_id == member_id
    assert db.session.get(Question, ids["anonymous"]) is not None
    assert db.session.get(Answer, ids["answer"]) is not None
    assert db.session.scalar(select(GroupPost.body)) == "See you Tuesday"
    # Edit history of her posts, votes, follows, notifications, kudos received: gone.
    assert db.session.scalars(select(Revision)).all() == []
    assert (
        db.session.scalar(select(func.count()).select_from(Vote).where(Vote.member_id == member_id))
        == 0
    )
    other = db.session.get(Question, ids["other"])
    assert other is not None and other.helpful_count == 0  # her vote went, and its count
    answer = db.session.get(Answer, ids["answer"])
    assert answer is not None and answer.helpful_count == 1  # Marco's vote for her stays
    for model, column in (
        (Follower, Follower.member_id),
        (Notification, Notification.member_id),
        (Membership, Membership.member_id),
        (ReachOut, ReachOut.member_id),
        (GradeScore, GradeScore.member_id),
        (ParticipationEvent, ParticipationEvent.member_id),
        (Introduction, Introduction.member_id),
    ):
        assert (
            db.session.scalar(select(func.count()).select_from(model).where(column == member_id))
            == 0
        ), model.__tablename__
    assert db.session.scalar(select(func.count()).select_from(Welcome)) == 0  # with her intro
    kudos_left = kudos.totals(db.session, world.course_id, world["marco"].member_id)
    assert kudos_left == (1, 0)  # (received, given): hers to him stays; his to her went
    assert db.session.scalar(select(Group.facilitator_id)) is None
    assert db.session.scalar(select(Enrolment).where(Enrolment.member_id == member_id)) is None
    # The log records the erasure without personal data.
    log = db.session.scalars(select(privacy.ErasureLog)).one()
    assert (log.member_id, log.route) == (member_id, "cli")
    assert log.counts == counts and counts["qa_vote"] == 1
    assert "Giulia" not in str(log.counts) and "giulia" not in str(log.counts)


def test_erasure_is_idempotent(world: CourseWorld) -> None:
    _fill(world)
    assert privacy.erase_member(db.session, _giulia(world), route="cli")
    assert privacy.erase_member(db.session, _giulia(world), route="cli") == {}
    assert db.session.scalar(select(func.count()).select_from(privacy.ErasureLog)) == 1


def test_a_launch_after_erasure_makes_a_fresh_member(world: CourseWorld) -> None:
    _fill(world)
    old_id = world["giulia"].member_id
    privacy.erase_member(db.session, _giulia(world), route="cli")
    new_id = upsert_member(
        db.session, world.platform_id, "course-1-giulia", Profile(name="Giulia Rossi"), utcnow()
    )
    db.session.commit()
    assert new_id != old_id
    export = privacy.export_member(db.session, db.session.get(Member, new_id))  # type: ignore[arg-type]
    assert export["tables"] == {}  # nothing of the erased member follows her


def test_erasure_keeps_finished_weeks_of_the_dashboard(world: CourseWorld) -> None:
    """Her events are deleted, but the figures of finished weeks are stored first."""
    s = db.session
    past = utcnow() - timedelta(days=21)
    for key in ("giulia", "giulia", "marco"):
        record(
            s,
            course_id=world.course_id,
            member_id=world[key].member_id,
            kind=EventKind.ASK,
            subject_type="qa_question",
            subject_id=1,
            at=past,
        )
    s.commit()
    week = metrics.monday(past.date())
    privacy.erase_member(s, _giulia(world), route="cli")
    figures = metrics.weekly(s, world.course_id, week, week + timedelta(days=6))
    assert (figures[0].questions, figures[0].active) == (3, 2)


def test_requests_are_listed_to_the_staff_of_the_members_courses(world: CourseWorld) -> None:
    s = db.session
    giulia = _giulia(world)
    first = privacy.request_erasure(s, giulia, world.course_id)
    assert privacy.request_erasure(s, giulia, world.course_id).id == first.id  # once
    rows = privacy.course_requests(s, world.course_id)
    assert [(r.member_id, r.name) for r in rows] == [(giulia.id, "Giulia Rossi")]
    other_platform = qa_fixtures.make_platform("https://other.example.org")
    other = qa_fixtures.make_course(
        other_platform, "c-2", {"x": ("X", qa_fixtures.CourseRole.INSTRUCTOR)}
    )
    assert privacy.course_requests(s, other.course_id) == []
    assert privacy.find_course_request(s, other.course_id, first.id) is None
    privacy.erase_member(s, giulia, route="staff", actor_id=world["prof"].member_id)
    assert privacy.course_requests(s, world.course_id) == []
    done = s.get(privacy.PrivacyRequest, first.id)
    assert done is not None and (done.status, done.handled_by) == ("done", world["prof"].member_id)


def _event(world: CourseWorld, key: str, at: datetime) -> None:
    record(
        db.session,
        course_id=world.course_id,
        member_id=world[key].member_id,
        kind=EventKind.ANSWER,
        subject_type="qa_answer",
        subject_id=1,
        at=at,
    )


def test_retention_deletes_old_events_in_batches_and_keeps_weekly_figures(
    world: CourseWorld,
) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
    old = now - timedelta(days=120)
    for i in range(5):
        _event(world, "giulia" if i % 2 else "marco", old + timedelta(minutes=i))
    _event(world, "giulia", now - timedelta(days=3))
    db.session.commit()

    result = privacy.purge_events(db.session, 90, batch=2, now=now)
    assert result["deleted"] == 5
    assert result["before"] == metrics.monday((now - timedelta(days=90)).date()).isoformat()
    assert db.session.scalar(select(func.count()).select_from(ParticipationEvent)) == 1
    week = metrics.monday(old.date())
    stored = db.session.scalar(
        select(WeekFigures.count).where(
            WeekFigures.course_id == world.course_id,
            WeekFigures.week_start == week,
            WeekFigures.kind == "answer",
        )
    )
    assert stored == 5
    figures = metrics.weekly(db.session, world.course_id, week, week)
    assert (figures[0].answers, figures[0].active) == (5, 2)
    assert privacy.purge_events(db.session, 90, now=now)["deleted"] == 0  # nothing left


def test_retention_skips_graded_courses(world: CourseWorld) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    _event(world, "giulia", now - timedelta(days=200))
    db.session.add(
        Placement(
            course_id=world.course_id,
            lms_id="graded",
            services={
                "ags": {
                    "lineitem": "https://lms.example.org/li/1",
                    "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                }
            },
        )
    )
    db.session.commit()
    result = privacy.purge_events(db.session, 90, now=now)
    assert (result["deleted"], result["graded_courses_skipped"]) == (0, 1)


@pytest.mark.parametrize("days", ["7", "-1", "many"])
def test_retention_setting_refuses_nonsense(days: str, tmp_path: object) -> None:
    from lti_tool.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="EVENT_RETENTION_DAYS"):
        load_settings({"BOTTEGA_ENV": "test", "SECRET_KEY": "x", "EVENT_RETENTION_DAYS": days})


def test_retention_is_off_by_default() -> None:
    from lti_tool.config import load_settings

    settings = load_settings({"BOTTEGA_ENV": "test", "SECRET_KEY": "x"})
    assert settings.privacy.event_retention_days is None
    on = load_settings({"BOTTEGA_ENV": "test", "SECRET_KEY": "x", "EVENT_RETENTION_DAYS": "365"})
    assert on.privacy.event_retention_days == 365


def test_the_scheduled_job_applies_the_retention_only_when_set(
    database_url: str, tmp_path: Path, keys_dir: Path, app: Flask
) -> None:
    with app.app_context():
        course = qa_fixtures.make_course(
            qa_fixtures.make_platform("https://moodle.example.org"), "c-1", qa_fixtures.PEOPLE
        )
        _event(course, "giulia", utcnow() - timedelta(days=200))
        db.session.commit()
    off = runtime_of(app).drain("test-worker")
    assert privacy.PURGE_KIND not in [o.kind for o in off.outcomes]  # off by default

    on = create_app(
        base_config(tmp_path, keys_dir, DATABASE_URL=database_url, EVENT_RETENTION_DAYS="90")
    )
    try:
        summary = runtime_of(on).drain("test-worker")
        [outcome] = [o for o in summary.outcomes if o.kind == privacy.PURGE_KIND]
        assert outcome.status == "done", outcome.error
        with on.app_context():
            assert db.session.scalar(select(func.count()).select_from(ParticipationEvent)) == 0
    finally:
        with on.app_context():
            db.session.remove()
            db.engine.dispose()


def test_classmates_see_an_erased_author_as_former_member(app: Flask) -> None:
    with app.app_context():
        site = qa_fixtures.make_course(
            qa_fixtures.make_platform("https://moodle.example.org"), "c-1", qa_fixtures.PEOPLE
        )
        question = qa.ask(db.session, site["giulia"], qa.QuestionInput(title="Giotto?", body="?"))
        qa.answer(db.session, site["giulia"], question.id, "My own answer")
        member = db.session.get(Member, site["giulia"].member_id)
        assert member is not None
        privacy.erase_member(db.session, member, route="cli")
        question_id = question.id
    for locale, former in (("en", "Former member"), ("it", "Ex membro")):
        client = qa_fixtures.sign_in(app, site, "marco")
        with client.session_transaction() as session:
            launches = session["launches"]
            launches["L1"] = {**launches["L1"], "l": locale}
            session["launches"] = launches
        page = client.get(f"/w/L1/qa/{question_id}")
        assert page.status_code == 200
        assert former in page.get_data(as_text=True)
        assert "Giulia" not in page.get_data(as_text=True)
