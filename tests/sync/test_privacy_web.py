"""The privacy pages over HTTP: an export holds the member's data and nothing that unmasks a
classmate; erasure reaches every course of the member and no one else's."""

from __future__ import annotations

import json

from flask import Flask

from lti_tool.community.moderation import services as moderation
from lti_tool.community.qa import services as qa
from lti_tool.extensions import db

from ..community.qa import conftest as qa_fixtures
from ..community.qa.conftest import CourseWorld, sign_in

site = qa_fixtures.site  # one course on one LMS, for page tests (fixture)


def _ids_named_by(value: object, key: str) -> set[int]:
    """Every value of ``key`` anywhere in a JSON document."""
    found: set[int] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key and isinstance(v, int):
                found.add(v)
            found |= _ids_named_by(v, key)
    elif isinstance(value, list):
        for item in value:
            found |= _ids_named_by(item, key)
    return found


def test_an_export_does_not_unmask_an_anonymous_asker_nor_private_voters(
    app: Flask, site: CourseWorld
) -> None:
    """Giulia asks anonymously and accepts Marco's answer; Sara votes it helpful. The page
    shows neither name to Marco: his export must not name them either (member ids are names:
    the kudos form lists them)."""
    with app.app_context():
        s = db.session
        question = qa.ask(
            s, site["giulia"], qa.QuestionInput(title="Am I behind?", body="?", anonymous=True)
        )
        answer = qa.answer(s, site["marco"], question.id, "No, you are fine")
        qa.accept(s, site["giulia"], answer.id)
        qa.toggle_vote(s, site["sara"], "answer", answer.id)
        question_id = question.id
    marco = sign_in(app, site, "marco")
    page = marco.get(f"/w/L1/qa/{question_id}")
    assert "Giulia" not in page.text and "Anonymous classmate" in page.text

    response = marco.get("/w/L1/privacy/export.json")

    assert response.status_code == 200
    data = json.loads(response.data)
    events = data["tables"]["engagement_event"]
    assert {e["kind"] for e in events} >= {"answer", "answer_accepted", "upvote_received"}
    others = {site["giulia"].member_id, site["sara"].member_id}
    assert not others & _ids_named_by(data, "actor_id")
    assert not others & _ids_named_by(data, "member_id")


def test_an_export_holds_the_flags_raised_but_not_the_moderators_note_on_them(
    app: Flask, site: CourseWorld
) -> None:
    """Marco flags Giulia's question; the instructor resolves it with a note about Giulia,
    which only staff see on the case page: Marco's export has his flag, not that note."""
    with app.app_context():
        s = db.session
        question = qa.ask(s, site["giulia"], qa.QuestionInput(title="Buy now", body="spam"))
        flag = moderation.flag_content(
            s,
            course_id=site.course_id,
            reporter_id=site["marco"].member_id,
            subject_type="qa_question",
            subject_id=question.id,
            reason="spam",
            note="Looks like an advert",
        )
        moderation.resolve_flags(
            s, site.course_id, site["prof"].member_id, flag.id, "Warned Giulia, second time"
        )
    marco = sign_in(app, site, "marco")

    response = marco.get("/w/L1/privacy/export.json")

    assert response.status_code == 200
    flags = json.loads(response.data)["tables"]["moderation_flag"]
    assert [(f["note"], f["status"]) for f in flags] == [("Looks like an advert", "resolved")]
    assert "Warned Giulia" not in response.text
    assert site["prof"].member_id not in _ids_named_by(flags, "resolved_by")


def test_after_an_erasure_every_page_of_her_courses_still_opens_without_her_name(
    app: Flask,
) -> None:
    """Giulia (two courses, posts, kudos received, group posts, introduction) is erased:
    classmates and staff of both courses open every page, and her name is nowhere."""
    from lti_tool.courses.models import Member
    from lti_tool.sync import privacy

    from ..community.test_isolation import PAGES, _two_courses

    a, b, ids = _two_courses(app)
    with app.app_context():
        member = db.session.get(Member, ids.giulia)
        assert member is not None
        privacy.erase_member(db.session, member, route="cli")
    pages = [
        *PAGES,
        f"qa/{ids.question}",
        f"qa/{ids.question}/history",
        f"groups/{ids.group}",
        f"groups/sets/{ids.group_set}",
        f"moderation/flags/{ids.flag}",
        "dashboard/at-risk",
    ]
    for course, key in ((a, "marco"), (a, "prof"), (a, "cm"), (b, "prof")):
        client = sign_in(app, course, key, lid="L1")
        for page in pages if course is a else PAGES:
            response = client.get(f"/w/L1/{page}", follow_redirects=True)
            assert response.status_code < 500, (key, page)
            assert "Giulia" not in response.text, (key, page)
    with app.app_context():
        question = db.session.get(qa.Question, ids.question)
        assert question is not None and question.author_id == ids.giulia  # the thread stays
