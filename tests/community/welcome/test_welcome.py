"""The welcome loop: a prompt on landing, introductions, welcomes, and staff's unanswered list."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool.community.engagement.models import ParticipationEvent
from lti_tool.community.notifications.models import Notification
from lti_tool.community.welcome import services
from lti_tool.courses.models import Member
from lti_tool.extensions import db

from ..qa.conftest import CourseWorld, form_token, make_course, make_platform, sign_in


def test_a_student_lands_with_a_welcome_prompt_until_they_choose(
    app: Flask, site: CourseWorld
) -> None:
    client = sign_in(app, site, "giulia")
    landing = client.get("/w/L1/")
    assert landing.status_code == 302 and landing.headers["Location"].endswith(
        "/w/L1/qa/?welcome=1"
    )
    page = client.get("/w/L1/qa/?welcome=1").get_data(as_text=True)
    assert "Welcome to the community!" in page and "Maybe later" in page
    later = client.post(
        "/w/L1/welcome/later", data={"csrf_token": form_token(page), "next": "/w/L1/qa/"}
    )
    assert later.status_code == 303 and later.headers["Location"] == "/w/L1/qa/"
    assert client.get("/w/L1/").headers["Location"].endswith("/w/L1/qa/")
    # Staff are never prompted.
    assert sign_in(app, site, "prof").get("/w/L1/").headers["Location"].endswith("/w/L1/qa/")


def test_later_never_redirects_to_another_site(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "marco")
    token = form_token(client.get("/w/L1/welcome/").get_data(as_text=True))
    for target in ["https://evil.example/", "//evil.example/w/L1/", "/w/L1/\\\\evil"]:
        response = client.post("/w/L1/welcome/later", data={"csrf_token": token, "next": target})
        assert response.headers["Location"] == "/w/L1/"


def test_introduce_welcome_and_the_unanswered_list(app: Flask, site: CourseWorld) -> None:
    giulia = sign_in(app, site, "giulia")
    page = giulia.get("/w/L1/welcome/").get_data(as_text=True)
    empty = giulia.post(
        "/w/L1/welcome/introduce", data={"csrf_token": form_token(page), "body": "  "}
    )
    assert empty.status_code == 422 and "Write a few words first." in empty.get_data(as_text=True)
    done = giulia.post(
        "/w/L1/welcome/introduce",
        data={"csrf_token": form_token(page), "body": "Ciao! I'm **Giulia** from Bologna."},
    )
    assert done.status_code == 303
    page = giulia.get("/w/L1/welcome/").get_data(as_text=True)
    assert "<strong>Giulia</strong> from Bologna" in page
    assert 'id="introduce"' not in page  # one introduction each
    assert giulia.get("/w/L1/").headers["Location"].endswith("/w/L1/qa/")  # no more prompt
    ta = sign_in(app, site, "ta")
    staff_page = ta.get("/w/L1/welcome/").get_data(as_text=True)
    assert "1 introduction nobody has welcomed yet" in staff_page
    assert "1 introduction nobody has welcomed yet" in ta.get("/w/L1/dashboard/hanging").get_data(
        as_text=True
    )
    with app.app_context():
        intro_id = services.introductions(db.session, site.course_id)[0].introduction.id
    failed = ta.post(
        f"/w/L1/welcome/{intro_id}/reply",
        data={"csrf_token": form_token(staff_page), "body": "x" * 4001},
    )
    assert failed.status_code == 422 and "x" * 4001 in failed.get_data(as_text=True)
    ta.post(
        f"/w/L1/welcome/{intro_id}/reply",
        data={"csrf_token": form_token(staff_page), "body": "Benvenuta Giulia!"},
    )
    assert "Everyone has been welcomed." in ta.get("/w/L1/welcome/?unanswered=1").get_data(
        as_text=True
    )
    notes = giulia.get("/w/L1/qa/notifications").get_data(as_text=True)
    assert "Someone welcomed you in Introductions:" in notes and "Benvenuta Giulia!" in notes
    with app.app_context():
        kinds = sorted(db.session.scalars(select(ParticipationEvent.kind)))
        assert kinds == ["introduce", "welcome"]
        assert db.session.scalar(select(Notification.member_id)) == site["giulia"].member_id


def test_introductions_of_another_course_stay_there(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        other = make_course(
            make_platform("https://canvas.example.com"), "x", {"zoe": ("Zoe", site["giulia"].role)}
        )
        intro_id = services.introduce(
            db.session, other.course_id, other["zoe"].member_id, "Hi, Zoe here"
        ).id
    client = sign_in(app, site, "marco")
    page = client.get("/w/L1/welcome/").get_data(as_text=True)
    assert "Zoe here" not in page
    response = client.post(
        f"/w/L1/welcome/{intro_id}/reply", data={"csrf_token": form_token(page), "body": "hello"}
    )
    assert response.status_code == 404


def test_a_second_introduction_is_refused(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        services.introduce(db.session, site.course_id, site["sara"].member_id, "First")
        with pytest.raises(services.WelcomeError, match="duplicate"):
            services.introduce(db.session, site.course_id, site["sara"].member_id, "Second")


def test_refused_introductions_and_welcomes_keep_their_text(app: Flask, site: CourseWorld) -> None:
    giulia = sign_in(app, site, "giulia")
    stale = giulia.post(
        "/w/L1/welcome/introduce", data={"csrf_token": "stale", "body": "Sono Giulia, di Bologna"}
    )
    assert stale.status_code == 400 and "session expired" in stale.text
    assert "Sono Giulia, di Bologna</textarea>" in stale.text
    with app.app_context():
        intro = services.introduce(db.session, site.course_id, site["sara"].member_id, "Ciao!")
        intro_id = intro.id
    # A second introduction (another tab): refused, and the form still holds the text.
    page = giulia.get("/w/L1/welcome/").text
    giulia.post("/w/L1/welcome/introduce", data={"csrf_token": form_token(page), "body": "Uno"})
    again = giulia.post(
        "/w/L1/welcome/introduce", data={"csrf_token": form_token(page), "body": "Di nuovo io"}
    )
    assert again.status_code == 422 and "You have already introduced yourself." in again.text
    assert "Di nuovo io</textarea>" in again.text
    # Welcomes notify: ten posts a minute per member (the two introductions above count); the
    # eleventh comes back with its text.
    token = form_token(page)
    for n in range(8):
        sent = giulia.post(
            f"/w/L1/welcome/{intro_id}/reply", data={"csrf_token": token, "body": f"Ciao {n}"}
        )
        assert sent.status_code == 303
    limited = giulia.post(
        f"/w/L1/welcome/{intro_id}/reply", data={"csrf_token": token, "body": "Benvenuta Sara"}
    )
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert "Benvenuta Sara</textarea>" in limited.text and "posting very fast" in limited.text


def test_a_refused_welcome_to_an_older_introduction_keeps_its_text(
    app: Flask, site: CourseWorld
) -> None:
    """The page lists the 30 newest introductions; a refused welcome to an older one comes back
    in that introduction's own form all the same."""
    with app.app_context():
        from lti_tool.courses.models import Member

        oldest = services.introduce(db.session, site.course_id, site["sara"].member_id, "Prima!")
        oldest_id = oldest.id
        platform_id = site.platform_id
        for n in range(30):
            member = Member(platform_id=platform_id, lms_id=f"new-{n}", name=f"Nuovo {n}")
            db.session.add(member)
            db.session.flush()
            services.introduce(db.session, site.course_id, member.id, f"Ciao {n}")
    prof = sign_in(app, site, "prof")
    page = prof.get("/w/L1/welcome/").text
    assert f'id="reply-{oldest_id}"' not in page  # beyond the first 30
    long_welcome = "Benvenuta! " * 400
    refused = prof.post(
        f"/w/L1/welcome/{oldest_id}/reply",
        data={"csrf_token": form_token(page), "body": long_welcome},
    )
    assert refused.status_code == 422
    assert f'id="reply-{oldest_id}"' in refused.text and long_welcome.strip() in refused.text


