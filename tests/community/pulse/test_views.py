"""Pulse pages over HTTP: students answer from the Q&A page, staff read anonymous figures."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from lti_tool.community.pulse import services
from lti_tool.community.pulse.models import PulseAnswer, PulseSurvey
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from .conftest import CourseWorld, form_token, make_course, make_platform, pulse_actor, sign_in

pytestmark = pytest.mark.filterwarnings("error")


def _in_italian(client: FlaskClient) -> FlaskClient:
    with client.session_transaction() as session:
        launches = session["launches"]
        launches["L1"]["l"] = "it"
        session["launches"] = dict(launches)
        session.modified = True
    return client


def _open(app: Flask, world: CourseWorld, **kwargs: object) -> int:
    with app.app_context():
        pulse = services.open_pulse(db.session(), pulse_actor(world, "prof"), **kwargs)  # type: ignore[arg-type]
        return pulse.id


def _answer_directly(
    app: Flask, world: CourseWorld, key: str, pulse_id: int, score: int, comment: str = ""
) -> None:
    with app.app_context():
        services.answer(
            db.session(), pulse_actor(world, key), pulse_id, score=score, comment=comment
        )


def _post_answer(client: FlaskClient, pulse_id: int, data: dict[str, str]) -> TestResponse:
    page = client.get("/w/L1/qa/")
    assert page.status_code == 200
    return client.post(
        f"/w/L1/pulse/{pulse_id}/answer", data={**data, "csrf_token": form_token(page.text)}
    )


def _open_form(client: FlaskClient, data: dict[str, str]) -> TestResponse:
    page = client.get("/w/L1/pulse/")
    assert page.status_code == 200
    return client.post("/w/L1/pulse/open", data={**data, "csrf_token": form_token(page.text)})


def test_a_student_answers_from_the_qa_page_and_sees_a_thank_you(
    app: Flask, site: CourseWorld
) -> None:
    client = sign_in(app, site, "giulia")
    assert 'id="pulse"' not in client.get("/w/L1/qa/").text  # none open: no box
    pulse_id = _open(app, site)
    page = client.get("/w/L1/qa/")
    assert "How is the course going for you?" in page.text
    assert "<legend>How is the course going for you?</legend>" in page.text
    assert '<label for="pulse-score-1">1 \u2013 Not well</label>' in page.text
    assert '<label for="pulse-score-5">5 \u2013 Very well</label>' in page.text
    assert '<label for="pulse-comment">' in page.text

    sent = _post_answer(client, pulse_id, {"score": "4", "comment": "Nice <b>labs</b>"})
    assert sent.status_code == 303
    assert sent.headers["Location"].endswith("/w/L1/qa/#pulse")
    after = client.get("/w/L1/qa/")
    assert "Thank you for your answer!" in after.text
    assert "you answered 4 out of 5" in after.text
    assert "Change my answer" in after.text
    assert "Nice &lt;b&gt;labs&lt;/b&gt;</textarea>" in after.text  # kept, escaped

    changed = _post_answer(client, pulse_id, {"score": "2", "comment": ""})
    assert changed.status_code == 303
    assert "you answered 2 out of 5" in client.get("/w/L1/qa/").text
    with app.app_context():
        rows = db.session.execute(select(PulseAnswer.score, PulseAnswer.comment)).all()
    assert [tuple(r) for r in rows] == [(2, "")]


def test_the_answer_works_without_javascript_on_a_page_of_its_own(
    app: Flask, site: CourseWorld
) -> None:
    pulse_id = _open(app, site, question="Is the pace right?")
    client = sign_in(app, site, "marco")
    page = client.get(f"/w/L1/pulse/{pulse_id}/answer")
    assert page.status_code == 200
    assert "<legend>Is the pace right?</legend>" in page.text
    sent = client.post(
        f"/w/L1/pulse/{pulse_id}/answer",
        data={"score": "5", "comment": "", "csrf_token": form_token(page.text)},
    )
    assert sent.status_code == 303
    again = client.get(f"/w/L1/pulse/{pulse_id}/answer")
    assert "You answered 5 out of 5" in again.text
    assert 'value="5" required checked' in again.text


def test_a_refused_answer_keeps_the_text_and_says_what_is_wrong(
    app: Flask, site: CourseWorld
) -> None:
    pulse_id = _open(app, site)
    client = sign_in(app, site, "giulia")
    no_score = _post_answer(client, pulse_id, {"comment": "Più esempi, per favore"})
    assert no_score.status_code == 422
    assert "Choose a point on the scale from 1 to 5." in no_score.text
    assert '<a href="#pulse-score-1">' in no_score.text  # the error links to the field
    assert 'aria-describedby="pulse-scale-help score-error"' in no_score.text
    assert "Più esempi, per favore</textarea>" in no_score.text

    too_long = _post_answer(client, pulse_id, {"score": "3", "comment": "x" * 1001})
    assert too_long.status_code == 422
    assert "Keep the comment under 1000 characters (it has 1001)." in too_long.text
    assert '<a href="#pulse-comment">' in too_long.text
    assert 'value="3" required checked' in too_long.text
    with app.app_context():
        assert db.session.scalar(select(PulseAnswer)) is None

    expired = client.post(f"/w/L1/pulse/{pulse_id}/answer", data={"score": "3", "comment": "kept"})
    assert expired.status_code == 400
    assert "Your session expired" in expired.text and "kept</textarea>" in expired.text


def test_a_closed_pulse_takes_no_answer(app: Flask, site: CourseWorld) -> None:
    pulse_id = _open(app, site)
    client = sign_in(app, site, "giulia")
    token = form_token(client.get("/w/L1/qa/").text)
    with app.app_context():
        services.close_pulse(db.session(), pulse_actor(site, "prof"), pulse_id)
    assert 'id="pulse"' not in client.get("/w/L1/qa/").text
    late = client.post(
        f"/w/L1/pulse/{pulse_id}/answer",
        data={"score": "3", "comment": "late", "csrf_token": token},
    )
    assert late.status_code == 409
    assert "This pulse is closed: answers are no longer taken." in late.text


@pytest.mark.parametrize("who", ["prof", "ta", "cm"])
def test_staff_do_not_answer_and_see_no_box(app: Flask, site: CourseWorld, who: str) -> None:
    pulse_id = _open(app, site)
    client = sign_in(app, site, who)
    page = client.get("/w/L1/qa/")
    assert page.status_code == 200 and 'id="pulse"' not in page.text
    refused = client.post(
        f"/w/L1/pulse/{pulse_id}/answer",
        data={"score": "5", "csrf_token": form_token(client.get("/w/L1/pulse/").text)},
    )
    assert refused.status_code == 403
    assert client.get(f"/w/L1/pulse/{pulse_id}/answer").status_code == 403


def test_students_cannot_reach_the_staff_pages(app: Flask, site: CourseWorld) -> None:
    pulse_id = _open(app, site)
    client = sign_in(app, site, "giulia")
    token = form_token(client.get("/w/L1/qa/").text)
    assert client.get("/w/L1/pulse/").status_code == 403
    assert client.get(f"/w/L1/pulse/{pulse_id}").status_code == 403
    assert client.get(f"/w/L1/pulse/{pulse_id}/export.csv").status_code == 403
    assert (
        client.post("/w/L1/pulse/open", data={"csrf_token": token, "days": "7"}).status_code == 403
    )
    closing = client.post(f"/w/L1/pulse/{pulse_id}/close", data={"csrf_token": token})
    assert closing.status_code == 403
    with app.app_context():
        assert services.current_pulse(db.session(), site.course_id) is not None
    assert app.test_client().get("/w/L1/pulse/").status_code == 401


def test_staff_open_a_pulse_and_a_second_is_a_clear_409(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "ta")
    dashboard = client.get("/w/L1/dashboard/")
    assert 'href="/w/L1/pulse/"' in dashboard.text  # in the dashboard's navigation
    empty = client.get("/w/L1/pulse/")
    assert "No pulse yet in this course." in empty.text
    assert '<label for="pulse-question">Question</label>' in empty.text
    opened = _open_form(
        client, {"question": "Are the labs useful?", "days": "5", "allow_comments": "1"}
    )
    assert opened.status_code == 303
    page = client.get("/w/L1/pulse/")
    assert "The pulse is open" in page.text
    assert "Are the labs useful?" in page.text
    assert "Open a pulse" not in page.text  # one at a time: no form while one is open

    second = client.post(
        "/w/L1/pulse/open",
        data={"question": "Another?", "days": "7", "csrf_token": form_token(page.text)},
    )
    assert second.status_code == 409
    assert "A pulse is already open in this course. Close it before opening another." in second.text
    with app.app_context():
        assert len(db.session.scalars(select(PulseSurvey)).all()) == 1


def test_a_refused_pulse_keeps_the_question_and_links_the_error(
    app: Flask, site: CourseWorld
) -> None:
    client = sign_in(app, site, "prof")
    refused = _open_form(client, {"question": "Why?", "days": "45"})
    assert refused.status_code == 422
    assert "Write a question of 5 to 200 characters, or leave it empty." in refused.text
    assert "Choose a number of days from 1 to 30." in refused.text
    assert '<a href="#pulse-question">' in refused.text and '<a href="#pulse-days">' in refused.text
    assert 'name="question" value="Why?"' in refused.text
    assert 'value="45"' in refused.text


def test_staff_close_a_pulse_early(app: Flask, site: CourseWorld) -> None:
    pulse_id = _open(app, site)
    client = sign_in(app, site, "cm")
    page = client.get("/w/L1/pulse/")
    assert "Close the pulse now" in page.text
    closed = client.post(
        f"/w/L1/pulse/{pulse_id}/close", data={"csrf_token": form_token(page.text)}
    )
    assert closed.status_code == 303
    after = client.get(closed.headers["Location"])
    assert "The pulse is closed." in after.text and "Close the pulse now" not in after.text
    assert "Open a pulse" in client.get("/w/L1/pulse/").text
    with app.app_context():
        assert services.current_pulse(db.session(), site.course_id) is None


def test_results_show_from_three_answers_and_never_names(app: Flask, site: CourseWorld) -> None:
    pulse_id = _open(app, site)
    staff = sign_in(app, site, "prof")
    _answer_directly(app, site, "giulia", pulse_id, 1, "Giulia here: the labs are too fast")
    _answer_directly(app, site, "marco", pulse_id, 4)
    few = staff.get("/w/L1/pulse/")
    assert "2 answers" in few.text
    assert "2 of 3 students answered (67%)" in few.text
    assert "Too few answers yet to show without identifying anyone" in few.text
    assert "the labs are too fast" not in few.text
    assert "Mean:" not in few.text

    _answer_directly(app, site, "sara", pulse_id, 4, "More <script>examples</script>")
    shown = staff.get(f"/w/L1/pulse/{pulse_id}")
    assert shown.status_code == 200
    assert "3 answers" in shown.text and "3 of 3 students answered (100%)" in shown.text
    assert "Too few answers" not in shown.text
    assert "<caption" in shown.text and '<th scope="col">' in shown.text
    assert '<th scope="row">4</th><td>2</td>' in shown.text
    assert '<th scope="row">1 \u2013 Not well</th><td>1</td>' in shown.text
    assert "Mean: 3.0 out of 5" in shown.text
    assert "Giulia here: the labs are too fast" in shown.text  # what she chose to write
    assert "More &lt;script&gt;examples&lt;/script&gt;" in shown.text
    for name in ("Giulia Rossi", "Marco Bianchi", "Sara Verdi"):
        assert name not in shown.text
    # The list of pulses shows the mean too, for the trend.
    assert "<td>3.0</td>" in shown.text


def test_the_csv_has_figures_and_comments_without_names_or_ids(
    app: Flask, site: CourseWorld
) -> None:
    pulse_id = _open(app, site, question="Is the pace right?")
    for key, score, comment in (("giulia", 2, "=SUM(A1)"), ("marco", 3, ""), ("sara", 5, "Great")):
        _answer_directly(app, site, key, pulse_id, score, comment)
    client = sign_in(app, site, "prof")
    page = client.get(f"/w/L1/pulse/{pulse_id}")
    link = html.unescape(_export_link(page.text))
    assert f"/w/L1/pulse/{pulse_id}/export.csv?t=" in link
    export = app.test_client().get(link)  # no cookie: a download outside the LMS frame
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
    text = export.text.lstrip("\ufeff")
    assert text.splitlines()[0] == "Figure,Value"
    assert "Question,Is the pace right?" in text
    assert "Answers,3" in text and "Students,3" in text and "Response rate (%),100" in text
    assert "Answers with 1 (Not well),0" in text and "Answers with 2,1" in text
    assert "Mean (1 to 5),3.3" in text
    assert "Comment,'=SUM(A1)" in text and "Comment,Great" in text
    assert len(text.splitlines()) == 15  # a header, 6 figures, 5 points, the mean, 2 comments
    for name in ("Giulia", "Marco", "Sara", "Rossi"):
        assert name not in text


def test_the_italian_csv_uses_semicolons_and_decimal_commas(app: Flask, site: CourseWorld) -> None:
    pulse_id = _open(app, site)
    for key, score in (("giulia", 2), ("marco", 3), ("sara", 5)):
        _answer_directly(app, site, key, pulse_id, score)
    client = _in_italian(sign_in(app, site, "prof"))
    export = client.get(f"/w/L1/pulse/{pulse_id}/export.csv")
    assert export.status_code == 200
    text = export.text.lstrip("\ufeff")
    assert text.splitlines()[0] == "Indicatore;Valore"
    assert ";3,3" in text


def test_a_few_answers_are_not_in_the_csv_either(app: Flask, site: CourseWorld) -> None:
    pulse_id = _open(app, site)
    _answer_directly(app, site, "giulia", pulse_id, 1, "Only me")
    export = sign_in(app, site, "prof").get(f"/w/L1/pulse/{pulse_id}/export.csv")
    assert "Only me" not in export.text
    assert "Too few answers yet to show without identifying anyone" in export.text


def test_another_courses_pulse_is_a_404(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        other = make_course(
            make_platform("https://other.example.org"),
            "course-2",
            {"prof": ("Other Prof", CourseRole.INSTRUCTOR), "ada": ("Ada", CourseRole.LEARNER)},
        )
    theirs = _open(app, other, question="Their own question?")
    ours = _open(app, site)  # the Q&A page has the answer form (and a form token)
    for key, course in (("prof", site), ("giulia", site)):
        client = sign_in(app, course, key)
        token = form_token(client.get("/w/L1/pulse/" if key == "prof" else "/w/L1/qa/").text)
        if key == "prof":
            assert client.get(f"/w/L1/pulse/{theirs}").status_code == 404
            assert client.get(f"/w/L1/pulse/{theirs}/export.csv").status_code == 404
            closing = client.post(f"/w/L1/pulse/{theirs}/close", data={"csrf_token": token})
            assert closing.status_code == 404
            assert "Their own question?" not in client.get("/w/L1/pulse/").text
        else:
            assert client.get(f"/w/L1/pulse/{theirs}/answer").status_code == 404
            sent = client.post(
                f"/w/L1/pulse/{theirs}/answer", data={"score": "3", "csrf_token": token}
            )
            assert sent.status_code == 404
            assert "Their own question?" not in client.get("/w/L1/qa/").text
    with app.app_context():
        pulse = db.session.get(PulseSurvey, theirs)
        assert pulse is not None and pulse.closed_at is None
        assert services.current_pulse(db.session(), site.course_id).id == ours  # type: ignore[union-attr]
        assert db.session.scalar(select(PulseAnswer)) is None


def test_the_pulse_pages_in_italian(app: Flask, site: CourseWorld) -> None:
    pulse_id = _open(app, site)
    student = _in_italian(sign_in(app, site, "giulia"))
    box = student.get("/w/L1/qa/")
    assert "Come sta andando il corso per te?" in box.text
    assert "How is the course going" not in box.text
    sent = _post_answer(student, pulse_id, {"comment": "niente"})
    assert sent.status_code == 422 and "Scegli un punto della scala da 1 a 5." in sent.text
    staff = _in_italian(sign_in(app, site, "prof"))
    page = staff.get("/w/L1/pulse/")
    assert "Sondaggio rapido" in page.text
    assert "Ancora troppo poche risposte per mostrarle" in page.text


def _export_link(text: str) -> str:
    marker = text.index("export.csv?t=")
    start = text.rindex('href="', 0, marker) + len('href="')
    return text[start : text.index('"', marker)]
