"""The notifications page: one whole sentence per notification, in the member's language, and
nothing of a question moderators took away."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from lti_tool.community.moderation.services import hide_post
from lti_tool.community.notifications.services import notify
from lti_tool.community.qa import services
from lti_tool.extensions import db

from .conftest import CourseWorld, sign_in


def in_italian(client: FlaskClient, lid: str = "L1") -> FlaskClient:
    with client.session_transaction() as session:
        launches = dict(session["launches"])
        launches[lid] = {**launches[lid], "l": "it"}
        session["launches"] = launches
    return client


def one_line(html: str) -> str:
    return " ".join(html.split())


def answered_question(app: Flask, site: CourseWorld, title: str = "Integrali doppi") -> int:
    """Giulia asks, Marco answers: Giulia has one notification."""
    with app.app_context():
        question = services.ask(db.session(), site["giulia"], services.QuestionInput(title=title))
        services.answer(db.session(), site["marco"], question.id, "Prova per parti.")
        return question.id


def test_a_notification_is_one_sentence_in_italian(app: Flask, site: CourseWorld) -> None:
    question_id = answered_question(app, site)
    page = one_line(in_italian(sign_in(app, site, "giulia")).get("/w/L1/qa/notifications").text)
    link = f'<a href="/w/L1/qa/{question_id}">Integrali doppi</a>'
    # Italian puts the question first: a whole sentence to translate, not a label and a link.
    assert f"La domanda {link} ha una nuova risposta" in page
    assert re.search(r"di Marco Bianchi, <time datetime=\"[^\"]+\">[^<]+</time>", page)
    english = one_line(sign_in(app, site, "giulia").get("/w/L1/qa/notifications").text)
    assert f"New answer to {link}" in english
    assert re.search(r"by Marco Bianchi, <time ", english)


def test_a_title_is_escaped_inside_the_sentence(app: Flask, site: CourseWorld) -> None:
    answered_question(app, site, title="<b>x</b> & y")
    page = sign_in(app, site, "giulia").get("/w/L1/qa/notifications").text
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y</a>" in page and "<b>x</b>" not in page


def test_a_hidden_question_leaves_no_title_in_notifications(app: Flask, site: CourseWorld) -> None:
    question_id = answered_question(app, site, title="Un titolo offensivo")
    with app.app_context():
        hide_post(
            db.session(), site.course_id, site["prof"].member_id, "qa_question", question_id, "Rude"
        )
    page = one_line(in_italian(sign_in(app, site, "giulia")).get("/w/L1/qa/notifications").text)
    assert "Un titolo offensivo" not in page and f"/w/L1/qa/{question_id}" not in page
    assert "Una domanda di cui ti avevamo avvisato non è più disponibile." in page
    assert 'class="qa-badge">1<' in page  # still listed and counted: the count matches the list


def test_a_deleted_question_leaves_no_title_in_notifications(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        question = services.ask(
            db.session(), site["marco"], services.QuestionInput(title="Dati personali di Sara")
        )
        services.comment(
            db.session(), site["sara"], question.id, "Ne parlo con @giulia.rossi e @anna.neri"
        )
        services.delete_question(db.session(), site["marco"], question.id)
        question_id = question.id
    page = one_line(sign_in(app, site, "giulia").get("/w/L1/qa/notifications").text)
    assert "Dati personali di Sara" not in page and f"/w/L1/qa/{question_id}" not in page
    assert "A question you were notified about is no longer available." in page
    # Moderators can still open a deleted question: theirs keeps the title and the link.
    staff = sign_in(app, site, "prof", lid="L3")
    assert staff.get(f"/w/L3/qa/{question_id}").status_code == 200
    link = f'<a href="/w/L3/qa/{question_id}">Dati personali di Sara</a>'
    assert link in staff.get("/w/L3/qa/notifications").text


def test_group_messages_link_to_the_group(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        notify(
            db.session(),
            course_id=site.course_id,
            recipients=[site["giulia"].member_id],
            kind="group_post",
            subject_type="groups_group",
            subject_id=7,
            actor_id=site["marco"].member_id,
            excerpt="Gruppo A: ciao a tutti",
        )
        db.session.commit()
    page = one_line(in_italian(sign_in(app, site, "giulia")).get("/w/L1/qa/notifications").text)
    link = '<a href="/w/L1/groups/7">Gruppo A: ciao a tutti</a>'
    assert f"Nuovo messaggio nel tuo gruppo: {link}" in page
