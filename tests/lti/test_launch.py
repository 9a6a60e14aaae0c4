"""Launches over real HTTP: who lands where, with which role."""

from __future__ import annotations

from ..lti_harness import INSTRUCTOR, LEARNER, Lms, browser


def test_learner_launch_lands_on_the_widget_page(lms: Lms) -> None:
    result = lms.launch(custom={"widget": "qa"})
    assert result.ok, result.launch_response.text[:500]
    assert result.page is not None and result.page.status_code == 200
    assert "Giulia Rossi" in result.page.text
    assert "Questions and answers" in result.page.text


def test_instructor_launch(lms: Lms) -> None:
    result = lms.launch(roles=[INSTRUCTOR], user={"sub": "t1", "name": "Prof. Bianchi"})
    assert result.page is not None and "Instructor" in result.page.text


def test_launch_records_course_member_enrolment_and_services(lms: Lms, app) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from lti_tool.courses.models import Course, Enrolment, Member, Placement
    from lti_tool.extensions import db

    ags = {
        "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
        "lineitems": f"{lms.issuer}/ags/course-101/lineitems",
        "lineitem": f"{lms.issuer}/ags/course-101/lineitems/7",
    }
    lms.launch(
        user={"sub": "s9", "name": "Sara", "email": "sara@example.org"},
        resource_link={"id": "rl-qa", "title": "Forum"},
        custom={"widget": "qa"},
        nrps=True,
        ags=ags,
    )
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.lms_id == "s9"))
        assert member.name == "Sara" and member.email == "sara@example.org"
        course = db.session.scalar(select(Course).where(Course.lms_id == "course-101"))
        assert course.title == "Storia dell'arte"
        assert "context_memberships_url" in course.services["nrps"]
        placement = db.session.scalar(select(Placement))
        assert (placement.lms_id, placement.widget) == ("rl-qa", "qa")
        assert placement.services["ags"]["lineitem"].endswith("/lineitems/7")
        enrolment = db.session.scalar(select(Enrolment))
        assert enrolment.roles == [LEARNER] and enrolment.status.value == "active"
    # A later launch without email keeps the email we knew.
    lms.launch(user={"sub": "s9", "name": "Sara B."})
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.lms_id == "s9"))
        assert member.name == "Sara B." and member.email == "sara@example.org"


def test_instructor_grants_the_community_manager_role(lms: Lms) -> None:
    from ..lti_harness import browser, csrf_token

    student = browser()
    lms.launch(student, user={"sub": "s1", "name": "Luca Neri"}, custom={"widget": "dashboard"})
    teacher = browser()
    result = lms.launch(teacher, roles=[INSTRUCTOR], user={"sub": "t1", "name": "Prof. Bianchi"})
    assert result.page is not None
    members_url = result.page.url.rstrip("/") + "/members"
    page = teacher.get(members_url, timeout=5)
    assert page.status_code == 200 and "Luca Neri" in page.text
    import re

    action = re.search(
        r'action="([^"]+/community-manager)"[^>]*>\s*<input[^>]*>\s*'
        r'<input type="hidden" name="grant" value="1">',
        page.text,
    )
    assert action
    granted = teacher.post(
        lms.tool_url + action.group(1),
        data={"grant": "1", "csrf_token": csrf_token(page.text)},
        timeout=5,
    )
    assert granted.status_code == 200 and "is now a community manager" in granted.text
    # The student's next launch into the dashboard is allowed now.
    again = lms.launch(
        student, user={"sub": "s1", "name": "Luca Neri"}, custom={"widget": "dashboard"}
    )
    assert again.page is not None and again.page.status_code == 200
    assert "Community manager" in again.page.text


def test_students_cannot_see_members_or_grant_roles(lms: Lms) -> None:
    from ..lti_harness import browser

    student = browser()
    result = lms.launch(student)
    assert result.page is not None
    base = result.page.url.rstrip("/")
    assert student.get(base + "/members", timeout=5).status_code == 403
    assert student.post(
        base + "/members/1/community-manager", data={"grant": "1"}, timeout=5
    ).status_code in (400, 403)


def test_pages_of_a_launch_this_browser_does_not_hold_are_401(lms: Lms) -> None:
    from ..lti_harness import browser

    result = lms.launch()
    assert result.page is not None
    stranger = browser()
    assert stranger.get(result.page.url, timeout=5).status_code == 401


