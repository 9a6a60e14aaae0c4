"""Kudos and recognition pages over HTTP: forms keep their text, rights hold, courses stay apart."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import record
from lti_tool.community.kudos import services
from lti_tool.community.kudos.models import Kudos, KudosCategory
from lti_tool.community.qa import services as qa
from lti_tool.community.qa.services import QuestionInput
from lti_tool.community.recognition.models import RecognitionSettings
from lti_tool.courses.models import Enrolment
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from .conftest import CourseWorld, form_token, make_course, make_platform, sign_in

MESSAGE = "Grazie per la spiegazione <b>chiarissima</b> sugli integrali!"


def _category_id(app: Flask, world: CourseWorld, code: str = "helpful_answer") -> int:
    with app.app_context():
        return next(
            c.id for c in services.categories(db.session(), world.course_id) if c.code == code
        )


def _give(client: FlaskClient, data: dict[str, object], token: bool = True) -> TestResponse:
    page = client.get("/w/L1/kudos/give")
    assert page.status_code == 200
    fields = {**data, "csrf_token": form_token(page.text)} if token else data
    return client.post("/w/L1/kudos/give", data=fields)


def _kudos_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Kudos)) or 0)


def test_widget_kudos_lands_on_the_wall(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    with client.session_transaction() as session:
        launches = session["launches"]
        launches["L1"]["w"] = "kudos"
        session["launches"] = dict(launches)
        session.modified = True
    landing = client.get("/w/L1/")
    assert landing.status_code == 302
    # A student who has not introduced themselves yet lands with the welcome prompt.
    assert landing.headers["Location"].endswith("/w/L1/kudos/?welcome=1")
    page = client.get(landing.headers["Location"])
    assert page.status_code == 200 and "Kudos wall" in page.text
    assert "Welcome to the community!" in page.text
    assert app.test_client().get("/w/L1/kudos/").status_code == 401


@pytest.mark.parametrize(
    "after", ["999999999999999999-1", "1-99999999999999999999999", "253402300800000000-1"]
)
def test_a_wall_link_edited_beyond_any_date_shows_the_first_page(
    app: Flask, site: CourseWorld, after: str
) -> None:
    client = sign_in(app, site, "giulia")
    page = client.get(f"/w/L1/kudos/?after={after}")
    assert page.status_code == 200 and "Kudos wall" in page.text


def test_giving_kudos_shows_it_on_the_wall_for_the_receiver(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    sent = _give(
        client,
        {
            "receiver": site["marco"].member_id,
            "category": _category_id(app, site),
            "message": MESSAGE,
        },
    )
    assert sent.status_code == 303
    marco = sign_in(app, site, "marco")
    wall = marco.get("/w/L1/kudos/")
    assert "Giulia Rossi" in wall.text and "Marco Bianchi" in wall.text
    # Read out as "Giulia Rossi to Marco Bianchi"; the arrow is for the eyes only.
    assert (
        '<strong>Giulia Rossi</strong> <span aria-hidden="true">→</span>'
        '<span class="visually-hidden">to</span> <strong>Marco Bianchi</strong>'
    ) in wall.text
    assert "Grazie per la spiegazione &lt;b&gt;chiarissima&lt;/b&gt;" in wall.text  # escaped
    notes = marco.get("/w/L1/qa/notifications")
    assert "You received kudos:" in notes.text and "chiarissima" in notes.text
    assert 'href="/w/L1/kudos/#kudos-1">' in notes.text


def test_self_kudos_is_refused_with_the_text_kept(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    refused = _give(
        client,
        {
            "receiver": site["giulia"].member_id,
            "category": _category_id(app, site),
            "message": MESSAGE,
        },
    )
    assert refused.status_code == 422
    assert "You cannot give kudos to yourself." in refused.text
    assert (
        "Grazie per la spiegazione &lt;b&gt;chiarissima&lt;/b&gt; sugli integrali!</textarea>"
        in (refused.text)
    )
    assert _kudos_count(app) == 0


def test_the_daily_limit_says_so_and_keeps_the_text(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        services.update_settings(
            db.session(),
            services.Actor(site["prof"].member_id, site.course_id, True),
            daily_limit=1,
        )
    client = sign_in(app, site, "giulia")
    data = {"receiver": site["marco"].member_id, "category": _category_id(app, site)}
    assert _give(client, {**data, "message": "first"}).status_code == 303
    limited = _give(client, {**data, "message": MESSAGE})
    assert limited.status_code == 429
    assert "You have given your 1 kudos for today" in limited.text
    assert "sugli integrali!</textarea>" in limited.text
    assert "You can give 0 more kudos today." in limited.text


def test_a_post_without_the_form_token_is_refused_with_the_text(
    app: Flask, site: CourseWorld
) -> None:
    client = sign_in(app, site, "giulia")
    refused = _give(
        client,
        {
            "receiver": site["marco"].member_id,
            "category": _category_id(app, site),
            "message": MESSAGE,
        },
        token=False,
    )
    assert refused.status_code == 400
    assert "Your session expired" in refused.text and "sugli integrali!</textarea>" in refused.text
    assert _kudos_count(app) == 0


def test_ids_of_another_course_are_404(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        other = make_course(
            make_platform("https://other.example.org"),
            "course-2",
            {"outsider": ("Olga Esterna", CourseRole.LEARNER)},
        )
        foreign_category = services.categories(db.session(), other.course_id)[0].id
        foreign_enrolment = db.session.scalar(
            select(Enrolment.id).where(Enrolment.course_id == other.course_id)
        )
    client = sign_in(app, site, "giulia")
    to_outsider = _give(
        client,
        {
            "receiver": other["outsider"].member_id,
            "category": _category_id(app, site),
            "message": MESSAGE,
        },
    )
    assert to_outsider.status_code == 404 and "sugli integrali!</textarea>" in to_outsider.text
    foreign = _give(
        client,
        {"receiver": site["marco"].member_id, "category": foreign_category, "message": MESSAGE},
    )
    assert foreign.status_code == 404
    assert client.get(f"/w/L1/kudos/?category={foreign_category}").status_code == 404
    prof = sign_in(app, site, "prof")
    settings = prof.get("/w/L1/kudos/settings")
    granted = prof.post(
        f"/w/L1/recognition/mentors/{foreign_enrolment}",
        data={"csrf_token": form_token(settings.text), "grant": "1"},
    )
    assert granted.status_code == 404
    retire = prof.post(
        f"/w/L1/kudos/settings/categories/{foreign_category}/retire",
        data={"csrf_token": form_token(settings.text), "retired": "1"},
    )
    assert retire.status_code == 404
    assert _kudos_count(app) == 0


def test_students_cannot_reach_staff_pages(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "giulia")
    token = form_token(client.get("/w/L1/kudos/give").text)
    assert client.get("/w/L1/kudos/settings").status_code == 403
    assert client.get("/w/L1/recognition/mentors").status_code == 403
    for path, data in [
        ("/w/L1/kudos/settings", {"daily_limit": "50"}),
        ("/w/L1/kudos/settings/categories", {"name": "Mine"}),
        ("/w/L1/recognition/top-helpers", {"enabled": "1"}),
        ("/w/L1/recognition/mentors/1", {"grant": "1"}),
    ]:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403
    # The community manager (a student with Bottega's role) may.
    assert sign_in(app, site, "cm").get("/w/L1/recognition/mentors").status_code == 200


def test_staff_edit_the_limit_and_categories(app: Flask, site: CourseWorld) -> None:
    prof = sign_in(app, site, "prof")
    page = prof.get("/w/L1/kudos/settings")
    token = form_token(page.text)
    assert (
        prof.post(
            "/w/L1/kudos/settings", data={"csrf_token": token, "daily_limit": "3"}
        ).status_code
        == 303
    )
    bad = prof.post("/w/L1/kudos/settings", data={"csrf_token": token, "daily_limit": "0"})
    assert bad.status_code == 422 and "Choose a number from 1 to 50." in bad.text
    added = prof.post(
        "/w/L1/kudos/settings/categories", data={"csrf_token": token, "name": "Kindness"}
    )
    assert added.status_code == 303
    give = sign_in(app, site, "giulia").get("/w/L1/kudos/give")
    assert "Kindness" in give.text and "You can give 3 more kudos today." in give.text
    # Renaming a category to a name in use is refused, and its form keeps what was typed.
    prof.post("/w/L1/kudos/settings/categories", data={"csrf_token": token, "name": "Patience"})
    with app.app_context():
        category_id = db.session.scalar(
            select(KudosCategory.id).where(KudosCategory.name == "Patience")
        )
    taken = prof.post(
        "/w/L1/kudos/settings/categories",
        data={"csrf_token": token, "category_id": str(category_id), "name": "Kindness"},
    )
    assert taken.status_code == 422
    assert f'id="kudos-cat-{category_id}" name="name" value="Kindness"' in taken.text


def _helping(app: Flask, site: CourseWorld) -> None:
    """Marco's answer is accepted and thanked: he becomes the obvious mentor candidate."""
    with app.app_context():
        question = qa.ask(db.session(), site["giulia"], QuestionInput(title="Come si deriva?"))
        answer = qa.answer(db.session(), site["marco"], question.id, "Con la regola della catena")
        qa.accept(db.session(), site["giulia"], answer.id)


