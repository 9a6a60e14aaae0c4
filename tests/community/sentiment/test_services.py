"""Stored per-post sentiment, weekly mood with known answers, the alert rule, isolation, rights."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from lti_tool.community.qa import services as qa
from lti_tool.community.qa.models import QASettings
from lti_tool.community.qa.permissions import PermissionDenied
from lti_tool.community.sentiment import services
from lti_tool.community.sentiment.models import PostSentiment
from lti_tool.courses.models import Member, Platform
from lti_tool.extensions import db

from ..qa.conftest import PEOPLE, CourseWorld, make_course, make_platform

MONDAY = date(2026, 11, 16)  # ISO week 47 of 2026
TODAY = date(2026, 11, 25)  # a Wednesday of ISO week 48


def add_scores(world: CourseWorld, key: str, week: date, *scores: float, day: int = 1) -> None:
    """Rows as Q&A would store them, with chosen scores, on one day of a week."""
    at = datetime.combine(week + timedelta(days=day), datetime.min.time(), UTC)
    for value in scores:
        label = "negative" if value <= -0.05 else "positive" if value >= 0.05 else "neutral"
        db.session.add(
            PostSentiment(
                course_id=world.course_id,
                author_id=world[key].member_id,
                subject_type="test",
                subject_id=_next_id(),
                language="it",
                score=value,
                label=label,
                triggers=[],
                posted_at=at,
                week_start=services.week_start(at),
            )
        )
    db.session.commit()


_ids = iter(range(1, 10_000))


def _next_id() -> int:
    return next(_ids)


def ask(world: CourseWorld, key: str, title: str, body: str = "") -> int:
    question = qa.ask(db.session(), world[key], qa.QuestionInput(title=title, body=body))
    return question.id


def stored(subject_type: str, subject_id: int) -> PostSentiment:
    row = db.session.scalar(
        select(PostSentiment).where(
            PostSentiment.subject_type == subject_type, PostSentiment.subject_id == subject_id
        )
    )
    assert row is not None
    return row


# --- stored when posts are written -----------------------------------------------------------


def test_questions_answers_and_comments_are_scored_when_written(world: CourseWorld) -> None:
    question_id = ask(world, "giulia", "Esercizio 3 incomprensibile", "Non è per niente chiaro.")
    row = stored("qa_question", question_id)
    assert (row.label, row.language, row.course_id) == ("negative", "it", world.course_id)
    assert row.author_id == world["giulia"].member_id and row.question_id == question_id
    assert "incomprensibile" in row.triggers and "non chiaro" in row.triggers
    assert row.week_start == services.week_start(row.posted_at)

    answer = qa.answer(db.session(), world["prof"], question_id, "Thanks, great question! :)")
    assert stored("qa_answer", answer.id).label == "positive"
    assert stored("qa_answer", answer.id).language == "en"
    note = qa.comment(db.session(), world["marco"], question_id, "Grazie mille, utilissimo!")
    assert stored("qa_comment", note.id).label == "positive"
    assert stored("qa_comment", note.id).question_id == question_id


def test_an_edit_scores_the_post_again(world: CourseWorld) -> None:
    question_id = ask(world, "giulia", "Che corso fantastico", "Lo adoro.")
    assert stored("qa_question", question_id).label == "positive"
    qa.edit_question(
        db.session(),
        world["giulia"],
        question_id,
        qa.QuestionInput(title="Che corso deludente", body="Sono delusa e arrabbiata."),
    )
    db.session.expire_all()
    row = stored("qa_question", question_id)
    assert row.label == "negative" and "arrabbiata" in row.triggers
    assert db.session.query(PostSentiment).count() == 1  # updated, not added

    answer = qa.answer(db.session(), world["marco"], question_id, "Che bello!")
    qa.edit_answer(db.session(), world["marco"], answer.id, "Che schifo.")
    db.session.expire_all()
    assert stored("qa_answer", answer.id).label == "negative"


def test_a_post_in_another_language_has_no_mood(world: CourseWorld) -> None:
    """German or French read as English would be negative ("die", "pain"): a student writing
    them would be put on the at-risk list for negative tone."""
    german = ask(world, "giulia", "Die Aufgabe", "Die Lösung ist falsch, die Aufgabe ist ein Witz")
    assert db.session.query(PostSentiment).count() == 0
    italian = ask(world, "marco", "Corso orribile", "Pessimo, odio tutto.")
    assert stored("qa_question", italian).label == "negative"
    qa.edit_question(
        db.session(),
        world["marco"],
        italian,
        qa.QuestionInput(title="Je ne comprends pas", body="Je mange du pain avec mon ami"),
    )
    assert db.session.query(PostSentiment).count() == 0  # the Italian score is forgotten
    assert services.negative_posts_by_member(db.session(), world["prof"]) == {}
    assert german


def test_a_scoring_failure_never_loses_the_post(
    world: CourseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(text: str, language: str | None = None) -> None:
        raise RuntimeError("lexicon missing")

    monkeypatch.setattr(services, "score", broken)
    question_id = ask(world, "giulia", "Domanda sul compito", "Quando si consegna?")
    assert qa.find_question(db.session(), world["giulia"], question_id).title
    assert db.session.query(PostSentiment).count() == 0


def test_code_in_a_post_does_not_make_it_negative(world: CourseWorld) -> None:
    body = "Il mio codice:\n\n```python\nraise Exception('errore terribile')\n```\n\nCosa fa?"
    row = stored("qa_question", ask(world, "giulia", "Domanda sul codice", body))
    assert row.triggers == []


# --- weekly mood -----------------------------------------------------------------------------


def test_weekly_mood_has_known_means_and_counts(world: CourseWorld) -> None:
    add_scores(world, "giulia", MONDAY, 0.5, 0.3, -0.2, 0.0)
    add_scores(world, "marco", MONDAY + timedelta(weeks=1), -0.6, -0.4, 0.2, day=0)
    add_scores(world, "marco", MONDAY + timedelta(weeks=1), -0.2, day=6)  # Sunday: same week
    weeks = services.weekly_mood(db.session(), world["prof"], weeks=3, today=TODAY)
    assert [w.week_start for w in weeks] == [date(2026, 11, 9), MONDAY, date(2026, 11, 23)]
    empty, w47, w48 = weeks
    assert (empty.posts, empty.mean) == (0, None)
    assert (w47.iso_year, w47.iso_week, w48.iso_week) == (2026, 47, 48)
    assert w47.posts == 4 and w47.mean == pytest.approx(0.15)
    assert (w47.negative, w47.neutral, w47.positive) == (1, 1, 2)
    assert w48.posts == 4 and w48.mean == pytest.approx(-0.25)
    assert (w48.negative, w48.neutral, w48.positive) == (3, 0, 1)
    assert w48.negative_share == pytest.approx(0.75)


def test_iso_weeks_cross_the_year(world: CourseWorld) -> None:
    # 2026-12-31 is a Thursday of ISO week 53 of 2026; 2027-01-03 is its Sunday.
    assert services.week_start(date(2027, 1, 3)) == date(2026, 12, 28)
    add_scores(world, "giulia", date(2026, 12, 28), 0.4, day=6)
    (week,) = services.weekly_mood(db.session(), world["ta"], weeks=1, today=date(2027, 1, 1))
    assert (week.iso_year, week.iso_week, week.posts) == (2026, 53, 1)


def test_weekly_mood_is_per_course(world: CourseWorld) -> None:
    other = make_course(db.session.get(Platform, world.platform_id), "course-2", PEOPLE)
    add_scores(other, "giulia", MONDAY, -0.9, -0.9)
    add_scores(world, "giulia", MONDAY, 0.6)
    w47 = services.weekly_mood(db.session(), world["prof"], weeks=2, today=TODAY)[0]
    assert (w47.posts, w47.mean) == (1, pytest.approx(0.6))
    w47 = services.weekly_mood(db.session(), other["prof"], weeks=2, today=TODAY)[0]
    assert (w47.posts, w47.mean) == (2, pytest.approx(-0.9))


@pytest.mark.parametrize("key", ["giulia", "marco"])
def test_students_cannot_read_the_mood(world: CourseWorld, key: str) -> None:
    actor = world[key]
    with pytest.raises(PermissionDenied):
        services.weekly_mood(db.session(), actor)
    with pytest.raises(PermissionDenied):
        services.most_negative_posts(db.session(), actor)
    with pytest.raises(PermissionDenied):
        services.course_alert(db.session(), actor)
    with pytest.raises(PermissionDenied):
        services.negative_posts_by_member(db.session(), actor)


def test_community_managers_and_assistants_can(world: CourseWorld) -> None:
    for key in ("cm", "ta", "prof"):
        assert len(services.weekly_mood(db.session(), world[key], weeks=2)) == 2


# --- alert rule ------------------------------------------------------------------------------

LAST_WEEK, THIS_WEEK = MONDAY, MONDAY + timedelta(weeks=1)


def test_a_sharp_drop_raises_an_alert(world: CourseWorld) -> None:
    add_scores(world, "giulia", LAST_WEEK, 0.5, 0.5, 0.4, 0.2, 0.4)  # mean 0.4
    add_scores(world, "marco", THIS_WEEK, 0.5, -0.3, -0.4, 0.2, 0.0)  # mean 0.0, 40% negative
    alert = services.course_alert(db.session(), world["prof"], today=TODAY)
    assert alert is not None and alert.course_id == world.course_id
    assert alert.drop == pytest.approx(0.4)
    assert alert.week.week_start == THIS_WEEK and alert.previous.week_start == LAST_WEEK


@pytest.mark.parametrize(
    ("last", "this", "why"),
    [
        ((0.5, 0.5, 0.4, 0.2, 0.4), (0.5, -0.3, -0.4, 0.2), "only 4 posts this week"),
        ((0.5, 0.5, 0.4, 0.2), (0.5, -0.3, -0.4, 0.2, 0.0), "only 4 posts last week"),
        ((0.5, 0.5, 0.4, 0.2, 0.4), (0.5, -0.3, 0.0, 0.2, 0.1), "a drop of 0.30 but 20% negative"),
        ((0.3, 0.3, 0.2, 0.1, 0.1), (0.5, -0.3, -0.4, 0.2, 0.0), "a drop of 0.2 only"),
        ((-0.5, -0.5, -0.5, -0.5, -0.5), (-0.6, -0.6, -0.6, -0.6, -0.6), "bad, but no drop"),
        ((), (-0.6, -0.6, -0.6, -0.6, -0.6), "nothing to compare with"),
    ],
)
def test_no_alert_without_all_conditions(
    world: CourseWorld, last: tuple[float, ...], this: tuple[float, ...], why: str
) -> None:
    add_scores(world, "giulia", LAST_WEEK, *last)
    add_scores(world, "marco", THIS_WEEK, *this)
    assert services.course_alert(db.session(), world["prof"], today=TODAY) is None, why


def test_the_rule_edges_are_inclusive(world: CourseWorld) -> None:
    add_scores(world, "giulia", LAST_WEEK, 0.4, 0.4, 0.4, 0.4, 0.4)  # mean 0.4
    add_scores(world, "marco", THIS_WEEK, 0.2, 0.2, 0.2, -0.1, -0.0)  # drop 0.3, 20% negative
    rule = services.AlertRule(min_posts=5, min_drop=0.3, min_negative_share=0.2)
    assert services.course_alert(db.session(), world["prof"], today=TODAY, rule=rule)
    stricter = services.AlertRule(min_posts=6, min_drop=0.3, min_negative_share=0.2)
    assert services.course_alert(db.session(), world["prof"], today=TODAY, rule=stricter) is None


def test_alerts_across_courses_name_only_the_dropping_ones(world: CourseWorld) -> None:
    other = make_course(db.session.get(Platform, world.platform_id), "course-2", PEOPLE)
    calm = make_course(db.session.get(Platform, world.platform_id), "course-3", PEOPLE)
    for course in (world, calm):
        add_scores(course, "giulia", LAST_WEEK, 0.5, 0.5, 0.5, 0.5, 0.5)
    add_scores(world, "giulia", THIS_WEEK, -0.5, -0.5, -0.5, 0.5, 0.5)
    add_scores(calm, "giulia", THIS_WEEK, 0.5, 0.4, 0.5, 0.5, 0.5)
    alerts = services.mood_alerts(
        db.session(), [world.course_id, other.course_id, calm.course_id], today=TODAY
    )
    assert [a.course_id for a in alerts] == [world.course_id]


# --- most negative recent posts --------------------------------------------------------------

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def post_at(world: CourseWorld, key: str, title: str, body: str, at: datetime) -> int:
    question_id = ask(world, key, title, body)
    row = stored("qa_question", question_id)
    row.posted_at = at
    db.session.commit()
    return question_id


def test_most_negative_recent_posts_with_their_triggers(world: CourseWorld) -> None:
    worst = post_at(world, "giulia", "Corso orribile", "Odio questo modulo, pessimo.", NOW)
    mild = post_at(world, "marco", "Un po' confuso", "Il capitolo 2 è difficile.", NOW)
    post_at(world, "sara", "Grazie a tutti", "Corso bellissimo!", NOW)
    post_at(world, "sara", "Disastro totale", "Terribile e inutile.", NOW - timedelta(days=20))
    posts = services.most_negative_posts(db.session(), world["prof"], days=14, now=NOW)
    assert [p.question_id for p in posts] == [worst, mild]
    first = posts[0]
    assert first.score < posts[1].score < 0
    assert {"orribile", "pessimo"} <= set(first.triggers)
    assert "Odio questo modulo" in first.excerpt and first.author_name == "Giulia Rossi"
    assert (
        services.most_negative_posts(db.session(), world["prof"], limit=1, now=NOW)[0].question_id
        == worst
    )
    assert services.negative_posts_by_member(db.session(), world["prof"], now=NOW) == {
        world["giulia"].member_id: 1,
        world["marco"].member_id: 1,
    }


def test_deleted_posts_leave_the_list(world: CourseWorld) -> None:
    question_id = ask(world, "giulia", "Corso orribile", "Pessimo.")
    qa.delete_question(db.session(), world["giulia"], question_id)
    assert services.most_negative_posts(db.session(), world["prof"]) == []


def test_a_deleted_post_leaves_the_weekly_mood_and_the_negative_counts(
    world: CourseWorld,
) -> None:
    kept = ask(world, "marco", "Grazie, tutto chiaro", "Ottima spiegazione, molto utile.")
    gone = ask(world, "giulia", "Corso orribile", "Pessimo, odio tutto.")
    answer = qa.answer(db.session(), world["giulia"], kept, "Spiegazione pessima e inutile.")
    (week,) = services.weekly_mood(db.session(), world["prof"], weeks=1)
    assert week.posts == 3 and week.negative == 2
    assert services.negative_posts_by_member(db.session(), world["prof"]) == {
        world["giulia"].member_id: 2
    }
    qa.delete_question(db.session(), world["giulia"], gone)
    qa.delete_answer(db.session(), world["giulia"], answer.id)
    (week,) = services.weekly_mood(db.session(), world["prof"], weeks=1)
    assert (week.posts, week.negative, week.positive) == (1, 0, 1)
    assert week.mean == stored("qa_question", kept).score
    assert services.negative_posts_by_member(db.session(), world["prof"]) == {}
    assert services.rescore(db.session(), world.course_id) == 1  # only the live post
    (week,) = services.weekly_mood(db.session(), world["prof"], weeks=1)
    assert week.posts == 1


def test_a_deleted_comment_leaves_the_mood_and_the_negative_counts(world: CourseWorld) -> None:
    question = ask(world, "marco", "Grazie, tutto chiaro", "Ottima spiegazione, molto utile.")
    note = qa.comment(db.session(), world["giulia"], question, "Pessimo, odio tutto.")
    qa.comment(db.session(), world["giulia"], question, "Spiegazione pessima e inutile.")
    assert services.negative_posts_by_member(db.session(), world["prof"]) == {
        world["giulia"].member_id: 2
    }
    qa.delete_comment(db.session(), world["giulia"], note.id)
    (week,) = services.weekly_mood(db.session(), world["prof"], weeks=1)
    assert (week.posts, week.negative) == (2, 1)
    assert services.negative_posts_by_member(db.session(), world["prof"]) == {
        world["giulia"].member_id: 1
    }
    assert [p.subject_id for p in services.most_negative_posts(db.session(), world["prof"])] == [
        note.id + 1
    ]


def test_rescore_forgets_posts_deleted_before_deleted_posts_were_forgotten(
    world: CourseWorld,
) -> None:
    gone = ask(world, "giulia", "Corso orribile", "Pessimo, odio tutto.")
    question = db.session.get(qa.Question, gone)
    assert question is not None
    question.deleted_at = question.created_at  # as an older release left it: still scored
    db.session.commit()
    assert services.weekly_mood(db.session(), world["prof"], weeks=1)[0].posts == 1
    assert services.rescore(db.session()) == 0
    assert services.weekly_mood(db.session(), world["prof"], weeks=1)[0].posts == 0


def test_other_courses_posts_never_appear(world: CourseWorld) -> None:
    platform = make_platform("https://other-lms.example.org")
    elsewhere = make_course(platform, "course-x", PEOPLE)
    ask(elsewhere, "giulia", "Corso orribile", "Pessimo, odio tutto.")
    assert services.most_negative_posts(db.session(), world["prof"]) == []
    assert services.weekly_mood(db.session(), world["prof"], weeks=1)[0].posts == 0
    assert len(services.most_negative_posts(db.session(), elsewhere["prof"])) == 1


def test_anonymous_authors_stay_hidden_when_the_course_says_so(world: CourseWorld) -> None:
    question = qa.ask(
        db.session(),
        world["giulia"],
        qa.QuestionInput(title="Corso orribile", body="Pessimo.", anonymous=True),
    )
    (post,) = services.most_negative_posts(db.session(), world["prof"])
    assert post.author_name == "Giulia Rossi"  # staff see anonymous authors by default
    (post,) = services.most_negative_posts(db.session(), world["cm"])
    assert post.author_name is None  # a community manager who is not LMS staff does not
    db.session.merge(QASettings(course_id=world.course_id, staff_see_anonymous=False))
    db.session.commit()
    (post,) = services.most_negative_posts(db.session(), world["prof"])
    assert post.author_name is None and post.author_id is None
    assert post.question_id == question.id


def test_rescore_scores_posts_written_before(world: CourseWorld) -> None:
    question_id = ask(world, "giulia", "Corso orribile", "Pessimo.")
    db.session.query(PostSentiment).delete()
    db.session.commit()
    assert services.rescore(db.session(), world.course_id) == 1
    assert stored("qa_question", question_id).label == "negative"


def test_the_authors_locale_breaks_ties(world: CourseWorld) -> None:
    member = db.session.get(Member, world["giulia"].member_id)
    member.locale = "it-IT"
    db.session.commit()
    assert stored("qa_question", ask(world, "giulia", "Ok ok ok", "")).language == "it"
