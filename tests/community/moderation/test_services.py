"""Moderation use cases: flag states, the queue's order, hiding, warnings, audit, conduct."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from lti_tool.community.moderation import conduct, services
from lti_tool.community.moderation.models import Flag, ModerationAction
from lti_tool.community.moderation.services import QueueSort
from lti_tool.community.notifications.models import Notification
from lti_tool.community.qa import queries
from lti_tool.community.qa import services as qa
from lti_tool.extensions import db

from ..qa.conftest import CourseWorld


def _question(world: CourseWorld, author: str = "giulia", title: str = "Come si integra x?") -> int:
    return qa.ask(db.session(), world[author], qa.QuestionInput(title=title, body="Testo")).id


def _flags(world: CourseWorld, question_id: int, *reporters: str, reason: str = "spam") -> int:
    last = 0
    for who in reporters:
        last = qa.flag(db.session(), world[who], "question", question_id, reason, f"note {who}").id
    return last


def test_resolving_closes_every_open_flag_with_who_and_why(world: CourseWorld) -> None:
    question_id = _question(world)
    flag_id = _flags(world, question_id, "marco", "sara")
    prof = world["prof"]
    closed = services.resolve_flags(
        db.session(), world.course_id, prof.member_id, flag_id, "Rimosso il link pubblicitario"
    )
    assert closed == 2
    flags = db.session.scalars(select(Flag)).all()
    assert {f.status for f in flags} == {"resolved"}
    assert {f.resolved_by for f in flags} == {prof.member_id}
    assert {f.resolution_note for f in flags} == {"Rimosso il link pubblicitario"}
    assert all(f.resolved_at is not None for f in flags)
    entry = db.session.scalars(select(ModerationAction)).one()
    assert (entry.action, entry.actor_id, entry.flag_count) == ("resolve", prof.member_id, 2)
    assert (entry.subject_type, entry.subject_id) == ("qa_question", question_id)
    assert services.open_queue(db.session(), world.course_id) == []
    # Handled flags cannot be handled twice.
    with pytest.raises(services.Conflict):
        services.dismiss_flags(db.session(), world.course_id, prof.member_id, flag_id, "again")


def test_dismissing_needs_a_reason_and_records_it(world: CourseWorld) -> None:
    flag_id = _flags(world, _question(world), "marco")
    ta = world["ta"]
    with pytest.raises(services.InvalidInput):
        services.dismiss_flags(db.session(), world.course_id, ta.member_id, flag_id, "   ")
    assert db.session.get(Flag, flag_id).status == "open"
    services.dismiss_flags(db.session(), world.course_id, ta.member_id, flag_id, "Nessun problema")
    flag = db.session.get(Flag, flag_id)
    assert (flag.status, flag.resolved_by, flag.resolution_note) == (
        "dismissed",
        ta.member_id,
        "Nessun problema",
    )
    assert db.session.scalars(select(ModerationAction.action)).all() == ["dismiss"]


def test_queue_groups_flags_per_post_newest_or_most_flagged_first(world: CourseWorld) -> None:
    busy = _question(world, title="Domanda segnalata spesso")
    _flags(world, busy, "marco", "sara")
    qa.flag(db.session(), world["cm"], "question", busy, "offensive")
    quiet = _question(world, "marco", title="Domanda segnalata una volta")
    _flags(world, quiet, "giulia", reason="off_topic")

    newest = services.open_queue(db.session(), world.course_id, QueueSort.NEWEST)
    assert [g.subject_id for g in newest] == [quiet, busy]
    most = services.open_queue(db.session(), world.course_id, QueueSort.MOST)
    assert [g.subject_id for g in most] == [busy, quiet]
    top = most[0]
    assert top.count == 3
    assert top.reasons == {"spam": 2, "offensive": 1}
    assert sorted(top.notes) == ["note marco", "note sara"]
    assert top.subject is not None and top.subject.title == "Domanda segnalata spesso"
    assert services.open_count(db.session(), world.course_id) == 2


def test_hidden_posts_leave_students_lists_and_come_back_when_restored(
    world: CourseWorld,
) -> None:
    question_id = _question(world)
    answer = qa.answer(db.session(), world["marco"], question_id, "Risposta fuori luogo")
    prof = world["prof"]
    services.hide_post(
        db.session(), world.course_id, prof.member_id, "qa_question", question_id, "x"
    )
    services.hide_post(db.session(), world.course_id, prof.member_id, "qa_answer", answer.id, "y")
    with pytest.raises(services.Conflict):
        services.hide_post(
            db.session(), world.course_id, prof.member_id, "qa_answer", answer.id, "y"
        )

    def listed(who: str) -> list[int]:
        page = queries.list_questions(db.session(), world[who], queries.ListFilters())
        return [item.id for item in page.items]

    assert listed("sara") == [] and listed("prof") == [question_id]
    thread = queries.question_thread(db.session(), world["sara"], question_id)
    assert thread.hidden == {("qa_question", question_id), ("qa_answer", answer.id)}

    services.restore_post(
        db.session(), world.course_id, prof.member_id, "qa_question", question_id, "ok"
    )
    assert listed("sara") == [question_id]
    trail = services.audit_trail(db.session(), world.course_id)
    assert [e.action for e in trail] == ["restore", "hide", "hide"]
    assert trail[0].reason == "ok"


def test_warning_notifies_the_member_and_is_recorded(world: CourseWorld) -> None:
    prof, marco = world["prof"], world["marco"]
    entry = services.warn_member(
        db.session(),
        world.course_id,
        prof.member_id,
        marco.member_id,
        "Per favore resta in tema.",
        subject=("qa_question", 7),
    )
    note = db.session.scalars(select(Notification)).one()
    assert (note.member_id, note.kind, note.actor_id) == (
        marco.member_id,
        "moderation_warning",
        prof.member_id,
    )
    assert note.excerpt == "Per favore resta in tema."
    assert (entry.action, entry.target_member_id, entry.reason) == (
        "warn",
        marco.member_id,
        "Per favore resta in tema.",
    )
    with pytest.raises(services.InvalidInput):
        services.warn_member(
            db.session(), world.course_id, prof.member_id, marco.member_id, "x" * 301
        )


def test_lookups_from_another_course_are_not_found(world: CourseWorld) -> None:
    flag_id = _flags(world, _question(world), "marco")
    with pytest.raises(services.NotFound):
        services.post_case(db.session(), world.course_id + 1, flag_id)
    with pytest.raises(services.NotFound):
        services.resolve_flags(db.session(), world.course_id + 1, 1, flag_id, "why")
    assert db.session.get(Flag, flag_id).status == "open"


def test_flags_on_posts_of_other_capabilities_use_the_same_queue(world: CourseWorld) -> None:
    """Groups raise flags through the same API; moderation needs nothing else to queue them."""
    flag = services.flag_content(
        db.session(),
        course_id=world.course_id,
        reporter_id=world["giulia"].member_id,
        subject_type="group_post",
        subject_id=42,
        reason="personal_data",
    )
    group = services.open_queue(db.session(), world.course_id)[0]
    assert (group.subject_type, group.subject_id, group.subject) == ("group_post", 42, None)
    services.hide_post(
        db.session(), world.course_id, world["prof"].member_id, "group_post", 42, "z"
    )
    assert services.hidden_keys(db.session(), world.course_id, {"group_post": [42, 43]}) == {
        ("group_post", 42)
    }
    assert services.post_case(db.session(), world.course_id, flag.id).hidden is not None


def test_code_of_conduct_versions_and_acceptance(world: CourseWorld) -> None:
    course, giulia = world.course_id, world["giulia"].member_id
    assert conduct.pending_conduct_version(db.session(), course, giulia) == 1
    assert "Be respectful" in conduct.current_conduct(db.session(), course, "en").body
    assert "Sii rispettoso" in conduct.current_conduct(db.session(), course, "it").body
    conduct.accept_conduct(db.session(), course, giulia, 1)
    assert conduct.pending_conduct_version(db.session(), course, giulia) is None
    conduct.accept_conduct(db.session(), course, giulia, 1)  # a second click is harmless

    with pytest.raises(services.InvalidInput):
        conduct.edit_conduct(db.session(), course, world["prof"].member_id, "  ")
    assert conduct.current_conduct(db.session(), course).version == 1

    saved = conduct.edit_conduct(
        db.session(), course, world["prof"].member_id, "# Regole\n\n**Rispetto** sempre.", "v2"
    )
    assert saved.version == 2
    current = conduct.current_conduct(db.session(), course, "en")
    assert current.custom and "<strong>Rispetto</strong>" in current.html
    assert conduct.pending_conduct_version(db.session(), course, giulia) == 2
    with pytest.raises(services.Conflict):  # the page she saw is out of date
        conduct.accept_conduct(db.session(), course, giulia, 1)
    conduct.accept_conduct(db.session(), course, giulia, 2)
    assert conduct.pending_conduct_version(db.session(), course, giulia) is None
    assert [(v.version, n) for v, n in conduct.conduct_versions(db.session(), course)] == [(2, 1)]
    edit = services.audit_trail(db.session(), course)[0]
    assert (edit.action, edit.subject_id, edit.reason) == ("conduct_edit", 2, "v2")


def test_the_same_flag_sent_twice_at_once_is_refused_not_an_error(
    world: CourseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click: the other request stores the same flag between this one's check and its
    insert. The reporter is told it is already flagged (a 409 in the views), not a 500."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite has one writer at a time)")
    question_id = _question(world)
    session = db.session()
    check = session.scalar
    values = {
        "course_id": world.course_id,
        "reporter_id": world["marco"].member_id,
        "subject_type": "qa_question",
        "subject_id": question_id,
        "reason": "spam",
        "note": "",
    }

    def check_then_the_other_request(*args: object, **kwargs: object) -> object:
        found = check(*args, **kwargs)  # type: ignore[arg-type]
        with db.engine.begin() as other:
            other.execute(insert(Flag).values(**values))
        return found

    monkeypatch.setattr(session, "scalar", check_then_the_other_request)
    with pytest.raises(services.FlagError, match="already flagged"):
        services.flag_content(session, **values)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert db.session.scalar(select(func.count()).select_from(Flag)) == 1