def test_staff_grant_a_peer_mentor_who_then_endorses_answers(app: Flask, site: CourseWorld) -> None:
    _helping(app, site)
    prof = sign_in(app, site, "prof")
    page = prof.get("/w/L1/recognition/mentors")
    assert page.status_code == 200
    assert "Marco Bianchi" in page.text and "1 accepted answer" in page.text
    # The button's name starts with the word it shows (voice control: "click Grant").
    assert 'Grant<span class="visually-hidden">: Make Marco Bianchi a peer mentor</span>' in (
        page.text
    )
    with app.app_context():
        enrolment_id = db.session.scalar(
            select(Enrolment.id).where(Enrolment.member_id == site["marco"].member_id)
        )
        question_id, answer_id = (
            qa.ask(db.session(), site["sara"], QuestionInput(title="Che cos'è un limite?")).id,
            None,
        )
        answer_id = qa.answer(db.session(), site["giulia"], question_id, "Un valore a cui...").id
    granted = prof.post(
        f"/w/L1/recognition/mentors/{enrolment_id}",
        data={"csrf_token": form_token(page.text), "grant": "1"},
    )
    assert granted.status_code == 303
    marco = sign_in(app, site, "marco")
    thread = marco.get(f"/w/L1/qa/{question_id}")
    assert f"/w/L1/qa/answers/{answer_id}/endorse" in thread.text
    endorsed = marco.post(
        f"/w/L1/qa/answers/{answer_id}/endorse", data={"csrf_token": form_token(thread.text)}
    )
    assert endorsed.status_code == 303
    # The mark by his name, in Q&A author lines and on the wall.
    viewed = sign_in(app, site, "sara").get("/w/L1/qa/1")
    assert 'Marco Bianchi</span> <span class="mentor-mark">Peer mentor</span>' in viewed.text
    # His endorsement is labelled as a peer mentor's, not staff's.
    endorsed_thread = sign_in(app, site, "sara").get(f"/w/L1/qa/{question_id}")
    assert '<span class="qa-endorsed">Endorsed by a peer mentor</span>' in endorsed_thread.text
    assert "Endorsed by staff" not in endorsed_thread.text
    # A peer mentor endorses answers only, not questions.
    refused = marco.post(
        f"/w/L1/qa/{question_id}/endorse", data={"csrf_token": form_token(thread.text)}
    )
    assert refused.status_code == 403
    assert "Peer mentors can endorse other people&#39;s answers only." in refused.text
    # Withdrawn: no more endorsing.
    prof.post(
        f"/w/L1/recognition/mentors/{enrolment_id}",
        data={"csrf_token": form_token(page.text), "grant": "0"},
    )
    again = marco.post(
        f"/w/L1/qa/answers/{answer_id}/endorse", data={"csrf_token": form_token(thread.text)}
    )
    assert again.status_code == 403


