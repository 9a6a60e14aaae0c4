"""The staff page: staff see the weekly table and the negative posts; students get 403."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from lti_tool.community.qa import services as qa
from lti_tool.community.sentiment.services import week_start
from lti_tool.courses.models import Platform
from lti_tool.extensions import db, utcnow

from ..qa.conftest import PEOPLE, CourseWorld, make_course, sign_in
from .test_services import add_scores


def seed(app: Flask, site: CourseWorld) -> CourseWorld:
    with app.app_context():
        qa.ask(
            db.session(),
            site["giulia"],
            qa.QuestionInput(title="Corso orribile", body="Sono delusa, il modulo 2 è pessimo."),
        )
        qa.ask(db.session(), site["marco"], qa.QuestionInput(title="Grazie!", body="Utilissimo."))
        other = make_course(db.session.get(Platform, site.platform_id), "course-2", PEOPLE)
        qa.ask(
            db.session(),
            other["sara"],
            qa.QuestionInput(title="Other course", body="I hate it, awful."),
        )
        return other


@pytest.mark.parametrize("key", ["giulia", "marco"])
def test_students_get_403(app: Flask, site: CourseWorld, key: str) -> None:
    seed(app, site)
    response = sign_in(app, site, key).get("/w/L1/sentiment/")
    assert response.status_code == 403
    assert "pessimo" not in response.text


def test_the_page_needs_a_launch(app: Flask, site: CourseWorld) -> None:
    assert app.test_client().get("/w/L1/sentiment/").status_code == 401


@pytest.mark.parametrize("key", ["prof", "ta", "cm"])
def test_staff_see_the_mood_of_their_course_only(app: Flask, site: CourseWorld, key: str) -> None:
    seed(app, site)
    page = sign_in(app, site, key).get("/w/L1/sentiment/")
    assert page.status_code == 200
    assert "Course mood" in page.text and "Week by week" in page.text
    assert "<mark>pessimo</mark>" in page.text and "<mark>delusa</mark>" in page.text
    assert "Sono delusa, il modulo 2 è pessimo." in page.text
    assert "/w/L1/qa/" in page.text  # a link to the thread
    assert "Other course" not in page.text and "awful" not in page.text
    assert "Utilissimo" not in page.text  # positive posts are not in the negative list
    # Inside the dashboard: its menu, this page marked as the current one, a way back.
    assert '/sentiment/" aria-current="page">Course mood</a>' in page.text
    assert "/w/L1/dashboard/" in page.text
    # The dashboard's header, as on its other pages: who is signed in.
    assert f"Signed in as {PEOPLE[key][0]}" in page.text


def test_the_page_in_italian(app: Flask, site: CourseWorld) -> None:
    seed(app, site)
    client = sign_in(app, site, "prof")
    with client.session_transaction() as session:
        launches = dict(session["launches"])
        launches["L1"] = {**launches["L1"], "l": "it"}
        session["launches"] = launches
    page = client.get("/w/L1/sentiment/")
    assert page.status_code == 200
    assert 'lang="it"' in page.text and "Umore del corso" in page.text


def test_a_mood_drop_shows_an_alert(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        this_week = week_start(utcnow())
        add_scores(site, "giulia", this_week - timedelta(weeks=1), 0.5, 0.5, 0.5, 0.5, 0.5)
        add_scores(site, "marco", this_week, -0.5, -0.5, -0.5, 0.5, 0.5, day=0)
    client = sign_in(app, site, "prof")
    page = client.get("/w/L1/sentiment/")
    assert 'role="alert"' in page.text
    assert "from 0.50 to -0.10, and 60% of this week" in page.text
    with client.session_transaction() as session:
        launches = dict(session["launches"])
        launches["L1"] = {**launches["L1"], "l": "it"}
        session["launches"] = launches
    assert (
        "da 0,50 a -0,10 e il 60% dei post" in client.get("/w/L1/sentiment/").text
    )  # 0,50: Italian


def test_no_alert_on_a_calm_week(app: Flask, site: CourseWorld) -> None:
    seed(app, site)
    assert 'role="alert"' not in sign_in(app, site, "prof").get("/w/L1/sentiment/").text


def test_the_rescore_command_scores_posts_written_before_sentiment(
    app: Flask,
    site: CourseWorld,
) -> None:
    from sqlalchemy import delete, func, select

    from lti_tool.community.qa import services as qa
    from lti_tool.community.sentiment.models import PostSentiment

    with app.app_context():
        qa.ask(db.session(), site["giulia"], qa.QuestionInput(title="Non capisco niente, aiuto"))
        db.session.execute(delete(PostSentiment))  # as if written before sentiment existed
        db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "sentiment",
            "rescore",
            "--issuer",
            "https://moodle.example.org",
            "--context",
            "course-1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 posts scored"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PostSentiment)) == 1
    both = runner.invoke(args=["sentiment", "rescore", "--all", "--context", "course-1"])
    assert both.exit_code == 2 and "either --context or --all" in both.output
