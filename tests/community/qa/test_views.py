"""Q&A pages: forms keep their text when refused, rights hold over HTTP, anonymity never leaks."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from lti_tool.community.qa import services
from lti_tool.community.qa.models import Answer, Question
from lti_tool.extensions import db

from .conftest import CourseWorld, form_token, sign_in

TEXT = "Il mio testo lungo: $\\int_0^1 x\\,dx$ con **grassetto**"


def post_question(client: FlaskClient, lid: str = "L1", **fields: str) -> TestResponse:
    page = client.get(f"/w/{lid}/qa/ask")
    data = {"csrf_token": form_token(page.text), **fields}
    return client.post(f"/w/{lid}/qa/ask", data=data)


def test_widget_qa_lands_on_the_question_list(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    landing = client.get("/w/L1/")
    assert landing.status_code == 302
    assert landing.headers["Location"].split("?")[0].endswith("/w/L1/qa/")
    page = client.get("/w/L1/qa/")
    assert page.status_code == 200
    assert "Questions and answers" in page.text and "Giulia Rossi" in page.text
    assert "vendor/katex/katex.min.css" in page.text and "js/qa.js" in page.text
    # No inline indicator <style> from htmx (CSP): its rules are in app.css.
    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in page.text
    css = client.get("/static/css/app.css")
    assert ".htmx-request .htmx-indicator" in css.text
    css.close()


def test_pages_need_a_launch(app: Flask, site: CourseWorld) -> None:
    assert app.test_client().get("/w/L1/qa/").status_code == 401


def test_asking_posts_and_clears_the_draft(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    response = post_question(client, title="Come si integra x?", body=TEXT)
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert "Come si integra x?" in page.text
    assert '<span class="math math-inline">' in page.text
    assert 'data-qa-clear-draft="qa:' in page.text and ':ask"' in page.text


def test_a_refused_question_comes_back_with_its_text(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    response = post_question(client, title="Hm", body=TEXT)
    assert response.status_code == 422
    assert 'value="Hm"' in response.text
    assert "Il mio testo lungo: $\\int_0^1 x\\,dx$ con **grassetto**</textarea>" in response.text
    assert "Write a title of at least 5 characters." in response.text
    assert 'aria-invalid="true"' in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Question)) == 0


def test_the_rate_limit_gives_the_text_back(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    for n in range(10):
        assert post_question(client, title=f"Question number {n}").status_code == 303
    limited = post_question(client, title="One too many", body=TEXT)
    assert limited.status_code == 429
    assert 'value="One too many"' in limited.text and TEXT.split(":")[0] in limited.text
    assert "You are posting very fast" in limited.text
    assert "Retry-After" in limited.headers
    # The budget is shared by answers and comments, and it is per member.
    with app.app_context():
        question_id = db.session.scalar(select(Question.id).limit(1))
    page = client.get(f"/w/L1/qa/{question_id}")
    answer = client.post(
        f"/w/L1/qa/{question_id}/answers",
        data={"csrf_token": form_token(page.text), "body": "My answer text"},
    )
    assert answer.status_code == 429 and "My answer text</textarea>" in answer.text
    other = sign_in(app, site, "marco", lid="L2")
    assert post_question(other, lid="L2", title="Marco can still ask").status_code == 303
    # Edits draw on the same budget (each one stores a revision): the edit comes back too.
    edit_page = client.get(f"/w/L1/qa/{question_id}/edit")
    edit = client.post(
        f"/w/L1/qa/{question_id}/edit",
        data={"csrf_token": form_token(edit_page.text), "title": "A new title", "body": TEXT},
    )
    assert edit.status_code == 429 and 'value="A new title"' in edit.text


def test_a_refused_flag_keeps_its_reason_and_note(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        question = services.ask(
            db.session(), site["marco"], services.QuestionInput(title="Domanda vera")
        )
        question_id = question.id
    client = sign_in(app, site, "giulia")
    form = client.get(f"/w/L1/qa/{question_id}/flag?kind=question&post_id={question_id}")
    assert form.status_code == 200
    stale = client.post(
        f"/w/L1/qa/{question_id}/flag",
        data={
            "csrf_token": "stale",
            "kind": "question",
            "post_id": str(question_id),
            "reason": "offensive",
            "note": "Insulta un compagno",
        },
    )
    assert stale.status_code == 400 and "session expired" in stale.text
    assert 'value="Insulta un compagno"' in stale.text
    assert '<option value="offensive" selected>' in stale.text


def test_a_database_error_gives_the_text_back(
    app: Flask, site: CourseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(services, "ask", broken)
    client = sign_in(app, site, "giulia")
    response = post_question(client, title="Saved later, I hope", body=TEXT)
    assert response.status_code == 503
    assert 'value="Saved later, I hope"' in response.text and "grassetto" in response.text
    assert "could not be saved" in response.text


def test_an_expired_csrf_token_gives_the_text_back(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    response = client.post(
        "/w/L1/qa/ask", data={"csrf_token": "stale", "title": "Kept title", "body": TEXT}
    )
    assert response.status_code == 400
    assert 'value="Kept title"' in response.text and "session expired" in response.text


def test_answer_and_comment_errors_keep_their_text(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        q = services.ask(
            db.session(), site["giulia"], services.QuestionInput(title="A question to answer")
        )
        question_id = q.id
    client = sign_in(app, site, "marco")
    page = client.get(f"/w/L1/qa/{question_id}")
    token = form_token(page.text)
    too_long = "x" * 3001
    comment = client.post(
        f"/w/L1/qa/{question_id}/comments", data={"csrf_token": token, "body": too_long}
    )
    assert comment.status_code == 422 and too_long in comment.text
    assert "Use at most 3000 characters." in comment.text
    blank = client.post(f"/w/L1/qa/{question_id}/answers", data={"csrf_token": token, "body": " "})
    assert blank.status_code == 422 and "Write something first." in blank.text


def test_learner_cannot_endorse_or_open_staff_pages(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        q = services.ask(db.session(), site["giulia"], services.QuestionInput(title="Endorse me?"))
        a = services.answer(db.session(), site["marco"], q.id, "An answer")
        ids = (q.id, a.id)
    client = sign_in(app, site, "sara")
    token = form_token(client.get(f"/w/L1/qa/{ids[0]}").text)
    assert client.post(f"/w/L1/qa/{ids[0]}/endorse", data={"csrf_token": token}).status_code == 403
    denied = client.post(f"/w/L1/qa/answers/{ids[1]}/endorse", data={"csrf_token": token})
    assert denied.status_code == 403 and "Only staff can endorse posts." in denied.text
    assert (
        client.post(f"/w/L1/qa/answers/{ids[1]}/accept", data={"csrf_token": token}).status_code
        == 403
    )
    assert client.get("/w/L1/qa/unanswered").status_code == 403
    assert client.get("/w/L1/qa/settings").status_code == 403
    with app.app_context():
        assert not db.session.get(Answer, ids[1]).endorsed


def test_staff_queue_settings_and_tags(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        services.ask(db.session(), site["giulia"], services.QuestionInput(title="Still waiting"))
    staff = sign_in(app, site, "ta")
    queue = staff.get("/w/L1/qa/unanswered")
    assert queue.status_code == 200 and "Still waiting" in queue.text
    settings = staff.get("/w/L1/qa/settings")
    assert 'href="/w/L1/grades/"' in settings.text  # the widget's participation grade settings
    token = form_token(settings.text)
    added = staff.post(
        "/w/L1/qa/settings/tags", data={"csrf_token": token, "name": "Limiti", "label": "Modulo 1"}
    )
    assert added.status_code == 303
    assert "Limiti" in staff.get("/w/L1/qa/ask").text
    # Renaming another tag to a name in use is refused, and its form keeps what was typed.
    staff.post("/w/L1/qa/settings/tags", data={"csrf_token": token, "name": "Derivate"})
    with app.app_context():
        from lti_tool.community.qa.models import Tag

        tag_id = db.session.scalar(select(Tag.id).where(Tag.name == "Derivate"))
    taken = staff.post(
        "/w/L1/qa/settings/tags",
        data={"csrf_token": token, "tag_id": str(tag_id), "name": "Limiti", "label": "Modulo 2"},
    )
    assert taken.status_code == 422
    assert f'id="qa-tag-name-{tag_id}" name="name" value="Limiti"' in taken.text
    assert f'id="qa-tag-label-{tag_id}" name="label" value="Modulo 2"' in taken.text
    staff.post("/w/L1/qa/settings", data={"csrf_token": token, "staff_see_anonymous": "on"})
    student = sign_in(app, site, "giulia", lid="L2")
    ask_page = student.get("/w/L2/qa/ask").text
    assert "Limiti" in ask_page and 'name="anonymous"' not in ask_page  # switched off


def test_questions_from_another_course_are_404_over_http(app: Flask, site: CourseWorld) -> None:
    from .conftest import PEOPLE, make_course, make_platform

    with app.app_context():
        other = make_course(make_platform("https://canvas.example.org"), "c-9", PEOPLE)
        q = services.ask(db.session(), other["giulia"], services.QuestionInput(title="Not yours"))
        question_id = q.id
    client = sign_in(app, site, "prof")
    assert client.get(f"/w/L1/qa/{question_id}").status_code == 404
    assert client.get(f"/w/L1/qa/{question_id}/edit").status_code == 404
    token = form_token(client.get("/w/L1/qa/ask").text)
    gone = client.post(
        f"/w/L1/qa/{question_id}/answers", data={"csrf_token": token, "body": "Intrusion"}
    )
    assert gone.status_code == 404


def test_anonymous_asker_never_appears_to_classmates(app: Flask, site: CourseWorld) -> None:
    giulia = sign_in(app, site, "giulia")
    response = post_question(
        giulia, title="Anonymous question on integrals", body="secret", anonymous="on"
    )
    question_url = response.headers["Location"]
    with app.app_context():
        question_id = db.session.scalar(select(Question.id))
        answer = services.answer(db.session(), site["marco"], question_id, "Try parts")
        answer_id = answer.id
    page = giulia.get(question_url)
    giulia.post(f"/w/L1/qa/answers/{answer_id}/accept", data={"csrf_token": form_token(page.text)})
    marco = sign_in(app, site, "marco", lid="L2")
    for path in (
        "/w/L2/qa/",
        f"/w/L2/qa/{question_id}",
        "/w/L2/qa/?q=integral",
        "/w/L2/qa/duplicates?title=anonymous+integrals+question",
        "/w/L2/qa/notifications",
    ):
        html = marco.get(path).text
        assert "Giulia" not in html, path
    assert "Anonymous classmate" in marco.get(f"/w/L2/qa/{question_id}").text
    assert re.search(
        r"Asked by <span[^>]*>Anonymous classmate</span>, <time ",
        (marco.get(f"/w/L2/qa/{question_id}").text),
    )
    prof = sign_in(app, site, "prof", lid="L3")
    assert "Giulia Rossi" in prof.get(f"/w/L3/qa/{question_id}").text


def test_flagging_twice_explains_why_on_the_question_page(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        q = services.ask(db.session(), site["giulia"], services.QuestionInput(title="Flag me"))
        question_id = q.id
    client = sign_in(app, site, "marco")
    form = client.get(f"/w/L1/qa/{question_id}/flag?kind=question&post_id={question_id}")
    assert form.status_code == 200 and 'name="reason"' in form.text
    data = {
        "csrf_token": form_token(form.text),
        "kind": "question",
        "post_id": str(question_id),
        "reason": "spam",
    }
    first = client.post(f"/w/L1/qa/{question_id}/flag", data=data)
    assert first.status_code == 303 and first.headers["Location"].endswith(f"/qa/{question_id}")
    second = client.post(f"/w/L1/qa/{question_id}/flag", data=data, follow_redirects=True)
    assert "You have already flagged this post." in second.text
    fragment = client.get(
        f"/w/L1/qa/{question_id}/comment?answer_id=", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<main" not in fragment.text
    assert 'name="body"' in fragment.text


def test_a_comment_is_edited_in_place_with_history(app: Flask, site: CourseWorld) -> None:
    from .conftest import PEOPLE, make_course, make_platform

    with app.app_context():
        q = services.ask(db.session(), site["giulia"], services.QuestionInput(title="Comment me"))
        note = services.comment(db.session(), site["marco"], q.id, "Which *x*?")
        question_id, comment_id = q.id, note.id
        other = make_course(make_platform("https://canvas.example.org"), "c-9", PEOPLE)
        q2 = services.ask(db.session(), other["giulia"], services.QuestionInput(title="Not yours"))
        foreign_id = services.comment(db.session(), other["marco"], q2.id, "Elsewhere").id
    marco = sign_in(app, site, "marco")
    page = marco.get(f"/w/L1/qa/{question_id}")
    assert f"/w/L1/qa/comments/{comment_id}/edit" in page.text
    assert f"comments/{comment_id}/history" not in page.text  # not edited yet
    form = marco.get(f"/w/L1/qa/comments/{comment_id}/edit")
    assert form.status_code == 200 and "Which *x*?</textarea>" in form.text
    token = form_token(form.text)
    too_long = "y" * 3001
    refused = marco.post(
        f"/w/L1/qa/comments/{comment_id}/edit", data={"csrf_token": token, "body": too_long}
    )
    assert refused.status_code == 422 and f"{too_long}</textarea>" in refused.text
    saved = marco.post(
        f"/w/L1/qa/comments/{comment_id}/edit",
        data={"csrf_token": token, "body": "Which *y*, @giulia.rossi?"},
    )
    assert saved.status_code == 303
    assert saved.headers["Location"].endswith(f"/w/L1/qa/{question_id}#comment-{comment_id}")
    page = marco.get(f"/w/L1/qa/{question_id}")
    assert "Which <em>y</em>" in page.text and f"comments/{comment_id}/history" in page.text
    history = marco.get(f"/w/L1/qa/comments/{comment_id}/history")
    assert history.status_code == 200 and "Which <em>x</em>" in history.text
    giulia = sign_in(app, site, "giulia", lid="L2")
    assert giulia.get("/w/L2/qa/notifications").text.count("You were mentioned in") == 1
    assert f"comments/{comment_id}/edit" not in giulia.get(f"/w/L2/qa/{question_id}").text
    assert giulia.get(f"/w/L2/qa/comments/{comment_id}/edit").status_code == 403
    forbidden = giulia.post(
        f"/w/L2/qa/comments/{comment_id}/edit",
        data={"csrf_token": form_token(giulia.get("/w/L2/qa/ask").text), "body": "Mine"},
    )
    assert forbidden.status_code == 403
    prof = sign_in(app, site, "prof", lid="L3")
    assert prof.get(f"/w/L3/qa/comments/{comment_id}/edit").status_code == 200
    assert prof.get(f"/w/L3/qa/comments/{foreign_id}/edit").status_code == 404
    assert prof.get(f"/w/L3/qa/comments/{foreign_id}/history").status_code == 404