def test_the_leaderboard_is_off_for_students_until_staff_turn_it_on(
    app: Flask, site: CourseWorld
) -> None:
    _helping(app, site)
    marco = sign_in(app, site, "marco")
    page = marco.get("/w/L1/recognition/top-helpers")
    assert "Your helper points this week: 3." in page.text
    assert "board is turned off." in page.text
    assert '<ol class="leaderboard">' not in page.text
    prof = sign_in(app, site, "prof")
    board = prof.get("/w/L1/recognition/top-helpers")
    assert "Marco Bianchi" in board.text  # staff always see it
    prof.post(
        "/w/L1/recognition/top-helpers", data={"csrf_token": form_token(board.text), "enabled": "1"}
    )
    with app.app_context():
        assert db.session.get(RecognitionSettings, site.course_id).leaderboard_enabled
    shown = sign_in(app, site, "sara").get("/w/L1/recognition/top-helpers")
    assert "Marco Bianchi" in shown.text and "3 points" in shown.text


def test_my_recognition_shows_kudos_badges_and_history(app: Flask, site: CourseWorld) -> None:
    _helping(app, site)
    client = sign_in(app, site, "giulia")
    _give(
        client,
        {
            "receiver": site["marco"].member_id,
            "category": _category_id(app, site),
            "message": "Top!",
        },
    )
    with app.app_context():
        record(
            db.session(),
            course_id=site.course_id,
            member_id=site["marco"].member_id,
            kind=EventKind.GROUP_POST,
            subject_type="groups_post",
            subject_id=1,
        )
        db.session.commit()
    from lti_tool.jobs.runtime import runtime_of

    runtime_of(app).drain("test-worker")
    page = sign_in(app, site, "marco").get("/w/L1/recognition/me")
    assert page.status_code == 200
    text = page.text
    assert "Kudos received</dt><dd>1</dd>" in text
    assert "First answer" in text and "First accepted answer" in text and "Earned" in text
    assert "Answers written</th><td>1</td>" in text and "Group posts</th><td>1</td>" in text
    assert "Top!" in text
    feed = client.get("/w/L1/recognition/celebrations")
    assert "Marco Bianchi" in feed.text and "First accepted answer" in feed.text
    # One sentence, markup kept (not escaped) inside the translated words.
    assert '<strong>Marco Bianchi</strong> earned the badge <span class="kudos-category">' in (
        feed.text
    )


