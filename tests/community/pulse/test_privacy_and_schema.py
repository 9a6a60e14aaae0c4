"""Pulse answers in a member's export and erasure, the privacy page's words, and migration 0027."""

from __future__ import annotations

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

from lti_tool.community.pulse import services
from lti_tool.community.pulse.models import PulseAnswer, PulseSurvey
from lti_tool.courses.models import Member
from lti_tool.extensions import db
from lti_tool.sync import privacy
from lti_tool.web.privacy import TABLE_LABELS

from .conftest import CourseWorld, pulse_actor


def _member(world: CourseWorld, key: str) -> Member:
    member = db.session.get(Member, world[key].member_id)
    assert member is not None
    return member


def _answered(world: CourseWorld) -> PulseSurvey:
    pulse = services.open_pulse(db.session(), pulse_actor(world, "prof"), question="Pace ok?")
    for key, score, comment in (("giulia", 2, "Too fast for me"), ("marco", 4, "Fine")):
        services.answer(
            db.session(), pulse_actor(world, key), pulse.id, score=score, comment=comment
        )
    return pulse


def test_pulse_tables_have_erasure_policies_and_words(world: CourseWorld) -> None:
    assert privacy.ERASURE_POLICY[("pulse_answer", "member_id")] == privacy.Policy.DELETE
    assert privacy.ERASURE_POLICY[("pulse_survey", "opened_by")] == privacy.Policy.KEEP
    assert {"pulse_answer", "pulse_survey"} <= set(TABLE_LABELS)


def test_a_students_export_holds_their_own_answers_only(world: CourseWorld) -> None:
    pulse = _answered(world)
    data = privacy.export_member(db.session, _member(world, "giulia"))
    answers = data["tables"]["pulse_answer"]
    assert [(a["pulse_id"], a["score"], a["comment"]) for a in answers] == [
        (pulse.id, 2, "Too fast for me")
    ]
    assert [c["lms_id"] for c in data["courses"]] == ["course-1"]
    assert "Fine" not in str(data)  # Marco's answer is his
    staff = privacy.export_member(db.session, _member(world, "prof"))
    assert [p["question"] for p in staff["tables"]["pulse_survey"]] == ["Pace ok?"]
    assert "pulse_answer" not in staff["tables"]


def test_erasure_deletes_the_students_answers_and_keeps_the_pulse(world: CourseWorld) -> None:
    pulse = _answered(world)
    counts = privacy.erase_member(db.session, _member(world, "giulia"), route="test")
    assert counts["pulse_answer.member_id"] == 1
    left = db.session.execute(select(PulseAnswer.member_id, PulseAnswer.comment)).all()
    assert [tuple(r) for r in left] == [(world["marco"].member_id, "Fine")]
    assert services.results(db.session(), world.course_id, pulse.id).answers == 1

    privacy.erase_member(db.session, _member(world, "prof"), route="test")
    kept = db.session.get(PulseSurvey, pulse.id)
    assert kept is not None and kept.opened_by == world["prof"].member_id  # now anonymous
    assert _member(world, "prof").name != "Anna Neri"


def test_0027_down_and_up(app: Flask) -> None:
    with app.app_context():
        downgrade(revision="0026_roster_resume")
        tables = set(inspect(db.engine).get_table_names())
        assert not {"pulse_survey", "pulse_answer"} & tables
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"pulse_survey", "pulse_answer"} <= tables
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("pulse_answer")}
        assert "ix_pulse_answer_member" in indexes