def test_config_json_lists_what_an_admin_types_in(lms: Lms) -> None:
    from ..lti_harness import browser

    config = browser().get(f"{lms.tool_url}/lti/config", timeout=5).json()
    assert config["oidc_initiation_url"] == f"{lms.tool_url}/lti/login"
    assert config["redirect_uris"] == [f"{lms.tool_url}/lti/launch"]
    assert config["public_jwk_url"] == f"{lms.tool_url}/.well-known/jwks.json"
    assert "LtiDeepLinkingRequest" in config["messages"]


def test_staff_find_the_roster_sync_from_the_members_page(lms: Lms) -> None:
    from ..lti_harness import browser

    teacher = browser()
    result = lms.launch(teacher, roles=[INSTRUCTOR], user={"sub": "t1", "name": "Prof. Bianchi"})
    assert result.page is not None
    members = teacher.get(result.page.url.rstrip("/") + "/members", timeout=5)
    assert "Sync the roster with the LMS" in members.text
    roster = teacher.get(result.page.url.rstrip("/") + "/roster", timeout=5)
    assert roster.status_code == 200


def test_launch_answers_with_the_page_and_a_reload_gets_it_again(lms: Lms) -> None:
    client = browser()
    result = lms.launch(client, user={"sub": "s-reload", "name": "Marta Neri"})
    assert result.status == 200 and result.page is result.launch_response  # no redirect
    location = result.launch_response.headers["Content-Location"]
    assert location.startswith("/w/") and result.page.url.endswith(location)
    # The browser's history gets the page's own address, so a reload is a GET, not a POST.
    assert f'history.replaceState(null, "", "{location}")' in result.page.text
    # The inline script carries the nonce of the page's Content-Security-Policy.
    policy = result.launch_response.headers["Content-Security-Policy"]
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">history.replaceState' in result.page.text
    again = client.get(result.page.url, timeout=5)
    assert again.status_code == 200 and "Marta Neri" in again.text
    assert browser().get(result.page.url, timeout=5).status_code == 401  # not another browser


def test_a_qa_launch_redirects_straight_to_the_questions(lms: Lms) -> None:
    result = lms.launch(custom={"widget": "qa"})
    assert result.status == 303 and result.launch_response.headers["Location"].endswith("/qa/")


def test_the_widget_blueprint_hooks_also_run_for_the_page_the_launch_answers(
    lms: Lms,
    app,  # type: ignore[no-untyped-def]
) -> None:
    from flask import redirect

    # e.g. a capability that first sends members to accept a code of conduct
    app.before_request_funcs.setdefault("home", []).append(lambda: redirect("/healthz"))
    result = lms.launch()
    assert result.status == 303 and result.launch_response.headers["Location"] == "/healthz"


def test_the_launch_page_asks_for_the_course_code_until_the_member_accepts_it(
    lms: Lms,
    app,  # type: ignore[no-untyped-def]
) -> None:
    from sqlalchemy import select

    from lti_tool.community.moderation import conduct
    from lti_tool.courses.models import Course, Member
    from lti_tool.extensions import db

    from ..lti_harness import csrf_token

    client = browser()
    first = lms.launch(client, user={"sub": "s-code", "name": "Carla Verdi"})
    assert first.status == 200 and first.page is not None
    assert "Be respectful" in first.page.text and 'name="version" value="1"' in first.page.text
    with app.app_context():  # the course's staff write their own version
        course_id = db.session.scalar(select(Course.id).where(Course.lms_id == "course-101"))
        editor = db.session.scalar(select(Member.id).where(Member.lms_id == "s-code"))
        conduct.edit_conduct(db.session(), int(course_id or 0), int(editor or 0), "**No spoilers**")
    second = lms.launch(client, user={"sub": "s-code", "name": "Carla Verdi"})
    assert second.page is not None and "<strong>No spoilers</strong>" in second.page.text
    assert 'name="version" value="2"' in second.page.text
    accepted = client.post(
        second.page.url.rstrip("/") + "/moderation/conduct/accept",
        data={"csrf_token": csrf_token(second.page.text), "version": "2"},
        allow_redirects=False,
        timeout=5,
    )
    assert accepted.status_code == 303
    third = lms.launch(client, user={"sub": "s-code", "name": "Carla Verdi"})
    assert third.status == 200 and third.page is not None
    assert "I accept" not in third.page.text and "Community home" in third.page.text
    # Staff are never asked.
    teacher = lms.launch(roles=[INSTRUCTOR], user={"sub": "t-code", "name": "Prof. Neri"})
    assert teacher.page is not None and "I accept" not in teacher.page.text