def test_kudos_given_from_an_answer_links_back_to_it(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        question = qa.ask(db.session(), site["giulia"], QuestionInput(title="Come si deriva?"))
        answer = qa.answer(db.session(), site["marco"], question.id, "Con la regola della catena")
        hidden = qa.answer(
            db.session(), site["sara"], question.id, "In forma anonima", anonymous=True
        )
        question_id, answer_id, hidden_id = question.id, answer.id, hidden.id
    client = sign_in(app, site, "giulia")
    thread = client.get(f"/w/L1/qa/{question_id}")
    link = f"/w/L1/kudos/give?to={site['marco'].member_id}&amp;answer={answer_id}"
    assert link in thread.text
    assert f"answer={hidden_id}" not in thread.text  # never for an anonymous answer
    form = client.get(link.replace("&amp;", "&"))
    assert f'<option value="{site["marco"].member_id}" selected>' in form.text
    assert f'name="answer" value="{answer_id}"' in form.text
    sent = client.post(
        "/w/L1/kudos/give",
        data={
            "csrf_token": form_token(form.text),
            "receiver": site["marco"].member_id,
            "answer": answer_id,
            "category": _category_id(app, site),
            "message": "Chiarissimo",
        },
    )
    assert sent.status_code == 303
    wall = client.get("/w/L1/kudos/")
    assert f'href="/w/L1/qa/{question_id}#answer-{answer_id}">Come si deriva?</a>' in wall.text
    anonymous = client.post(
        "/w/L1/kudos/give",
        data={
            "csrf_token": form_token(form.text),
            "receiver": site["sara"].member_id,
            "answer": hidden_id,
            "category": _category_id(app, site),
            "message": "Grazie anonimo",
        },
    )
    assert anonymous.status_code == 422
    assert "Kudos cannot point to an anonymous post." in anonymous.text
    assert "Grazie anonimo</textarea>" in anonymous.text


def test_an_italian_launch_shows_the_wall_in_italian(app: Flask, site: CourseWorld) -> None:
    english = sign_in(app, site, "marco")
    assert "Helpful answer" in english.get("/w/L1/kudos/").text  # labels cached per language
    client = sign_in(app, site, "giulia")
    with client.session_transaction() as session:
        launches = session["launches"]
        launches["L1"]["l"] = "it"
        session["launches"] = dict(launches)
        session.modified = True
    page = client.get("/w/L1/kudos/")
    assert "Bacheca dei kudos" in page.text and "Risposta utile" in page.text
    assert "Helpful answer" not in page.text
    assert "Helpful answer" in english.get("/w/L1/kudos/").text
