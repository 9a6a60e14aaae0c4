"""Giving kudos: the rules a member meets (self, limits, course isolation) and the wall."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import ParticipationEvent
from lti_tool.community.kudos import services
from lti_tool.community.kudos.models import Kudos
from lti_tool.community.kudos.services import (
    InvalidInput,
    KudosInput,
    LimitReached,
    NotFound,
    PermissionDenied,
)
from lti_tool.community.moderation import services as moderation
from lti_tool.community.notifications.models import Notification
from lti_tool.community.qa import services as qa
from lti_tool.community.qa.services import QuestionInput
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db, utcnow

from .conftest import CourseWorld, kudos_actor, make_course, make_platform


def _category(world: CourseWorld, code: str = "helpful_answer") -> int:
    cats = services.categories(db.session(), world.course_id)
    return next(c.id for c in cats if c.code == code)


def _give(world: CourseWorld, giver: str, receiver: str, message: str = "Grazie!", **extra: int):  # type: ignore[no-untyped-def]
    return services.give(
        db.session(),
        kudos_actor(world, giver),
        KudosInput(
            receiver_id=world[receiver].member_id,
            category_id=extra.pop("category_id", None) or _category(world),
            message=message,
            **extra,
        ),
    )


def test_a_course_starts_with_the_five_default_categories(world: CourseWorld) -> None:
    cats = services.categories(db.session(), world.course_id)
    labels = [services.category_label(c.code, c.name) for c in cats]
    assert labels == ["Helpful answer", "Great question", "Team player", "Leadership", "Creativity"]
    # Asked again (another first visitor): still five.
    assert len(services.categories(db.session(), world.course_id)) == 5


def test_giving_kudos_records_both_sides_and_notifies_the_receiver(world: CourseWorld) -> None:
    kudos = _give(world, "giulia", "marco", "Your answer on limits saved my evening")
    events = db.session.execute(
        select(ParticipationEvent.kind, ParticipationEvent.member_id).where(
            ParticipationEvent.subject_id == kudos.id,
            ParticipationEvent.subject_type == "kudos_award",
        )
    ).all()
    assert sorted(events) == sorted(
        [("kudos_given", world["giulia"].member_id), ("kudos_received", world["marco"].member_id)]
    )
    note = db.session.scalar(select(Notification).where(Notification.kind == "kudos"))
    assert note is not None and note.member_id == world["marco"].member_id
    assert note.excerpt == "Your answer on limits saved my evening"
    assert note.actor_id == world["giulia"].member_id


def test_nobody_gives_kudos_to_themselves(world: CourseWorld) -> None:
    with pytest.raises(InvalidInput) as refused:
        _give(world, "giulia", "giulia")
    assert str(refused.value.errors["receiver"]) == "You cannot give kudos to yourself."
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Kudos)) == 0


def test_a_message_and_category_are_needed(world: CourseWorld) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.give(
            db.session(),
            kudos_actor(world, "giulia"),
            KudosInput(receiver_id=world["marco"].member_id, message="   "),
        )
    assert set(refused.value.errors) == {"category", "message"}


def test_the_daily_limit_is_per_course_setting_and_resets_the_next_day(world: CourseWorld) -> None:
    services.update_settings(db.session(), kudos_actor(world, "prof"), daily_limit=2)
    _give(world, "giulia", "marco")
    _give(world, "giulia", "sara")
    with pytest.raises(LimitReached) as refused:
        _give(world, "giulia", "marco", "one more")
    assert "You have given your 2 kudos for today" in str(refused.value.message)
    db.session.rollback()
    # Another member still has their own budget.
    _give(world, "marco", "giulia")
    # Yesterday's kudos do not count today.
    db.session.execute(
        update(Kudos)
        .where(Kudos.giver_id == world["giulia"].member_id)
        .values(created_at=utcnow() - timedelta(days=1))
    )
    db.session.commit()
    assert _give(world, "giulia", "marco", "new day").id


def test_the_default_limit_is_five(world: CourseWorld) -> None:
    for n in range(5):
        _give(world, "giulia", "marco", f"thanks {n}")
    with pytest.raises(LimitReached):
        _give(world, "giulia", "marco", "sixth")


def test_only_staff_change_the_limit_and_it_stays_sensible(world: CourseWorld) -> None:
    with pytest.raises(PermissionDenied):
        services.update_settings(db.session(), kudos_actor(world, "giulia"), daily_limit=50)
    with pytest.raises(InvalidInput):
        services.update_settings(db.session(), kudos_actor(world, "prof"), daily_limit=0)
    with pytest.raises(InvalidInput):
        services.update_settings(db.session(), kudos_actor(world, "prof"), daily_limit="many")


def test_staff_rename_add_and_retire_categories(world: CourseWorld) -> None:
    prof = kudos_actor(world, "prof")
    helpful = _category(world)
    services.save_category(db.session(), prof, "Brilliant explanation", category_id=helpful)
    added = services.save_category(db.session(), prof, "Kindness")
    with pytest.raises(InvalidInput):
        services.save_category(db.session(), prof, "kindness")  # same name, any case
    services.set_category_retired(db.session(), prof, added.id, True)
    offered = [
        services.category_label(c.code, c.name)
        for c in services.categories(db.session(), world.course_id)
    ]
    assert "Brilliant explanation" in offered and "Helpful answer" not in offered
    assert "Kindness" not in offered
    with pytest.raises(InvalidInput):
        _give(world, "giulia", "marco", category_id=added.id)


def test_ids_from_another_course_are_not_found(world: CourseWorld) -> None:
    other = make_course(
        make_platform("https://other.example.org"),
        "course-2",
        {"outsider": ("Olga Esterna", CourseRole.LEARNER)},
    )
    foreign_category = services.categories(db.session(), other.course_id)[0].id
    question = qa.ask(db.session(), other["outsider"], QuestionInput(title="A question elsewhere"))
    giulia = kudos_actor(world, "giulia")
    attempts = [
        KudosInput(
            receiver_id=other["outsider"].member_id, category_id=_category(world), message="x"
        ),
        KudosInput(receiver_id=world["marco"].member_id, category_id=foreign_category, message="x"),
        KudosInput(
            receiver_id=world["marco"].member_id,
            category_id=_category(world),
            message="x",
            question_id=question.id,
        ),
    ]
    for data in attempts:
        with pytest.raises(NotFound):
            services.give(db.session(), giulia, data)
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Kudos)) == 0


def test_kudos_can_be_for_an_answer_and_the_wall_links_its_question(world: CourseWorld) -> None:
    question = qa.ask(db.session(), world["giulia"], QuestionInput(title="Come si deriva?"))
    answer = qa.answer(db.session(), world["marco"], question.id, "Con la regola della catena")
    _give(world, "giulia", "marco", "Chiarissimo", answer_id=answer.id)
    item = services.wall(db.session(), world.course_id).items[0]
    assert item.question_id == question.id and item.question_title == "Come si deriva?"
    assert (item.subject_type, item.subject_id) == ("qa_answer", answer.id)


def test_the_wall_names_no_question_moderators_hid(world: CourseWorld) -> None:
    question = qa.ask(db.session(), world["giulia"], QuestionInput(title="Compra follower qui"))
    answer = qa.answer(db.session(), world["marco"], question.id, "Non farlo.")
    _give(world, "giulia", "marco", "Grazie", answer_id=answer.id)
    moderation.hide_post(
        db.session(), world.course_id, world["prof"].member_id, "qa_question", question.id, "spam"
    )
    db.session.commit()
    item = services.wall(db.session(), world.course_id).items[0]
    assert (item.message, item.question_id, item.question_title) == ("Grazie", None, None)


def _bulk(world: CourseWorld, n: int) -> None:
    """n kudos from giulia to marco, one second apart, straight into the table."""
    category = _category(world)
    start = utcnow() - timedelta(hours=1)
    db.session.add_all(
        Kudos(
            course_id=world.course_id,
            giver_id=world["giulia"].member_id,
            receiver_id=world["marco"].member_id,
            category_id=category if i % 3 else _category(world, "creativity"),
            message=f"kudos {i}",
            created_at=start + timedelta(seconds=i // 2),  # pairs share a timestamp
        )
        for i in range(n)
    )
    db.session.commit()


def test_the_wall_pages_by_keyset_without_gaps_or_repeats(world: CourseWorld) -> None:
    _bulk(world, 45)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = services.wall(db.session(), world.course_id, cursor=cursor)
        seen += [k.message for k in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert sorted(seen) == sorted(f"kudos {i}" for i in range(45))
    assert len(set(seen)) == 45
    assert seen[0] in {"kudos 44", "kudos 43"}  # newest first


def test_the_wall_filters_by_category(world: CourseWorld) -> None:
    _bulk(world, 30)
    creativity = _category(world, "creativity")
    page = services.wall(db.session(), world.course_id, category_id=creativity)
    assert len(page.items) == 10
    assert {k.category for k in page.items} == {"Creativity"}


def test_a_malformed_cursor_is_the_first_page(world: CourseWorld) -> None:
    _bulk(world, 3)
    assert len(services.wall(db.session(), world.course_id, cursor="x-y").items) == 3
    assert services.decode_cursor("99999999999999999999-1") is None


def test_the_wall_runs_the_same_number_of_queries_whatever_its_size(world: CourseWorld) -> None:
    def queries(cursor: str | None = None) -> tuple[int, str | None]:
        count = [0]

        def counter(*args: object) -> None:
            count[0] += 1

        engine = db.engine
        event.listen(engine, "before_cursor_execute", counter)
        try:
            page = services.wall(db.session(), world.course_id, cursor=cursor)
        finally:
            event.remove(engine, "before_cursor_execute", counter)
        return count[0], page.next_cursor

    _bulk(world, 3)
    small, _ = queries()
    _bulk(world, 120)
    big, cursor = queries()
    deeper, _ = queries(cursor)
    assert small == big == deeper == 1


def test_two_kudos_sent_at_once_cannot_both_pass_the_limit(app: Flask, world: CourseWorld) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite has one writer at a time)")
    services.update_settings(db.session(), kudos_actor(world, "prof"), daily_limit=1)
    category = _category(world)
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def send(receiver: str) -> None:
        with app.app_context(), Session(db.engine) as session:
            barrier.wait(10)
            try:
                services.give(
                    session,
                    kudos_actor(world, "giulia"),
                    KudosInput(
                        receiver_id=world[receiver].member_id,
                        category_id=category,
                        message="at once",
                    ),
                )
                outcomes.append("sent")
            except LimitReached:
                session.rollback()
                outcomes.append("limit")

    threads = [threading.Thread(target=send, args=(r,)) for r in ("marco", "sara", "cm")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["limit", "limit", "sent"]
    assert db.session.scalar(select(func.count()).select_from(Kudos)) == 1
