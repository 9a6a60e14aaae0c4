"""Introductions and their replies under moderation: flagged by members, hidden and restored by
moderators, like Q&A and group posts."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lti_tool.community.engagement.models import ParticipationEvent
from lti_tool.community.grades.services import Rubric, compute_scores
from lti_tool.community.moderation.models import Flag
from lti_tool.community.welcome import services
from lti_tool.extensions import db

from ..moderation.conftest import other_course
from ..qa.conftest import CourseWorld, form_token, sign_in


class _WelcomePoints(Rubric):
    """A rubric that gives points for welcomes (the course's form has no field for them)."""

    def points(self) -> dict[str, float]:
        return super().points() | {"welcome": 5.0}


def _introduce(app: Flask, site: CourseWorld, who: str, body: str) -> int:
    with app.app_context():
        return services.introduce(db.session, site.course_id, site[who].member_id, body).id


def _reply(app: Flask, site: CourseWorld, who: str, intro_id: int, body: str) -> int:
    with app.app_context():
        return services.welcome(db.session, site.course_id, site[who].member_id, intro_id, body).id


def _flag(client: FlaskClient, path: str, reason: str = "spam", note: str = "") -> int:
    """Flag from the introductions page as a member does; returns the HTTP status."""
    page = client.get("/w/L1/welcome/").text
    data = {"csrf_token": form_token(page), "reason": reason, "note": note}
    return client.post(f"/w/L1/welcome/{path}/flag", data=data).status_code


def _decide(prof: FlaskClient, action: str, reason: str) -> None:
    """Take the newest case of the queue and decide on it from its page."""
    flag_id = re.search(r"/w/L1/moderation/flags/(\d+)", prof.get("/w/L1/moderation/").text)
    assert flag_id
    url = f"/w/L1/moderation/flags/{flag_id.group(1)}"
    data = {"csrf_token": form_token(prof.get(url).text), "action": action, "reason": reason}
    assert prof.post(url + "/decide", data=data).status_code == 303


def test_a_flagged_introduction_is_hidden_from_students_and_restored(
    app: Flask, site: CourseWorld
) -> None:
    intro_id = _introduce(app, site, "giulia", "Compra follower su spam.example")
    marco = sign_in(app, site, "marco")
    page = marco.get("/w/L1/welcome/").text
    assert f'action="/w/L1/welcome/{intro_id}/flag"' in page
    flagged = marco.post(
        f"/w/L1/welcome/{intro_id}/flag",
        data={"csrf_token": form_token(page), "reason": "spam", "note": "pubblicità"},
    )
    assert flagged.status_code == 303
    assert "the moderators will look at it" in marco.get(flagged.headers["Location"]).text

    prof = sign_in(app, site, "prof")
    queue = prof.get("/w/L1/moderation/").text
    assert "Introduction: Giulia Rossi" in queue and "Compra follower su spam.example" in queue
    flag_id = re.search(r"/w/L1/moderation/flags/(\d+)", queue)
    assert flag_id
    case = prof.get(f"/w/L1/moderation/flags/{flag_id.group(1)}").text
    assert f'href="/w/L1/welcome/?intro={intro_id}#intro-{intro_id}"' in case
    _decide(prof, "hide", "Spam")

    for member in ("marco", "giulia", "sara"):  # the author too: a placeholder
        text = sign_in(app, site, member).get("/w/L1/welcome/").text
        assert "spam.example" not in text and "Hidden by moderators" in text
        assert f'id="reply-{intro_id}"' not in text  # no welcome to a hidden introduction
    refused = marco.post(
        f"/w/L1/welcome/{intro_id}/reply", data={"csrf_token": form_token(page), "body": "Ciao"}
    )
    assert refused.status_code == 404
    staff_page = prof.get("/w/L1/welcome/").text
    assert "Compra follower su spam.example" in staff_page
    assert "Hidden by moderators: students see a placeholder." in staff_page

    _decide(prof, "restore", "Falso allarme")
    text = marco.get("/w/L1/welcome/").text
    assert "Compra follower su spam.example" in text and "Hidden by moderators" not in text
    audit = prof.get("/w/L1/moderation/audit").text
    assert "Hid a post" in audit and "Restored a post" in audit
    assert "Introduction: Giulia Rossi" in audit and "Falso allarme" in audit


def test_a_hidden_reply_leaves_the_page_and_the_notification_and_earns_nothing(
    app: Flask, site: CourseWorld
) -> None:
    intro_id = _introduce(app, site, "giulia", "Ciao, sono Giulia")
    marco = sign_in(app, site, "marco")
    page = marco.get("/w/L1/welcome/").text
    marco.post(
        f"/w/L1/welcome/{intro_id}/reply",
        data={"csrf_token": form_token(page), "body": "Benvenuta! Visita spam.example"},
    )
    giulia = sign_in(app, site, "giulia")
    assert "Visita spam.example" in giulia.get("/w/L1/qa/notifications").text
    with app.app_context():
        reply_id = services.introductions(db.session, site.course_id)[0].replies[0][0].id
    # Marco may not flag his own reply; Giulia may.
    assert f'action="/w/L1/welcome/replies/{reply_id}/flag"' not in page
    assert _flag(giulia, f"replies/{reply_id}", "offensive") == 303
    prof = sign_in(app, site, "prof")
    assert "Reply to an introduction: Giulia Rossi" in prof.get("/w/L1/moderation/").text
    _decide(prof, "hide", "Pubblicità")

    for client in (giulia, marco):
        text = client.get("/w/L1/welcome/").text
        assert "spam.example" not in text and "Hidden by moderators" in text
        assert "Ciao, sono Giulia" in text  # the introduction itself stays
        assert f'action="/w/L1/welcome/replies/{reply_id}/flag"' not in text  # nothing to read
    notes = giulia.get("/w/L1/qa/notifications").text
    assert "spam.example" not in notes
    assert "A message you were notified about is no longer available." in notes
    assert "spam.example" in prof.get("/w/L1/welcome/").text
    with app.app_context():
        events = db.session.execute(
            select(ParticipationEvent.subject_type, ParticipationEvent.subject_id).where(
                ParticipationEvent.kind == "welcome"
            )
        ).all()
        assert events == [("welcome_reply", reply_id)]
        # Nothing for a hidden reply, whichever points a rubric gives welcomes.
        marco_id = site["marco"].member_id
        scores = compute_scores(db.session, site.course_id, _WelcomePoints(), [marco_id])
        assert scores == {marco_id: 0.0}


def test_a_hidden_introduction_waits_for_no_welcome(app: Flask, site: CourseWorld) -> None:
    intro_id = _introduce(app, site, "sara", "Testo da nascondere")
    ta = sign_in(app, site, "ta")
    assert "1 introduction nobody has welcomed yet" in ta.get("/w/L1/welcome/").text
    assert _flag(sign_in(app, site, "marco"), str(intro_id)) == 303
    _decide(sign_in(app, site, "prof"), "hide", "Fuori tema")
    assert "0 introductions nobody has welcomed yet" in ta.get("/w/L1/welcome/").text
    assert "Everyone has been welcomed." in ta.get("/w/L1/welcome/?unanswered=1").text
    assert "nobody has welcomed yet" not in ta.get("/w/L1/dashboard/hanging").text
    with app.app_context():
        assert services.unanswered_count(db.session, site.course_id) == 0


def test_members_may_not_flag_their_own_introduction_or_another_courses(
    app: Flask, site: CourseWorld
) -> None:
    own = _introduce(app, site, "giulia", "Ciao a tutti")
    giulia = sign_in(app, site, "giulia")
    page = giulia.get("/w/L1/welcome/").text
    assert "Ciao a tutti" in page and f'action="/w/L1/welcome/{own}/flag"' not in page
    refused = giulia.post(
        f"/w/L1/welcome/{own}/flag", data={"csrf_token": form_token(page), "reason": "spam"}
    )
    assert refused.status_code == 403 and "You cannot flag your own post." in refused.text

    other = other_course(app)
    with app.app_context():
        theirs = services.introduce(db.session, other.course_id, other["olga"].member_id, "Olga")
        their_reply = services.welcome(
            db.session, other.course_id, other["olga"].member_id, theirs.id, "PS"
        )
        ids = theirs.id, their_reply.id
    assert _flag(giulia, str(ids[0])) == 404
    assert _flag(giulia, f"replies/{ids[1]}") == 404
    with app.app_context():
        assert db.session.scalars(select(Flag)).all() == []


def test_a_refused_flag_comes_back_open_with_its_note(app: Flask, site: CourseWorld) -> None:
    intro_id = _introduce(app, site, "giulia", "Ciao")
    marco = sign_in(app, site, "marco")
    fields = {"reason": "offensive", "note": "Parole offensive"}
    stale = marco.post(f"/w/L1/welcome/{intro_id}/flag", data={"csrf_token": "stale", **fields})
    assert stale.status_code == 400 and "session expired" in stale.text
    assert '<details class="qa-flag" open>' in stale.text
    assert 'value="Parole offensive"' in stale.text
    assert '<option value="offensive" selected>' in stale.text

    token = form_token(marco.get("/w/L1/welcome/").text)
    bad = marco.post(
        f"/w/L1/welcome/{intro_id}/flag",
        data={"csrf_token": token, "reason": "boring", "note": "Parole offensive"},
    )
    assert bad.status_code == 422 and "Choose a reason." in bad.text
    assert 'value="Parole offensive"' in bad.text
    assert _flag(marco, str(intro_id), "offensive") == 303
    again = marco.post(f"/w/L1/welcome/{intro_id}/flag", data={"csrf_token": token, **fields})
    assert again.status_code == 409 and "You have already flagged this post." in again.text
    assert '<details class="qa-flag" open>' in again.text

    # Flags share the posting budget (ten a minute): the eleventh post comes back as filled.
    for n in range(7):
        _reply(app, site, "sara", intro_id, f"x{n}")  # not counted: written straight
        sent = marco.post(
            f"/w/L1/welcome/{intro_id}/reply", data={"csrf_token": token, "body": f"Ciao {n}"}
        )
        assert sent.status_code == 303
    with app.app_context():
        sara_reply = services.introductions(db.session, site.course_id)[0].replies[0][0].id
    limited = marco.post(
        f"/w/L1/welcome/replies/{sara_reply}/flag",
        data={"csrf_token": token, "reason": "spam", "note": "Troppi messaggi"},
    )
    assert limited.status_code == 429 and 'value="Troppi messaggi"' in limited.text
    assert '<details class="qa-flag" open>' in limited.text


def test_the_queue_names_introductions_and_replies_in_italian(
    app: Flask, site: CourseWorld
) -> None:
    intro_id = _introduce(app, site, "giulia", "Ciao")
    reply_id = _reply(app, site, "sara", intro_id, "Benvenuta")
    marco = sign_in(app, site, "marco")
    assert _flag(marco, str(intro_id)) == 303 and _flag(marco, f"replies/{reply_id}") == 303
    prof = sign_in(app, site, "prof")
    with prof.session_transaction() as session:
        launches = session["launches"]
        launches["L1"] = {**launches["L1"], "l": "it"}
        session["launches"] = launches
    queue = prof.get("/w/L1/moderation/").text
    assert "Presentazione: Giulia Rossi" in queue
    assert "Risposta a una presentazione: Giulia Rossi" in queue


def test_an_introduction_whose_only_welcome_is_hidden_waits_again(
    app: Flask, site: CourseWorld
) -> None:
    intro_id = _introduce(app, site, "sara", "Ciao, sono Sara")
    _reply(app, site, "sara", intro_id, "PS: amo la chimica")  # her own word: no welcome
    reply_id = _reply(app, site, "marco", intro_id, "Compra su spam.example")
    ta = sign_in(app, site, "ta")
    assert "0 introductions nobody has welcomed yet" in ta.get("/w/L1/welcome/").text
    assert _flag(sign_in(app, site, "giulia"), f"replies/{reply_id}") == 303
    _decide(sign_in(app, site, "prof"), "hide", "Spam")
    assert "1 introduction nobody has welcomed yet" in ta.get("/w/L1/welcome/").text
    assert "Ciao, sono Sara" in ta.get("/w/L1/welcome/?unanswered=1").text
