"""Peer mentors and top helpers: rankings from known participation, and courses kept apart."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import record
from lti_tool.community.notifications.models import Notification
from lti_tool.community.qa import queries as qa_queries
from lti_tool.community.qa import services as qa
from lti_tool.community.qa.models import Answer
from lti_tool.community.qa.permissions import PermissionDenied as QAPermissionDenied
from lti_tool.community.qa.services import QuestionInput
from lti_tool.community.recognition import services
from lti_tool.community.recognition.evaluation import evaluate_member
from lti_tool.community.recognition.services import InvalidInput, NotFound, PermissionDenied
from lti_tool.courses.models import Enrolment
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db, utcnow

from .conftest import CourseWorld, kudos_actor, make_course, make_platform


def _event(
    world: CourseWorld,
    key: str,
    kind: EventKind,
    by: str | None = None,
    subject_type: str = "qa_answer",
    **extra: object,
) -> None:
    record(
        db.session(),
        course_id=world.course_id,
        member_id=world[key].member_id,
        kind=kind,
        subject_type=subject_type,
        subject_id=1,
        actor_id=world[by].member_id if by else None,
        at=extra.get("at"),  # type: ignore[arg-type]
    )


def _enrolment(world: CourseWorld, key: str) -> int:
    return int(
        db.session.scalar(
            select(Enrolment.id).where(
                Enrolment.course_id == world.course_id,
                Enrolment.member_id == world[key].member_id,
            )
        )
        or 0
    )


def test_mentor_ranking_with_known_answers(world: CourseWorld) -> None:
    # Marco: 2 accepted answers (giulia, sara), 1 endorsed, 1 kudos (giulia): 2 peers.
    _event(world, "marco", EventKind.ANSWER_ACCEPTED, "giulia")
    _event(world, "marco", EventKind.ANSWER_ACCEPTED, "sara")
    _event(world, "marco", EventKind.ENDORSEMENT_RECEIVED, "prof")
    _event(world, "marco", EventKind.KUDOS_RECEIVED, "giulia", "kudos_award")
    # Sara: 3 helpful votes on answers from one classmate, and votes on a question (not help).
    for _ in range(3):
        _event(world, "sara", EventKind.UPVOTE_RECEIVED, "giulia")
    _event(world, "sara", EventKind.UPVOTE_RECEIVED, "marco", "qa_question")
    # The TA's accepted answers do not make a student mentor.
    _event(world, "ta", EventKind.ANSWER_ACCEPTED, "giulia")
    db.session.commit()
    ranked = services.mentor_candidates(db.session(), world.course_id)
    assert [(c.name, c.accepted, c.endorsed, c.kudos, c.peers, c.score) for c in ranked] == [
        ("Marco Bianchi", 2, 1, 1, 2, 2 * 3 + 1 * 2 + 1 * 1 + 2 * 2),
        ("Sara Verdi", 0, 0, 0, 1, 1 * 2),
    ]


def test_granting_and_withdrawing_the_peer_mentor_role(world: CourseWorld) -> None:
    prof = kudos_actor(world, "prof")
    member = services.set_peer_mentor(db.session(), prof, _enrolment(world, "marco"), True)
    assert member.display_name == "Marco Bianchi"
    note = db.session.scalar(select(Notification).where(Notification.kind == "mentor"))
    assert note is not None and note.member_id == world["marco"].member_id
    # Listed even without points, so that staff can withdraw the role.
    assert [c.name for c in services.mentor_candidates(db.session(), world.course_id)] == [
        "Marco Bianchi"
    ]
    with pytest.raises(PermissionDenied):
        services.set_peer_mentor(
            db.session(), kudos_actor(world, "giulia"), _enrolment(world, "sara"), True
        )
    with pytest.raises(InvalidInput):
        services.set_peer_mentor(db.session(), prof, _enrolment(world, "ta"), True)
    services.set_peer_mentor(db.session(), prof, _enrolment(world, "marco"), False)
    assert services.mentor_candidates(db.session(), world.course_id) == []


def test_a_peer_mentor_endorses_answers_of_others_only(world: CourseWorld) -> None:
    question = qa.ask(db.session(), world["giulia"], QuestionInput(title="Che cos'è un limite?"))
    theirs = qa.answer(db.session(), world["sara"], question.id, "Un valore a cui ci si avvicina")
    own = qa.answer(db.session(), world["marco"], question.id, "Anche la mia risposta")
    marco = world["marco"]
    with pytest.raises(QAPermissionDenied):
        qa.toggle_endorse(db.session(), marco, "answer", theirs.id)
    db.session.rollback()
    mentor = replace(marco, peer_mentor=True)
    assert qa.toggle_endorse(db.session(), mentor, "answer", theirs.id) is True
    assert theirs.endorsed and theirs.endorsed_by_mentor  # the badge says a peer mentor's
    assert qa.toggle_endorse(db.session(), mentor, "answer", theirs.id) is False
    assert not theirs.endorsed and not theirs.endorsed_by_mentor
    # Staff endorsing the same answer: staff's endorsement, even when also a peer mentor.
    staff = replace(world["prof"], peer_mentor=True)
    assert qa.toggle_endorse(db.session(), staff, "answer", theirs.id) is True
    assert theirs.endorsed and not theirs.endorsed_by_mentor
    # A peer mentor cannot take staff's endorsement back, nor is offered to.
    with pytest.raises(QAPermissionDenied):
        qa.toggle_endorse(db.session(), mentor, "answer", theirs.id)
    db.session.rollback()
    assert db.session.get(Answer, theirs.id).endorsed
    shown = {
        a.answer.id: a
        for a in qa_queries.question_thread(db.session(), mentor, question.id).answers
    }
    assert not shown[theirs.id].can_endorse
    # Nor another peer mentor's endorsement: only the mentor who gave it withdraws it.
    assert qa.toggle_endorse(db.session(), staff, "answer", theirs.id) is False
    assert qa.toggle_endorse(db.session(), mentor, "answer", theirs.id) is True
    other_mentor = replace(world["giulia"], peer_mentor=True)
    with pytest.raises(QAPermissionDenied):
        qa.toggle_endorse(db.session(), other_mentor, "answer", theirs.id)
    db.session.rollback()
    shown = {
        a.answer.id: a
        for a in qa_queries.question_thread(db.session(), other_mentor, question.id).answers
    }
    assert not shown[theirs.id].can_endorse
    shown = {
        a.answer.id: a
        for a in qa_queries.question_thread(db.session(), mentor, question.id).answers
    }
    assert shown[theirs.id].can_endorse  # the mentor's own endorsement: theirs to withdraw
    assert qa.toggle_endorse(db.session(), mentor, "answer", theirs.id) is False
    for kind, post_id in (("answer", own.id), ("question", question.id)):
        with pytest.raises(QAPermissionDenied):
            qa.toggle_endorse(db.session(), mentor, kind, post_id)
        db.session.rollback()


def test_an_enrolment_of_another_course_is_not_found(world: CourseWorld) -> None:
    other = make_course(
        make_platform("https://other.example.org"),
        "course-2",
        {"outsider": ("Olga Esterna", CourseRole.LEARNER)},
    )
    with pytest.raises(NotFound):
        services.set_peer_mentor(
            db.session(), kudos_actor(world, "prof"), _enrolment(other, "outsider"), True
        )


def test_top_helpers_count_this_week_only_and_students_only(world: CourseWorld) -> None:
    _event(world, "marco", EventKind.ANSWER_ACCEPTED, "giulia")  # 3
    _event(world, "sara", EventKind.UPVOTE_RECEIVED, "giulia")  # 1
    _event(world, "sara", EventKind.KUDOS_RECEIVED, "giulia", "kudos_award")  # 1
    _event(world, "giulia", EventKind.ANSWER_ACCEPTED, "sara", at=utcnow() - timedelta(days=8))
    _event(world, "prof", EventKind.ENDORSEMENT_RECEIVED, "ta")
    db.session.commit()
    board = services.top_helpers(db.session(), world.course_id)
    assert [(h.name, h.points) for h in board] == [("Marco Bianchi", 3), ("Sara Verdi", 2)]
    assert services.my_week(db.session(), world.course_id, world["giulia"].member_id) == 0


def test_badges_and_celebrations_stay_in_their_course(world: CourseWorld) -> None:
    other = make_course(
        make_platform("https://other.example.org"),
        "course-2",
        {"outsider": ("Olga Esterna", CourseRole.LEARNER)},
    )
    qa.ask(db.session(), other["outsider"], QuestionInput(title="Una domanda altrove"))
    evaluate_member(db.session(), other.course_id, other["outsider"].member_id)
    db.session.commit()
    assert services.celebrations(db.session(), world.course_id) == []
    card = services.profile_card(db.session(), world.course_id, other["outsider"].member_id)
    assert not any(b.earned for b in card.badges)
    assert [c.name for c in services.celebrations(db.session(), other.course_id)] == [
        "Olga Esterna"
    ]


def test_the_upgrade_marks_earlier_peer_mentor_endorsements(world: CourseWorld) -> None:
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    question = qa.ask(db.session(), world["giulia"], QuestionInput(title="Che cos'è un limite?"))
    by_mentor = qa.answer(
        db.session(), world["sara"], question.id, "Un valore a cui ci si avvicina"
    )
    by_staff = qa.answer(db.session(), world["giulia"], question.id, "Anche la mia risposta")
    voted = qa.answer(db.session(), world["marco"], question.id, "La terza risposta")
    qa.toggle_vote(db.session(), world["sara"], "answer", voted.id)
    qa.toggle_endorse(
        db.session(), replace(world["marco"], peer_mentor=True), "answer", by_mentor.id
    )
    qa.toggle_endorse(db.session(), world["prof"], "answer", by_staff.id)
    db.session.get_one(Enrolment, _enrolment(world, "marco")).peer_mentor = True
    db.session.commit()
    ids = {"m": by_mentor.id, "s": by_staff.id, "v": voted.id}
    db.session.remove()

    downgrade(revision="0017_erasure_subject")  # as before: endorsements without the mark
    upgrade()

    flags = dict(
        db.session.execute(
            text("SELECT id, endorsed_by_mentor FROM qa_answer WHERE id IN (:m, :s, :v)"), ids
        ).all()
    )
    assert {k: bool(flags[v]) for k, v in ids.items()} == {"m": True, "s": False, "v": False}
    # Nothing else went: the vote on the third answer is still there.
    assert db.session.scalar(text("SELECT count(*) FROM qa_vote WHERE answer_id = :v"), ids) == 1
