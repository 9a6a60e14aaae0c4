"""Moderation over HTTP: rights, isolation, the queue's forms, hidden posts as students see
them, warnings, and the code of conduct on launch."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lti_tool.community.moderation import conduct, services
from lti_tool.community.moderation.models import Flag, HiddenPost
from lti_tool.community.qa import services as qa
from lti_tool.community.qa.models import Answer
from lti_tool.extensions import db

from ..qa.conftest import CourseWorld, form_token, sign_in
from .conftest import other_course


def _flagged_question(
    app: Flask, site: CourseWorld, text: str = "Compra ora su spam.example"
) -> tuple[int, int]:
    """A question by Marco with an answer by Sara, the answer flagged by Giulia and Marco."""
    with app.app_context():
        question = qa.ask(
            db.session(), site["marco"], qa.QuestionInput(title="Domanda sugli integrali", body="Q")
        )
        answer = qa.answer(db.session(), site["sara"], question.id, text)
        qa.flag(db.session(), site["giulia"], "answer", answer.id, "spam", "pubblicità")
        flag = qa.flag(db.session(), site["marco"], "answer", answer.id, "offensive")
        return question.id, flag.id


def _token(client: FlaskClient, path: str = "/w/L1/qa/ask") -> str:
    return form_token(client.get(path).text)


def test_learner_gets_403_on_every_moderation_page_and_action(
    app: Flask, site: CourseWorld
) -> None:
    _question_id, flag_id = _flagged_question(app, site)
    with app.app_context():
        hidden = services.hide_post(
            db.session(), site.course_id, site["prof"].member_id, "qa_answer", 1, "x"
        )
        hidden_id = hidden.id
    client = sign_in(app, site, "giulia")
    for path in ("", f"flags/{flag_id}", "hidden", "audit", "conduct"):
        assert client.get(f"/w/L1/moderation/{path}").status_code == 403, path
    token = _token(client)
    posts = {
        f"flags/{flag_id}/decide": {"action": "dismiss", "reason": "no"},
        f"flags/{flag_id}/warn": {"message": "hi"},
        f"hidden/{hidden_id}/restore": {"reason": "no"},
        "conduct": {"body": "Nuove regole"},
    }
    for path, data in posts.items():
        response = client.post(f"/w/L1/moderation/{path}", data={"csrf_token": token, **data})
        assert response.status_code == 403, path
    with app.app_context():
        assert db.session.scalars(select(Flag.status)).all() == ["open", "open"]
        assert db.session.scalar(select(HiddenPost.id)) == hidden_id
        assert conduct.current_conduct(db.session(), site.course_id).version == 1
    # ... and sees no moderation link.
    assert "Moderation" not in client.get("/w/L1/me").text


def test_staff_of_another_course_get_404_for_foreign_ids(app: Flask, site: CourseWorld) -> None:
    _question_id, flag_id = _flagged_question(app, site)
    with app.app_context():
        hidden_id = services.hide_post(
            db.session(), site.course_id, site["prof"].member_id, "qa_answer", 1, "x"
        ).id
    elsewhere = other_course(app)
    olga = sign_in(app, elsewhere, "olga", lid="X9")
    assert olga.get(f"/w/X9/moderation/flags/{flag_id}").status_code == 404
    token = form_token(olga.get("/w/X9/moderation/conduct").text)
    for path, data in {
        f"flags/{flag_id}/decide": {"action": "resolve", "reason": "mine now"},
        f"flags/{flag_id}/warn": {"message": "hi"},
        f"hidden/{hidden_id}/restore": {"reason": "mine now"},
    }.items():
        response = olga.post(f"/w/X9/moderation/{path}", data={"csrf_token": token, **data})
        assert response.status_code == 404, path
    # Their queue is empty: nothing of the other LMS's course shows.
    queue = olga.get("/w/X9/moderation/")
    assert queue.status_code == 200 and "Domanda sugli integrali" not in queue.text
    with app.app_context():
        assert db.session.scalars(select(Flag.status)).all() == ["open", "open"]


def test_staff_resolve_a_flagged_post_and_the_audit_trail_shows_it(
    app: Flask, site: CourseWorld
) -> None:
    _question_id, flag_id = _flagged_question(app, site)
    prof = sign_in(app, site, "prof")
    queue = prof.get("/w/L1/moderation/?sort=most")
    assert queue.status_code == 200
    assert "<span>last flagged <time " in queue.text  # the date's markup, not escaped
    assert "Domanda sugli integrali" in queue.text and "2 flags" in queue.text
    assert "Spam (1)" in queue.text and "Offensive (1)" in queue.text
    assert "pubblicità" in queue.text
    case = prof.get(f"/w/L1/moderation/flags/{flag_id}")
    assert "Compra ora su spam.example" in case.text and "Giulia Rossi" in case.text

    # No reason: refused, and what was typed in the other form is kept.
    refused = prof.post(
        f"/w/L1/moderation/flags/{flag_id}/decide",
        data={"csrf_token": form_token(case.text), "action": "resolve", "reason": " "},
    )
    assert refused.status_code == 422 and "Say why: the audit trail keeps it." in refused.text
    done = prof.post(
        f"/w/L1/moderation/flags/{flag_id}/decide",
        data={"csrf_token": form_token(case.text), "action": "resolve", "reason": "Link rimosso"},
    )
    assert done.status_code == 303
    page = prof.get(done.headers["Location"])
    assert "2 flags resolved." in page.text and "Link rimosso" in page.text
    assert prof.get("/w/L1/moderation/").text.count("Domanda sugli integrali") == 0
    audit = prof.get("/w/L1/moderation/audit")
    assert "Resolved flags" in audit.text and "Anna Neri" in audit.text
    assert "Link rimosso" in audit.text and "(2 flags)" in audit.text


def test_hidden_posts_show_students_a_placeholder_and_staff_the_post(
    app: Flask, site: CourseWorld
) -> None:
    question_id, flag_id = _flagged_question(app, site, "Testo offensivo da nascondere")
    prof = sign_in(app, site, "prof")
    case = prof.get(f"/w/L1/moderation/flags/{flag_id}")
    hidden = prof.post(
        f"/w/L1/moderation/flags/{flag_id}/decide",
        data={"csrf_token": form_token(case.text), "action": "hide", "reason": "Offensivo"},
    )
    assert hidden.status_code == 303

    student = sign_in(app, site, "giulia")
    page = student.get(f"/w/L1/qa/{question_id}")
    assert "Hidden by moderators" in page.text
    assert "Testo offensivo da nascondere" not in page.text
    staff_page = prof.get(f"/w/L1/qa/{question_id}")
    assert "Testo offensivo da nascondere" in staff_page.text
    assert "Hidden by moderators: students see a placeholder." in staff_page.text

    # The hidden list restores it; students see it again.
    listing = prof.get("/w/L1/moderation/hidden")
    assert "Testo offensivo da nascondere" in listing.text and "Offensivo" in listing.text
    with app.app_context():
        hidden_id = db.session.scalar(select(HiddenPost.id))
    restored = prof.post(
        f"/w/L1/moderation/hidden/{hidden_id}/restore",
        data={"csrf_token": form_token(listing.text), "reason": "Era una citazione"},
    )
    assert restored.status_code == 303
    page = student.get(f"/w/L1/qa/{question_id}")
    assert "Testo offensivo da nascondere" in page.text and "Hidden by moderators" not in page.text


def test_a_hidden_question_leaves_the_students_list(app: Flask, site: CourseWorld) -> None:
    question_id, _flag_id = _flagged_question(app, site)
    with app.app_context():
        services.hide_post(
            db.session(), site.course_id, site["prof"].member_id, "qa_question", question_id, "x"
        )
    student = sign_in(app, site, "giulia")
    assert "Domanda sugli integrali" not in student.get("/w/L1/qa/").text
    page = student.get(f"/w/L1/qa/{question_id}")
    assert '<h1 id="qa-question-title">Hidden by moderators</h1>' in page.text
    assert student.get(f"/w/L1/qa/{question_id}/history").status_code == 404
    assert "Domanda sugli integrali" not in page.text
    # Nor do the pages around it name it: the comment and flag forms, or the editing of an
    # answer under it (Sara's own).
    with app.app_context():
        answer_id = db.session.scalar(select(Answer.id).where(Answer.question_id == question_id))
    around = [
        (student, f"/w/L1/qa/{question_id}/comment"),
        (student, f"/w/L1/qa/{question_id}/flag?kind=question&post_id={question_id}"),
        (sign_in(app, site, "sara"), f"/w/L1/qa/answers/{answer_id}/edit"),
    ]
    for client, path in around:
        shown = client.get(path)
        assert shown.status_code == 200, path
        assert "Domanda sugli integrali" not in shown.text, path
        assert "Hidden by moderators" in shown.text, path
    staff_list = sign_in(app, site, "prof").get("/w/L1/qa/").text
    assert "Domanda sugli integrali" in staff_list and "Hidden by moderators" in staff_list


def test_warning_reaches_the_author_as_a_notification(app: Flask, site: CourseWorld) -> None:
    _question_id, flag_id = _flagged_question(app, site)
    cm = sign_in(app, site, "cm")  # a community manager (a learner by LMS role) moderates too
    case = cm.get(f"/w/L1/moderation/flags/{flag_id}")
    assert case.status_code == 200
    too_long = "Resta in tema, per favore. " * 20
    refused = cm.post(
        f"/w/L1/moderation/flags/{flag_id}/warn",
        data={"csrf_token": form_token(case.text), "message": too_long},
    )
    assert refused.status_code == 422 and too_long.strip() in refused.text
    sent = cm.post(
        f"/w/L1/moderation/flags/{flag_id}/warn",
        data={"csrf_token": form_token(case.text), "message": "Niente pubblicità, grazie."},
    )
    assert sent.status_code == 303
    notes = sign_in(app, site, "sara").get("/w/L1/qa/notifications")
    assert "A message from the moderators:" in notes.text
    assert "Niente pubblicità, grazie." in notes.text and "Elena Costa" in notes.text
    audit = cm.get("/w/L1/moderation/audit")
    assert "Warned a member" in audit.text and "Sara Verdi" in audit.text


def test_an_expired_form_token_keeps_the_reason(app: Flask, site: CourseWorld) -> None:
    _question_id, flag_id = _flagged_question(app, site)
    prof = sign_in(app, site, "prof")
    response = prof.post(
        f"/w/L1/moderation/flags/{flag_id}/decide",
        data={"csrf_token": "stale", "action": "dismiss", "reason": "Il mio motivo scritto"},
    )
    assert response.status_code == 400
    assert "Il mio motivo scritto</textarea>" in response.text


# --- code of conduct -------------------------------------------------------------------------


def _accept(client: FlaskClient, page_text: str, version: str, lid: str = "L1") -> str:
    response = client.post(
        f"/w/{lid}/moderation/conduct/accept",
        data={"csrf_token": form_token(page_text), "version": version},
    )
    assert response.status_code == 303
    return str(response.headers["Location"])


def test_first_launch_shows_the_code_then_continues_to_the_widget(
    app: Flask, site: CourseWorld
) -> None:
    student = sign_in(app, site, "giulia", accepted=False)
    first = student.get("/w/L1/")
    assert first.status_code == 200
    assert "Be respectful" in first.text and "I accept" in first.text
    assert "Giulia Rossi" in first.text and 'name="version" value="1"' in first.text
    assert student.get("/w/L1/qa/").text.count("I accept") == 1  # where Q&A launches land
    assert _accept(student, first.text, "1").endswith("/w/L1/")
    assert "I accept" not in student.get("/w/L1/qa/").text
    landing = student.get("/w/L1/")
    assert landing.status_code == 302
    # After the code of conduct, a student who has not introduced themselves is invited to.
    assert landing.headers["Location"].endswith("/w/L1/qa/?welcome=1")
    # Staff are not asked: they write the code and enforce it.
    assert sign_in(app, site, "prof").get("/w/L1/").status_code == 302


def test_an_italian_launch_shows_the_italian_code(app: Flask, site: CourseWorld) -> None:
    student = sign_in(app, site, "giulia", accepted=False)
    with student.session_transaction() as session:
        launches = session["launches"]
        launches["L1"]["l"] = "it"
        session["launches"] = launches
    page = student.get("/w/L1/")
    assert "Sii rispettoso" in page.text and "Accetto" in page.text


def test_a_new_version_is_shown_again_and_the_old_page_cannot_accept_it(
    app: Flask, site: CourseWorld
) -> None:
    student = sign_in(app, site, "giulia", accepted=False)
    _accept(student, student.get("/w/L1/").text, "1")
    stale = student.get("/w/L1/qa/ask").text  # any form, for a token

    prof = sign_in(app, site, "prof")
    form = prof.get("/w/L1/moderation/conduct")
    assert "Be respectful" in form.text
    saved = prof.post(
        "/w/L1/moderation/conduct",
        data={
            "csrf_token": form_token(form.text),
            "body": "**Niente spoiler** degli esami.",
            "note": "Aggiunta regola spoiler",
        },
    )
    assert saved.status_code == 303
    page = prof.get(saved.headers["Location"])
    assert "Version 2 is saved" in page.text and "<strong>Niente spoiler</strong>" in page.text

    # The launch she is in goes on; her next launch asks for version 2.
    assert student.get("/w/L1/").status_code == 302
    relaunched = sign_in(app, site, "giulia", lid="L2", accepted=False)
    again = relaunched.get("/w/L2/")
    assert again.status_code == 200 and "<strong>Niente spoiler</strong>" in again.text
    assert 'name="version" value="2"' in again.text
    refused = student.post(
        "/w/L1/moderation/conduct/accept", data={"csrf_token": form_token(stale), "version": "1"}
    )
    assert refused.status_code == 409 and "changed meanwhile" in refused.text
    _accept(relaunched, again.text, "2", lid="L2")
    assert relaunched.get("/w/L2/").status_code == 302
    with app.app_context():
        assert (
            conduct.pending_conduct_version(db.session(), site.course_id, site["giulia"].member_id)
            is None
        )
    audit = prof.get("/w/L1/moderation/audit")
    assert "Changed the code of conduct" in audit.text and "Aggiunta regola spoiler" in audit.text


def test_a_failed_edit_keeps_the_staffs_text(app: Flask, site: CourseWorld) -> None:
    prof = sign_in(app, site, "prof")
    form = prof.get("/w/L1/moderation/conduct")
    long_text = "Regola lunghissima. " * 1001  # over 20,000 characters
    refused = prof.post(
        "/w/L1/moderation/conduct", data={"csrf_token": form_token(form.text), "body": long_text}
    )
    assert refused.status_code == 422
    assert long_text.strip() in refused.text and 'aria-invalid="true"' in refused.text
    expired = prof.post(
        "/w/L1/moderation/conduct", data={"csrf_token": "stale", "body": "Testo da non perdere"}
    )
    assert expired.status_code == 400 and "Testo da non perdere</textarea>" in expired.text
    with app.app_context():
        assert conduct.current_conduct(db.session(), site.course_id).version == 1


def test_staff_see_the_moderation_link(app: Flask, site: CourseWorld) -> None:
    page = sign_in(app, site, "ta").get("/w/L1/me")
    assert "/w/L1/moderation/" in page.text and "Moderation" in page.text


def test_a_refused_restore_keeps_its_reason_in_its_row(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        first = services.hide_post(
            db.session(), site.course_id, site["prof"].member_id, "qa_answer", 1, "uno"
        ).id
        services.hide_post(
            db.session(), site.course_id, site["prof"].member_id, "qa_answer", 2, "due"
        )
    prof = sign_in(app, site, "prof")
    listing = prof.get("/w/L1/moderation/hidden")
    empty = prof.post(
        f"/w/L1/moderation/hidden/{first}/restore",
        data={"csrf_token": form_token(listing.text), "reason": "  "},
    )
    assert empty.status_code == 422 and "Say why" in empty.text
    expired = prof.post(
        f"/w/L1/moderation/hidden/{first}/restore",
        data={"csrf_token": "stale", "reason": "Motivo da non perdere"},
    )
    assert expired.status_code == 400
    assert expired.text.count('value="Motivo da non perdere"') == 1
    with app.app_context():
        assert len(services.hidden_posts(db.session(), site.course_id)) == 2


def test_saving_the_code_unchanged_does_not_ask_everyone_again(
    app: Flask, site: CourseWorld
) -> None:
    """The form opens with the current code: a save without an edit keeps the version."""
    prof = sign_in(app, site, "prof")
    for expected_version in (1, 2):
        form = prof.get("/w/L1/moderation/conduct")
        body = re.search(r"<textarea[^>]*>(.*?)</textarea>", form.text, re.S)
        assert body is not None
        text = html.unescape(body.group(1)).replace("\n", "\r\n")  # as a browser sends it
        refused = prof.post(
            "/w/L1/moderation/conduct", data={"csrf_token": form_token(form.text), "body": text}
        )
        assert refused.status_code == 422 and "Nothing changed" in refused.text
        with app.app_context():
            current = conduct.current_conduct(db.session(), site.course_id)
            assert current.version == expected_version
        if expected_version == 1:
            saved = prof.post(
                "/w/L1/moderation/conduct",
                data={"csrf_token": form_token(form.text), "body": "Niente spoiler.\n\nMai."},
            )
            assert saved.status_code == 303


def test_hide_and_resolve_after_another_moderator_closed_the_flags(
    app: Flask, site: CourseWorld
) -> None:
    """Two moderators on the same case: one resolved the flags, the other presses Hide and
    resolve a moment later. The post is hidden and the page says so (not a 409)."""
    question_id, flag_id = _flagged_question(app, site, "Testo da nascondere comunque")
    prof, ta = sign_in(app, site, "prof"), sign_in(app, site, "ta")
    case = ta.get(f"/w/L1/moderation/flags/{flag_id}")  # opened before the flags were closed
    with app.app_context():
        services.resolve_flags(db.session(), site.course_id, site["prof"].member_id, flag_id, "ok")
    done = ta.post(
        f"/w/L1/moderation/flags/{flag_id}/decide",
        data={"csrf_token": form_token(case.text), "action": "hide_resolve", "reason": "Spam"},
    )
    assert done.status_code == 303
    assert "its flags had already been handled" in ta.get(done.headers["Location"]).text
    assert (
        "Hidden by moderators" in sign_in(app, site, "giulia").get(f"/w/L1/qa/{question_id}").text
    )
    # Pressed again: nothing left to do, said as a conflict.
    again = ta.post(
        f"/w/L1/moderation/flags/{flag_id}/decide",
        data={"csrf_token": form_token(case.text), "action": "hide_resolve", "reason": "Spam"},
    )
    assert again.status_code == 409
    assert prof.get("/w/L1/moderation/hidden").text.count("Testo da nascondere comunque") == 1