def test_introductions_name_people_as_other_pages_do(app: Flask, site: CourseWorld) -> None:
    """Without a full name from the LMS, never its user id; a given and family name in full."""
    with app.app_context():
        world = make_course(
            make_platform("https://brightspace.example.com"),
            "nameless",
            {"a": ("", site["giulia"].role), "b": ("", site["giulia"].role)},
        )
        first, second = world["a"].member_id, world["b"].member_id
        db.session.get(Member, first).name = None
        row = db.session.get(Member, second)
        row.name, row.given_name, row.family_name = None, "Chiara", "Neri"
        db.session.commit()
        intro = services.introduce(db.session, world.course_id, first, "Hi all")
        services.welcome(db.session, world.course_id, second, intro.id, "Welcome!")
    page = sign_in(app, world, "b").get("/w/L1/welcome/").get_data(as_text=True)
    assert "nameless-a" not in page and "nameless-b" not in page  # the LMS's user ids
    assert f"Member #{first}" in page and "<strong>Chiara Neri</strong>" in page


def test_replying_to_ones_own_introduction_is_not_a_welcome(app: Flask, site: CourseWorld) -> None:
    """Staff still see her among those nobody has welcomed; no welcome is counted for her."""
    with app.app_context():
        intro = services.introduce(db.session, site.course_id, site["giulia"].member_id, "Ciao!")
        services.welcome(
            db.session, site.course_id, site["giulia"].member_id, intro.id, "PS: I love maths"
        )
    ta = sign_in(app, site, "ta")
    assert "1 introduction nobody has welcomed yet" in ta.get("/w/L1/welcome/").get_data(
        as_text=True
    )
    assert "PS: I love maths" in ta.get("/w/L1/welcome/?unanswered=1").get_data(as_text=True)
    with app.app_context():
        assert services.unanswered_count(db.session, site.course_id) == 1
        assert list(db.session.scalars(select(ParticipationEvent.kind))) == ["introduce"]
        assert db.session.scalars(select(Notification)).all() == []
