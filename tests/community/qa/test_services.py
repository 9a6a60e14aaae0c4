"""Q&A rules at the service level: who may do what, and what each action leaves behind."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from lti_tool.community.engagement.models import ParticipationEvent
from lti_tool.community.moderation.models import Flag
from lti_tool.community.notifications.models import Notification
from lti_tool.community.notifications.services import mark_all_read
from lti_tool.community.qa import queries, services
from lti_tool.community.qa.models import Answer, Question, QuestionState, Revision, Vote
from lti_tool.community.qa.permissions import (
    Actor,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from lti_tool.courses.models import Enrolment, EnrolmentStatus, Member, Platform
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from .conftest import PEOPLE, CourseWorld, make_course, make_platform


def ask(actor: Actor, title: str = "How do I derive x squared?", **kw: Any) -> Question:
    return services.ask(db.session(), actor, services.QuestionInput(title=title, **kw))


def events(kind: str, member_id: int | None = None) -> int:
    stmt = (
        select(func.count()).select_from(ParticipationEvent).where(ParticipationEvent.kind == kind)
    )
    if member_id is not None:
        stmt = stmt.where(ParticipationEvent.member_id == member_id)
    return int(db.session.scalar(stmt) or 0)


def notes(member_id: int, kind: str | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.member_id == member_id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))


# --- asking ----------------------------------------------------------------------------------


def test_asking_records_an_event_and_follows_the_question(world: CourseWorld) -> None:
    q = ask(world["giulia"], body="Con $x^2$ **per favore**")
    assert q.state == QuestionState.UNANSWERED
    assert events("ask", world["giulia"].member_id) == 1
    thread = queries.question_thread(db.session(), world["giulia"], q.id)
    assert thread.following and thread.is_asker


def test_a_title_is_required_and_text_comes_back_in_the_error(world: CourseWorld) -> None:
    with pytest.raises(InvalidInput) as error:
        ask(world["giulia"], title="  ", body="x" * 10)
    assert "title" in error.value.errors
    with pytest.raises(InvalidInput) as error:
        ask(world["giulia"], body="x" * 20_001)
    assert "body" in error.value.errors


def test_tags_come_from_the_course_list_only(world: CourseWorld) -> None:
    session = db.session()
    tag = services.save_tag(session, world["prof"], "Derivate", "Modulo 2")
    other = make_course(make_platform("https://other.example.org"), "c-2", PEOPLE)
    foreign = services.save_tag(session, other["prof"], "Foreign")
    q = ask(world["giulia"], tag_ids=[tag.id])
    assert [t.name for t in q.tags] == ["Derivate"]
    with pytest.raises(InvalidInput) as error:
        ask(world["giulia"], tag_ids=[foreign.id])
    assert "tags" in error.value.errors


def test_only_staff_manage_tags(world: CourseWorld) -> None:
    with pytest.raises(PermissionDenied):
        services.save_tag(db.session(), world["giulia"], "Mine")
    services.save_tag(db.session(), world["ta"], "Esercizi")
    with pytest.raises(InvalidInput):
        services.save_tag(db.session(), world["prof"], "esercizi")  # same name, other case


# --- editing and deleting --------------------------------------------------------------------


def test_author_and_staff_edit_with_history_others_cannot(world: CourseWorld) -> None:
    q = ask(world["giulia"], body="first")
    session = db.session()
    with pytest.raises(PermissionDenied):
        services.edit_question(
            session, world["marco"], q.id, services.QuestionInput(title="Hijacked title")
        )
    services.edit_question(
        session, world["giulia"], q.id, services.QuestionInput(title=q.title, body="second")
    )
    services.edit_question(
        session, world["ta"], q.id, services.QuestionInput(title="Better title", body="third")
    )
    services.edit_question(
        session, world["cm"], q.id, services.QuestionInput(title="Better title", body="fourth")
    )
    revisions = queries.history(session, world["giulia"], "question", q.id)
    assert [r.revision.previous_body for r in revisions] == ["third", "second", "first"]
    assert revisions[1].editor.name == "Luca Gallo"
    assert db.session.scalar(select(func.count()).select_from(Revision)) == 3


def test_answers_are_edited_by_author_or_staff_only(world: CourseWorld) -> None:
    q = ask(world["giulia"])
    a = services.answer(db.session(), world["marco"], q.id, "Use the power rule.")
    with pytest.raises(PermissionDenied):
        services.edit_answer(db.session(), world["giulia"], a.id, "Mine now")
    services.edit_answer(db.session(), world["marco"], a.id, "Use the power rule: 2x.")
    services.edit_answer(db.session(), world["prof"], a.id, "Power rule: $2x$.")
    assert [
        r.editor.name for r in queries.history(db.session(), world["sara"], "answer", a.id)
    ] == [
        "Anna Neri",
        "Marco Bianchi",
    ]


def test_delete_is_soft_and_for_author_or_staff(world: CourseWorld) -> None:
    q = ask(world["giulia"])
    with pytest.raises(PermissionDenied):
        services.delete_question(db.session(), world["marco"], q.id)
    services.delete_question(db.session(), world["giulia"], q.id)
    row = db.session.get(Question, q.id)
    assert row is not None and row.deleted_at is not None
    assert row.deleted_by == world["giulia"].member_id
    with pytest.raises(NotFound):
        queries.question_thread(db.session(), world["marco"], q.id)
    # Moderators still see it.
    assert queries.question_thread(db.session(), world["prof"], q.id).question.is_deleted
    listed = queries.list_questions(db.session(), world["prof"], queries.ListFilters())
    assert listed.items == []


def test_deleting_the_only_answer_makes_the_question_unanswered(world: CourseWorld) -> None:
    q = ask(world["giulia"])
    a = services.answer(db.session(), world["marco"], q.id, "Answer")
    services.accept(db.session(), world["giulia"], a.id)
    with pytest.raises(PermissionDenied):
        services.delete_answer(db.session(), world["sara"], a.id)
    services.delete_answer(db.session(), world["ta"], a.id)
    q = db.session.get(Question, q.id)
    assert q.state == QuestionState.UNANSWERED and q.answer_count == 0
    assert q.accepted_answer_id is None
    assert events("answer_accepted") == 0


def test_comments_are_deleted_by_author_or_moderators(world: CourseWorld) -> None:
    q = ask(world["giulia"])
    c = services.comment(db.session(), world["marco"], q.id, "Which x?")
    with pytest.raises(PermissionDenied):
        services.delete_comment(db.session(), world["giulia"], c.id)
    services.delete_comment(db.session(), world["cm"], c.id)
    assert queries.question_thread(db.session(), world["sara"], q.id).comments == []


# --- answering, time to first answer ---------------------------------------------------------


def test_comments_are_edited_with_history_by_author_or_moderators(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"])
    note = services.comment(session, world["marco"], q.id, "first")
    with pytest.raises(PermissionDenied):
        services.edit_comment(session, world["sara"], note.id, "Mine now")
    services.edit_comment(session, world["marco"], note.id, "second **bold**")
    services.edit_comment(session, world["ta"], note.id, "third")
    services.edit_comment(session, world["cm"], note.id, "third")  # unchanged: no revision
    assert "<strong>bold</strong>" not in note.body_html and note.edited_at is not None
    revisions = queries.history(session, world["sara"], "comment", note.id)
    assert [r.revision.previous_body for r in revisions] == ["second **bold**", "first"]
    assert [r.editor.name for r in revisions] == ["Luca Gallo", "Marco Bianchi"]
    with pytest.raises(InvalidInput) as error:
        services.edit_comment(session, world["marco"], note.id, "x" * 3_001)
    assert "body" in error.value.errors
    session.rollback()
    services.delete_comment(session, world["marco"], note.id)
    with pytest.raises(NotFound):
        services.edit_comment(session, world["marco"], note.id, "back from the dead")


def test_comment_edits_stay_in_their_course(world: CourseWorld) -> None:
    session = db.session()
    other = make_course(make_platform("https://other.example.org"), "c-2", PEOPLE)
    q = ask(other["giulia"])
    note = services.comment(session, other["marco"], q.id, "elsewhere")
    with pytest.raises(NotFound):
        services.edit_comment(session, world["prof"], note.id, "reach across")
    with pytest.raises(NotFound):
        queries.history(session, world["prof"], "comment", note.id)


def test_answers_set_state_and_first_answer_times(world: CourseWorld) -> None:
    q = ask(world["giulia"])
    services.answer(db.session(), world["marco"], q.id, "Student answer")
    q = db.session.get(Question, q.id)
    assert q.state == QuestionState.ANSWERED and q.answer_count == 1
    assert q.first_answer_at is not None and q.first_staff_answer_at is None
    staff = services.answer(db.session(), world["ta"], q.id, "Staff answer")
    assert staff.is_staff_answer
    q = db.session.get(Question, q.id)
    assert q.first_staff_answer_at is not None and q.first_staff_answer_at >= q.first_answer_at
    assert q.answer_count == 2
    assert events("answer") == 2


def test_comments_thread_on_questions_answers_and_other_comments(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"])
    a = services.answer(session, world["marco"], q.id, "An answer")
    on_q = services.comment(session, world["sara"], q.id, "On the question")
    on_a = services.comment(session, world["sara"], q.id, "On the answer", answer_id=a.id)
    reply = services.comment(session, world["marco"], q.id, "A reply", parent_id=on_a.id)
    assert reply.answer_id == a.id
    thread = queries.question_thread(session, world["giulia"], q.id)
    assert [n.comment.id for n in thread.comments] == [on_q.id]
    assert [n.comment.id for n in thread.answers[0].comments] == [on_a.id]
    assert [n.comment.id for n in thread.answers[0].comments[0].replies] == [reply.id]
    assert events("comment") == 3
    other = ask(world["marco"], title="Another question here")
    with pytest.raises(NotFound):
        services.comment(session, world["sara"], other.id, "Wrong thread", parent_id=on_q.id)


# --- votes -----------------------------------------------------------------------------------


def test_one_helpful_vote_per_member_and_it_toggles(world: CourseWorld) -> None:
    q = ask(world["giulia"])
    a = services.answer(db.session(), world["marco"], q.id, "An answer")
    assert services.toggle_vote(db.session(), world["sara"], "answer", a.id) is True
    assert services.toggle_vote(db.session(), world["giulia"], "answer", a.id) is True
    assert db.session.get(Answer, a.id).helpful_count == 2
    assert events("upvote_received", world["marco"].member_id) == 2
    assert services.toggle_vote(db.session(), world["sara"], "answer", a.id) is False
    assert db.session.get(Answer, a.id).helpful_count == 1
    assert events("upvote", world["sara"].member_id) == 0
    assert events("upvote_received", world["marco"].member_id) == 1
    assert db.session.scalar(select(func.count()).select_from(Vote)) == 1


def test_the_database_refuses_a_second_vote(world: CourseWorld) -> None:
    from sqlalchemy.exc import IntegrityError

    q = ask(world["giulia"])
    services.toggle_vote(db.session(), world["marco"], "question", q.id)
    db.session.add(
        Vote(course_id=world.course_id, member_id=world["marco"].member_id, question_id=q.id)
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_nobody_votes_for_their_own_post(world: CourseWorld) -> None:
    q = ask(world["giulia"])
    with pytest.raises(PermissionDenied):
        services.toggle_vote(db.session(), world["giulia"], "question", q.id)
    assert services.toggle_vote(db.session(), world["marco"], "question", q.id)
    assert db.session.get(Question, q.id).helpful_count == 1


# --- accept and endorse ----------------------------------------------------------------------


def test_only_the_asker_accepts_and_only_an_answer_to_their_question(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"])
    a = services.answer(session, world["marco"], q.id, "An answer")
    for someone in ("marco", "sara", "prof", "cm"):
        with pytest.raises(PermissionDenied):
            services.accept(session, world[someone], a.id)
    other = ask(world["sara"], title="Sara's own question")
    other_answer = services.answer(session, world["marco"], other.id, "Elsewhere")
    with pytest.raises(PermissionDenied):
        services.accept(session, world["giulia"], other_answer.id)
    assert services.accept(session, world["giulia"], a.id) is True
    q = db.session.get(Question, q.id)
    assert q.state == QuestionState.RESOLVED and q.accepted_answer_id == a.id
    assert events("accept", world["giulia"].member_id) == 1
    assert events("answer_accepted", world["marco"].member_id) == 1
    # Accepting another answer moves the acceptance; accepting again takes it back.
    b = services.answer(session, world["sara"], q.id, "Another answer")
    services.accept(session, world["giulia"], b.id)
    assert events("answer_accepted", world["marco"].member_id) == 0
    assert events("answer_accepted", world["sara"].member_id) == 1
    assert services.accept(session, world["giulia"], b.id) is False
    q = db.session.get(Question, q.id)
    assert q.state == QuestionState.ANSWERED and q.accepted_answer_id is None


def test_answers_sort_accepted_endorsed_helpful_then_oldest(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"])
    oldest = services.answer(session, world["marco"], q.id, "oldest")
    helpful = services.answer(session, world["sara"], q.id, "helpful")
    endorsed = services.answer(session, world["cm"], q.id, "endorsed")
    accepted = services.answer(session, world["ta"], q.id, "accepted")
    services.toggle_vote(session, world["marco"], "answer", helpful.id)
    services.toggle_endorse(session, world["prof"], "answer", endorsed.id)
    services.accept(session, world["giulia"], accepted.id)
    thread = queries.question_thread(session, world["giulia"], q.id)
    assert [v.answer.id for v in thread.answers] == [
        accepted.id,
        endorsed.id,
        helpful.id,
        oldest.id,
    ]


def test_staff_and_community_managers_endorse_students_cannot(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"])
    a = services.answer(session, world["marco"], q.id, "An answer")
    with pytest.raises(PermissionDenied):
        services.toggle_endorse(session, world["sara"], "answer", a.id)
    assert services.toggle_endorse(session, world["ta"], "answer", a.id) is True
    assert services.toggle_endorse(session, world["cm"], "question", q.id) is True
    assert events("endorse") == 2
    assert events("endorsement_received", world["marco"].member_id) == 1
    assert events("endorsement_received", world["giulia"].member_id) == 1
    assert services.toggle_endorse(session, world["prof"], "answer", a.id) is False
    assert events("endorsement_received", world["marco"].member_id) == 0


# --- anonymity -------------------------------------------------------------------------------


def test_anonymous_author_is_hidden_from_students_and_shown_to_staff(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"], anonymous=True)
    a = services.answer(session, world["marco"], q.id, "Thanks @giulia.rossi")
    services.accept(session, world["giulia"], a.id)

    def author_for(who: str) -> queries.Author:
        return queries.question_thread(session, world[who], q.id).author

    assert author_for("marco").hidden and author_for("marco").name == ""
    assert author_for("cm").hidden  # community managers are students: no
    assert author_for("giulia").name == "Giulia Rossi" and author_for("giulia").revealed
    assert author_for("prof").name == "Giulia Rossi" and author_for("ta").revealed
    listed = queries.list_questions(session, world["marco"], queries.ListFilters())
    assert listed.items[0].author.hidden
    found = queries.list_questions(
        session, world["sara"], queries.ListFilters(query="derive squared")
    )
    assert [i.id for i in found.items] == [q.id] and found.items[0].author.hidden
    # Notifications caused by the anonymous asker carry no actor.
    accepted = notes(world["marco"].member_id, "accepted")
    assert accepted and accepted[0].actor_id is None
    views = queries.notifications(session, world["marco"])
    assert all(v.actor_name != "Giulia Rossi" for v in views)


def test_staff_do_not_see_anonymous_authors_when_the_course_says_so(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"], anonymous=True)
    services.update_settings(
        session, world["prof"], allow_anonymous=True, staff_see_anonymous=False
    )
    assert queries.question_thread(session, world["prof"], q.id).author.hidden
    assert not queries.question_thread(session, world["giulia"], q.id).author.hidden


def test_anonymous_posting_can_be_switched_off(world: CourseWorld) -> None:
    session = db.session()
    with pytest.raises(PermissionDenied):
        services.update_settings(
            session, world["giulia"], allow_anonymous=False, staff_see_anonymous=True
        )
    services.update_settings(
        session, world["prof"], allow_anonymous=False, staff_see_anonymous=True
    )
    with pytest.raises(InvalidInput) as error:
        ask(world["giulia"], anonymous=True)
    assert "anonymous" in error.value.errors
    with pytest.raises(InvalidInput):
        ask(world["prof"], anonymous=True)  # staff never post anonymously


def test_editing_an_anonymous_post_keeps_the_editor_anonymous(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"], anonymous=True, body="v1")
    services.edit_question(
        session, world["giulia"], q.id, services.QuestionInput(title=q.title, body="v2")
    )
    assert queries.history(session, world["marco"], "question", q.id)[0].editor.hidden
    assert queries.history(session, world["prof"], "question", q.id)[0].editor.name == (
        "Giulia Rossi"
    )


# --- notifications ---------------------------------------------------------------------------


def test_followers_hear_of_answers_and_acceptance(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"])
    services.set_following(session, world["sara"], q.id, True)
    a = services.answer(session, world["marco"], q.id, "An answer")
    assert len(notes(world["giulia"].member_id, "answer")) == 1
    assert len(notes(world["sara"].member_id, "answer")) == 1
    assert notes(world["marco"].member_id) == []  # never notified of one's own action
    services.accept(session, world["giulia"], a.id)
    assert len(notes(world["marco"].member_id, "accepted")) == 1
    assert len(notes(world["sara"].member_id, "accepted")) == 1
    services.set_following(session, world["sara"], q.id, False)
    services.answer(session, world["ta"], q.id, "Another")
    assert len(notes(world["sara"].member_id, "answer")) == 1


def test_accepting_again_does_not_notify_twice_until_read(world: CourseWorld) -> None:
    """Accept, take back, accept: the answerer hears it once while unread, again once read."""
    session = db.session()
    q = ask(world["giulia"])
    post = services.answer(session, world["marco"], q.id, "Use the power rule.")
    for _ in range(3):
        services.accept(session, world["giulia"], post.id)
    assert len(notes(world["marco"].member_id, "accepted")) == 1
    mark_all_read(session, world["marco"].member_id, world.course_id)
    services.accept(session, world["giulia"], post.id)  # takes it back
    services.accept(session, world["giulia"], post.id)
    assert len(notes(world["marco"].member_id, "accepted")) == 2


def test_mentions_notify_course_members_by_handle(world: CourseWorld) -> None:
    session = db.session()
    other = make_course(make_platform("https://other.example.org"), "c-2", PEOPLE)
    q = ask(world["giulia"], body="@marco.bianchi and @anna.neri, any idea? `@sara.verdi`")
    assert len(notes(world["marco"].member_id, "mention")) == 1
    assert len(notes(world["prof"].member_id, "mention")) == 1
    assert notes(world["sara"].member_id) == []  # inside code: not a mention
    assert notes(other["marco"].member_id) == []  # same name, other course
    services.comment(session, world["sara"], q.id, "cc @giulia.rossi")
    assert len(notes(world["giulia"].member_id, "mention")) == 1


def test_an_at_in_code_math_or_a_link_address_notifies_nobody(world: CourseWorld) -> None:
    body = (
        "Try this:\n\n~~~python\n@marco.bianchi\ndef f(): ...\n~~~\n\n"
        "    @sara.verdi.decorator\n\n"
        "and ``a ` @anna.neri`` with $@luca.gallo$ on [my page](https://example.org/@elena.costa)"
    )
    ask(world["giulia"], body=body)
    for key in ("marco", "sara", "prof", "ta", "cm"):
        assert notes(world[key].member_id) == [], key


@pytest.mark.parametrize("kind", ["question", "answer", "comment"])
def test_an_edit_notifies_only_newly_mentioned_members_once(world: CourseWorld, kind: str) -> None:
    session = db.session()
    q = ask(world["giulia"], body="Thanks @marco.bianchi" if kind == "question" else "")
    post_id = q.id
    if kind == "answer":
        post_id = services.answer(session, world["giulia"], q.id, "Thanks @marco.bianchi").id
    elif kind == "comment":
        post_id = services.comment(session, world["giulia"], q.id, "Thanks @marco.bianchi").id

    def edit(actor: Actor, body: str) -> None:
        if kind == "question":
            services.edit_question(
                session, actor, post_id, services.QuestionInput(title=q.title, body=body)
            )
        elif kind == "answer":
            services.edit_answer(session, actor, post_id, body)
        else:
            services.edit_comment(session, actor, post_id, body)

    assert len(notes(world["marco"].member_id, "mention")) == 1
    edit(world["giulia"], "Thanks @marco.bianchi and @sara.verdi")
    assert len(notes(world["marco"].member_id, "mention")) == 1  # already mentioned
    sara = notes(world["sara"].member_id, "mention")
    assert len(sara) == 1 and sara[0].actor_id == world["giulia"].member_id
    edit(world["giulia"], "Thanks @sara.verdi, fixed a typo")
    edit(world["giulia"], "Thanks @marco.bianchi and @sara.verdi again")  # back: not new
    edit(world["prof"], "Thanks @marco.bianchi, @sara.verdi and @luca.gallo")
    assert len(notes(world["marco"].member_id, "mention")) == 1
    assert len(notes(world["sara"].member_id, "mention")) == 1
    luca = notes(world["ta"].member_id, "mention")
    assert len(luca) == 1 and luca[0].subject_id == q.id
    assert luca[0].actor_id == world["prof"].member_id


def test_an_anonymous_author_editing_in_a_mention_stays_anonymous(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"], anonymous=True, body="v1")
    services.edit_question(
        session, world["giulia"], q.id, services.QuestionInput(title=q.title, body="@sara.verdi?")
    )
    (mention,) = notes(world["sara"].member_id, "mention")
    assert mention.actor_id is None


def test_handles_are_unique_in_a_course() -> None:
    from lti_tool.community.qa.handles import assign_handles

    handles = assign_handles([(3, "Giulia Rossi"), (7, "Giulia  Rossi"), (9, "Niccolò Dell'Anna")])
    assert handles == {"giulia.rossi": 3, "giulia.rossi2": 7, "niccolo.dell.anna": 9}
    assert assign_handles([(5, "?")]) == {"member.5": 5}


def test_a_handle_stays_with_its_member_when_a_namesake_leaves(world: CourseWorld) -> None:
    """Two Giulia Rossi: the first leaves the course. ``@giulia.rossi2`` still reaches the
    second, and ``@giulia.rossi`` reaches nobody rather than passing to her."""
    session = db.session()
    first = world["giulia"].member_id
    twin = Member(platform_id=world.platform_id, lms_id="course-1-twin", name="Giulia Rossi")
    session.add(twin)
    session.flush()
    session.add(Enrolment(course_id=world.course_id, member_id=twin.id, roles=[]))
    session.commit()
    enrolment = session.scalar(
        select(Enrolment).where(
            Enrolment.course_id == world.course_id, Enrolment.member_id == first
        )
    )
    enrolment.status = EnrolmentStatus.INACTIVE
    session.commit()
    ask(world["marco"], body="Ciao @giulia.rossi")
    assert notes(twin.id) == [] and notes(first) == []
    ask(world["marco"], title="Another one", body="Ciao @giulia.rossi2")
    assert len(notes(twin.id, "mention")) == 1 and notes(first) == []


def test_a_nameless_members_handle_is_the_same_in_every_language(
    app: Flask, world: CourseWorld
) -> None:
    session = db.session()
    member = session.get(Member, world["sara"].member_id)
    member.name = None
    session.commit()
    with app.test_request_context(headers={"Accept-Language": "it"}):
        ask(world["marco"], body=f"Ciao @member.{member.id}")
    assert len(notes(member.id, "mention")) == 1


# --- isolation -------------------------------------------------------------------------------


def _assert_out_of_reach(intruder: Actor, q: Question, a: Answer, c_id: int) -> None:
    session = db.session()
    calls = [
        lambda: queries.question_thread(session, intruder, q.id),
        lambda: services.answer(session, intruder, q.id, "x"),
        lambda: services.comment(session, intruder, q.id, "x"),
        lambda: services.edit_question(
            session, intruder, q.id, services.QuestionInput(title="Taken over")
        ),
        lambda: services.delete_question(session, intruder, q.id),
        lambda: services.edit_answer(session, intruder, a.id, "mine"),
        lambda: services.delete_answer(session, intruder, a.id),
        lambda: services.delete_comment(session, intruder, c_id),
        lambda: services.toggle_vote(session, intruder, "answer", a.id),
        lambda: services.toggle_endorse(session, intruder, "question", q.id),
        lambda: services.accept(session, intruder, a.id),
        lambda: services.set_following(session, intruder, q.id, True),
        lambda: services.flag(session, intruder, "comment", c_id, "spam"),
        lambda: queries.history(session, intruder, "answer", a.id),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert queries.list_questions(session, intruder, queries.ListFilters()).items == []
    found = queries.list_questions(session, intruder, queries.ListFilters(query="derive"))
    assert found.items == []


def test_ids_from_another_course_or_tenant_are_not_found(world: CourseWorld) -> None:
    session = db.session()
    platform = session.get(Platform, world.platform_id)
    same_tenant = make_course(platform, "course-2", PEOPLE)
    other_tenant = make_course(make_platform("https://canvas.example.org"), "course-1", PEOPLE)
    for other in (same_tenant, other_tenant):
        q = ask(other["giulia"])
        a = services.answer(session, other["marco"], q.id, "answer")
        c = services.comment(session, other["marco"], q.id, "comment")
        _assert_out_of_reach(world["prof"], q, a, c.id)


# --- flags -----------------------------------------------------------------------------------


def test_any_post_can_be_flagged_once_with_a_reason(world: CourseWorld) -> None:
    session = db.session()
    q = ask(world["giulia"])
    services.flag(session, world["marco"], "question", q.id, "off_topic", "not about the course")
    with pytest.raises(Conflict):
        services.flag(session, world["marco"], "question", q.id, "spam")
    with pytest.raises(InvalidInput):
        services.flag(session, world["sara"], "question", q.id, "because")
    flag = db.session.scalar(select(Flag))
    assert (flag.subject_type, flag.subject_id, flag.reason) == ("qa_question", q.id, "off_topic")


# --- lists -----------------------------------------------------------------------------------


def test_lists_filter_and_sort(world: CourseWorld) -> None:
    session = db.session()
    tag = services.save_tag(session, world["prof"], "Limiti")
    first = ask(world["giulia"], title="First question asked", tag_ids=[tag.id])
    second = ask(world["marco"], title="Second question asked")
    third = ask(world["sara"], title="Third question asked")
    services.answer(session, world["ta"], first.id, "answered")
    services.toggle_vote(session, world["giulia"], "question", second.id)
    services.set_following(session, world["giulia"], third.id, True)

    def ids(actor: Actor, **kw: Any) -> list[int]:
        page = queries.list_questions(session, actor, queries.ListFilters(**kw))
        return [i.id for i in page.items]

    giulia = world["giulia"]
    assert ids(giulia) == [third.id, second.id, first.id]
    assert ids(giulia, state=QuestionState.ANSWERED) == [first.id]
    assert ids(giulia, tag_id=tag.id) == [first.id]
    assert ids(giulia, mine=True) == [first.id]
    assert ids(giulia, following=True) == [third.id, first.id]
    assert ids(giulia, sort=queries.Sort.HELPFUL)[0] == second.id
    assert ids(giulia, sort=queries.Sort.UNANSWERED)[-1] == first.id
    queue = queries.unanswered_queue(session, world["prof"])
    assert [i.summary.id for i in queue] == [second.id, third.id]
    assert all(i.age.total_seconds() >= 0 for i in queue)


def test_list_pages(world: CourseWorld) -> None:
    for n in range(5):
        ask(world["giulia"], title=f"Question number {n}")
    page = queries.list_questions(db.session(), world["marco"], queries.ListFilters(), 1, 2)
    assert len(page.items) == 2 and page.has_next
    last = queries.list_questions(db.session(), world["marco"], queries.ListFilters(), 3, 2)
    assert len(last.items) == 1 and not last.has_next


def test_the_list_is_planned_once_per_connection_on_postgresql(world: CourseWorld) -> None:
    """Page size and offset are in the SQL text, so PostgreSQL reuses one plan for the list
    (with them as parameters it planned every page again: 0 generic plans in 35 runs)."""
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("prepared statements and generic plans: PostgreSQL only")
    for n in range(3):
        ask(world["giulia"], title=f"Question number {n}")
    # psycopg prepares a statement on its 5th run on a connection; PostgreSQL then plans its
    # first 5 runs for their values, and afterwards only if a generic plan looks costlier.
    for _ in range(20):
        page = queries.list_questions(session, world["marco"], queries.ListFilters(), 1, 2)
        assert len(page.items) == 2 and page.has_next
    plans = session.execute(
        text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%FROM qa_question JOIN member%LIMIT 3 OFFSET 0%'"
        )
    ).all()
    assert plans and plans[0].custom_plans == 5 and plans[0].generic_plans >= 5


def test_guest_actor_role_defaults() -> None:
    guest = Actor(member_id=1, course_id=1, role=CourseRole.GUEST)
    assert not guest.can_moderate and guest.can_change(1) and not guest.can_change(2)
