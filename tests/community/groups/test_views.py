"""Group pages over HTTP: CSRF'd forms, who sees what, and text kept when a form is refused."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from lti_tool.community.groups import services
from lti_tool.community.groups.models import GroupPost, GroupSet, Membership
from lti_tool.extensions import db

from .conftest import GroupsWorld, form_token, sign_in

TEXT = "Ci vediamo giovedì: **portate** gli appunti del capitolo 3"


def _client(app: Flask, gw: GroupsWorld, key: str, widget: str = "groups") -> FlaskClient:
    client = sign_in(app, gw.world, key)
    with client.session_transaction() as session:
        launches = dict(session["launches"])
        launches["L1"] = {**launches["L1"], "w": widget}
        session["launches"] = launches
    return client


def _post(client: FlaskClient, page_url: str, action: str, **fields: str) -> TestResponse:
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    return client.post(action, data={"csrf_token": form_token(page.text), **fields})


def _first_flagged_post(page: str) -> str:
    """The id of the first post a page offers to flag."""
    found = re.search(r"/w/L1/groups/posts/(\d+)/flag", page)
    assert found, "no flag form on the page"
    return found.group(1)


def _manual_groups(app: Flask, gw: GroupsWorld) -> tuple[int, int, int]:
    """A manual set with Giulia and Marco in group 1, Sara in group 2."""
    with app.app_context():
        group_set = services.create_set(
            db.session, gw["prof"], services.SetInput("Study groups", 4, "manual", group_count=2)
        )
        first, second = services._set_groups(db.session, group_set.id)
        for key, group in (("giulia", first), ("marco", first), ("sara", second)):
            services.move_member(db.session, gw["prof"], group_set.id, gw.member_id(key), group.id)
        return group_set.id, first.id, second.id


def test_widget_groups_lands_on_the_groups_index(app: Flask, gsite: GroupsWorld) -> None:
    client = _client(app, gsite, "giulia")
    landing = client.get("/w/L1/")
    assert landing.status_code == 302
    assert landing.headers["Location"].endswith("/w/L1/groups/?welcome=1")  # not introduced yet
    page = client.get("/w/L1/groups/")
    assert page.status_code == 200 and "You are not in a group yet." in page.text
    assert 'href="/w/L1/groups/"' in page.text  # the nav link


def test_pages_need_a_launch(app: Flask, gsite: GroupsWorld) -> None:
    assert app.test_client().get("/w/L1/groups/").status_code == 401


def test_staff_create_and_form_a_random_set_over_http(app: Flask, gsite: GroupsWorld) -> None:
    client = _client(app, gsite, "prof")
    created = _post(
        client,
        "/w/L1/groups/sets/new",
        "/w/L1/groups/sets/new",
        name="Week 1-6",
        group_size="4",
        mode="random",
    )
    assert created.status_code == 303
    set_url = created.headers["Location"]
    formed = _post(client, set_url, set_url + "/form")
    assert formed.status_code == 303
    page = client.get(set_url)
    assert "3 groups formed." in page.text
    assert "Placed when the groups were formed" in page.text  # the change log
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Membership)) == 12


def test_a_post_without_the_csrf_token_is_refused(app: Flask, gsite: GroupsWorld) -> None:
    client = _client(app, gsite, "prof")
    response = client.post(
        "/w/L1/groups/sets/new", data={"name": "No token", "group_size": "4", "mode": "random"}
    )
    assert response.status_code == 400
    assert 'value="No token"' in response.text  # the form comes back with its text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GroupSet)) == 0


def test_a_refused_set_keeps_its_fields(app: Flask, gsite: GroupsWorld) -> None:
    client = _client(app, gsite, "prof")
    response = _post(
        client,
        "/w/L1/groups/sets/new",
        "/w/L1/groups/sets/new",
        name="Tiny",
        group_size="1",
        mode="random",
    )
    assert response.status_code == 422
    assert (
        'value="Tiny"' in response.text and "Group size must be between 2 and 50." in response.text
    )


def test_students_cannot_reach_staff_pages(app: Flask, gsite: GroupsWorld) -> None:
    client = _client(app, gsite, "giulia")
    assert client.get("/w/L1/groups/sets/new").status_code == 403
    assert client.get("/w/L1/groups/health").status_code == 403


def test_students_open_their_group_and_get_404_for_others(app: Flask, gsite: GroupsWorld) -> None:
    _set_id, first, second = _manual_groups(app, gsite)
    client = _client(app, gsite, "giulia")
    page = client.get(f"/w/L1/groups/{first}")
    assert page.status_code == 200 and "Marco Bianchi" in page.text
    assert "Sara Verdi" not in page.text
    assert client.get(f"/w/L1/groups/{second}").status_code == 404
    staff = _client(app, gsite, "ta")
    assert staff.get(f"/w/L1/groups/{second}").status_code == 200


def test_a_group_of_another_course_is_404(
    app: Flask, gsite: GroupsWorld, other_course: GroupsWorld
) -> None:
    _set_id, theirs, _ = _manual_groups(app, other_course)
    _mine, my_group, _ = _manual_groups(app, gsite)
    with app.app_context():
        their_set = db.session.scalar(
            select(GroupSet.id).where(GroupSet.course_id == other_course.course_id)
        )
    client = _client(app, gsite, "prof")
    assert client.get(f"/w/L1/groups/{theirs}").status_code == 404
    assert client.get(f"/w/L1/groups/sets/{their_set}").status_code == 404
    page = client.get(f"/w/L1/groups/{my_group}")
    response = client.post(
        f"/w/L1/groups/{theirs}/posts", data={"csrf_token": form_token(page.text), "body": "hi"}
    )
    assert response.status_code == 404


def test_posting_in_the_group_thread(app: Flask, gsite: GroupsWorld) -> None:
    _set_id, first, _ = _manual_groups(app, gsite)
    client = _client(app, gsite, "giulia")
    url = f"/w/L1/groups/{first}"
    response = _post(client, url, url + "/posts", body=TEXT)
    assert response.status_code == 303
    page = client.get(url)
    assert "<strong>portate</strong>" in page.text and "Message posted." in page.text


def test_a_refused_post_keeps_its_text(app: Flask, gsite: GroupsWorld) -> None:
    _set_id, first, _ = _manual_groups(app, gsite)
    client = _client(app, gsite, "giulia")
    url = f"/w/L1/groups/{first}"
    too_long = TEXT + "x" * 20_001
    response = _post(client, url, url + "/posts", body=too_long)
    assert response.status_code == 422
    assert too_long + "</textarea>" in response.text
    assert 'aria-invalid="true"' in response.text
    expired = client.post(url + "/posts", data={"csrf_token": "stale", "body": TEXT})
    assert expired.status_code == 400
    assert TEXT + "</textarea>" in expired.text
    assert "Your session expired" in expired.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GroupPost)) == 0


def test_a_refused_link_keeps_its_fields(app: Flask, gsite: GroupsWorld) -> None:
    _set_id, first, _ = _manual_groups(app, gsite)
    client = _client(app, gsite, "marco")
    url = f"/w/L1/groups/{first}"
    response = _post(
        client, url, url + "/links", title="Appunti", url="ftp://example.org", note="cap. 3"
    )
    assert response.status_code == 422
    assert 'value="Appunti"' in response.text and "cap. 3</textarea>" in response.text
    ok = _post(client, url, url + "/links", title="Appunti", url="https://example.org/a", note="")
    assert ok.status_code == 303
    assert 'href="https://example.org/a"' in client.get(url).text


def test_flagging_and_the_meeting_note_over_http(app: Flask, gsite: GroupsWorld) -> None:
    _set_id, first, _ = _manual_groups(app, gsite)
    url = f"/w/L1/groups/{first}"
    giulia = _client(app, gsite, "giulia")
    _post(giulia, url, url + "/posts", body="Buy cheap watches")
    _post(giulia, url, url + "/meeting", meeting="Giovedì alle 18, aula 2")
    marco = _client(app, gsite, "marco")
    page = marco.get(url)
    assert "Giovedì alle 18, aula 2" in page.text
    post_id = _first_flagged_post(page.text)
    flagged = marco.post(
        f"/w/L1/groups/posts/{post_id}/flag",
        data={"csrf_token": form_token(page.text), "reason": "spam", "group_id": str(first)},
    )
    assert flagged.status_code == 303
    assert "the moderators will look at it" in marco.get(url).text


def test_moderators_see_a_flagged_group_post_and_hiding_it_hides_it(
    app: Flask, gsite: GroupsWorld
) -> None:
    _set_id, first, _ = _manual_groups(app, gsite)
    url = f"/w/L1/groups/{first}"
    giulia = _client(app, gsite, "giulia")
    _post(giulia, url, url + "/posts", body="Buy cheap watches at spam.example")
    marco = _client(app, gsite, "marco")
    page = marco.get(url)
    post_id = _first_flagged_post(page.text)
    marco.post(
        f"/w/L1/groups/posts/{post_id}/flag",
        data={"csrf_token": form_token(page.text), "reason": "spam", "group_id": str(first)},
    )
    prof = _client(app, gsite, "prof")
    queue = prof.get("/w/L1/moderation/")
    # The queue names the post's kind and quotes it; its case links to the group's thread.
    assert "Group post" in queue.text and "Buy cheap watches at spam.example" in queue.text
    flag_id = re.search(r"/w/L1/moderation/flags/(\d+)", queue.text)
    assert flag_id
    case = prof.get(f"/w/L1/moderation/flags/{flag_id.group(1)}")
    assert "Buy cheap watches at spam.example" in case.text
    assert f'href="/w/L1/groups/{first}#post-{post_id}"' in case.text
    hidden = prof.post(
        f"/w/L1/moderation/flags/{flag_id.group(1)}/decide",
        data={"csrf_token": form_token(case.text), "action": "hide", "reason": "Spam"},
    )
    assert hidden.status_code == 303
    for member in (marco, giulia):  # the author too: a placeholder where the post was
        text = member.get(url).text
        assert "Buy cheap watches" not in text and "Hidden by moderators" in text
    staff_page = prof.get(url).text
    assert "Buy cheap watches at spam.example" in staff_page
    assert "Hidden by moderators: students see a placeholder." in staff_page


def test_a_pasted_nul_character_is_dropped_not_a_server_error(
    app: Flask, gsite: GroupsWorld
) -> None:
    """PostgreSQL refuses U+0000 in text: every form field arrives without it."""
    _set_id, first, _ = _manual_groups(app, gsite)
    url = f"/w/L1/groups/{first}"
    giulia = _client(app, gsite, "giulia")
    posted = _post(giulia, url, url + "/posts", body="Ci vediamo\x00 giovedì")
    assert posted.status_code == 303
    noted = _post(giulia, url, url + "/meeting", meeting="Aula\x00 2")
    assert noted.status_code == 303
    page = giulia.get(url).text
    assert "Ci vediamo giovedì" in page and "Aula 2" in page


def test_a_refused_group_flag_comes_back_open_with_its_note(app: Flask, gsite: GroupsWorld) -> None:
    _set_id, first, _ = _manual_groups(app, gsite)
    url = f"/w/L1/groups/{first}"
    _post(_client(app, gsite, "giulia"), url, url + "/posts", body="Compiti copiati qui")
    marco = _client(app, gsite, "marco")
    post_id = _first_flagged_post(marco.get(url).text)
    fields = {"group_id": str(first), "reason": "offensive", "note": "Copia dei compiti"}
    stale = marco.post(f"/w/L1/groups/posts/{post_id}/flag", data={"csrf_token": "stale", **fields})
    assert stale.status_code == 400 and "session expired" in stale.text
    assert '<details class="qa-flag" open>' in stale.text
    assert 'value="Copia dei compiti"' in stale.text
    assert '<option value="offensive" selected>' in stale.text


def test_self_signup_over_http(app: Flask, gsite: GroupsWorld) -> None:
    with app.app_context():
        group_set = services.create_set(
            db.session,
            gsite["prof"],
            services.SetInput("Pick one", 4, "self_signup", group_count=2, signup_cap=1),
        )
        first, _second = services._set_groups(db.session, group_set.id)
        set_id, first_id = group_set.id, first.id
    set_url = f"/w/L1/groups/sets/{set_id}"
    giulia = _client(app, gsite, "giulia")
    joined = _post(giulia, set_url, f"/w/L1/groups/join/{first_id}", set_id=str(set_id))
    assert joined.status_code == 303 and joined.headers["Location"].endswith(f"/groups/{first_id}")
    marco = _client(app, gsite, "marco")
    page = marco.get(set_url)
    assert "1 of 1 places taken" in page.text and "Full" in page.text
    refused = marco.post(
        f"/w/L1/groups/join/{first_id}",
        data={"csrf_token": form_token(page.text), "set_id": str(set_id)},
    )
    assert refused.status_code == 303
    assert "This group is full." in marco.get(refused.headers["Location"]).text


def test_staff_move_a_member_and_see_the_log(app: Flask, gsite: GroupsWorld) -> None:
    set_id, _first, second = _manual_groups(app, gsite)
    client = _client(app, gsite, "prof")
    set_url = f"/w/L1/groups/sets/{set_id}"
    moved = _post(
        client,
        set_url,
        set_url + "/move",
        member_id=str(gsite.member_id("giulia")),
        group_id=str(second),
    )
    assert moved.status_code == 303
    page = client.get(set_url)
    assert "Moved by staff" in page.text and "Anna Neri" in page.text
    with app.app_context():
        assert (
            db.session.scalar(
                select(Membership.group_id).where(Membership.member_id == gsite.member_id("giulia"))
            )
            == second
        )


def test_the_health_page_lists_quiet_groups(app: Flask, gsite: GroupsWorld) -> None:
    _manual_groups(app, gsite)
    client = _client(app, gsite, "ta")
    page = client.get("/w/L1/groups/health?days=1")
    assert page.status_code == 200
    assert "0 of 2 groups quiet for 1 day or more." in page.text
    assert "Giulia Rossi" in page.text


def test_a_survey_answer_is_saved_over_http(app: Flask, gsite: GroupsWorld) -> None:
    with app.app_context():
        group_set = services.create_set(
            db.session, gsite["prof"], services.SetInput("Balanced", 4, "balanced")
        )
        question = services.add_question(
            db.session, gsite["prof"], group_set.id, "Time zone?", "match", ["CET", "EST"]
        )
        set_id, qid = group_set.id, question.id
    client = _client(app, gsite, "giulia")
    set_url = f"/w/L1/groups/sets/{set_id}"
    missing = _post(client, set_url, set_url + "/survey")
    assert missing.status_code == 422 and "Choose one of the options." in missing.text
    saved = _post(client, set_url, set_url + "/survey", **{f"q{qid}": "1"})
    assert saved.status_code == 303
    assert f'id="q{qid}-1" name="q{qid}" value="1" checked' in client.get(set_url).text


def test_pages_speak_italian(app: Flask, gsite: GroupsWorld) -> None:
    set_id, first, _ = _manual_groups(app, gsite)
    client = _client(app, gsite, "prof")
    with client.session_transaction() as session:
        launches = dict(session["launches"])
        launches["L1"] = {**launches["L1"], "l": "it"}
        session["launches"] = launches
    assert "Insiemi di gruppi in questo corso" in client.get("/w/L1/groups/").text
    set_page = client.get(f"/w/L1/groups/sets/{set_id}").text
    assert "Modifiche ai gruppi" in set_page and "Gruppo 1" in set_page
    assert "Prossimo incontro" in client.get(f"/w/L1/groups/{first}").text
    health = client.get("/w/L1/groups/health?days=3").text
    assert "0 gruppi su 2 silenziosi da 3 giorni o più." in health


def test_the_posting_rate_limit_gives_the_text_back(app: Flask, gsite: GroupsWorld) -> None:
    _set_id, first, _ = _manual_groups(app, gsite)
    client = _client(app, gsite, "giulia")
    url = f"/w/L1/groups/{first}"
    token = form_token(client.get(url).text)
    for n in range(10):
        sent = client.post(url + "/posts", data={"csrf_token": token, "body": f"Message {n}"})
        assert sent.status_code == 303
    limited = client.post(url + "/posts", data={"csrf_token": token, "body": TEXT})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert TEXT + "</textarea>" in limited.text and "You are posting very fast" in limited.text


def test_students_cannot_move_people_or_form_groups(app: Flask, gsite: GroupsWorld) -> None:
    set_id, first, second = _manual_groups(app, gsite)
    client = _client(app, gsite, "giulia")
    page = client.get(f"/w/L1/groups/sets/{set_id}")
    assert page.status_code == 200 and "Membership changes" not in page.text
    token = form_token(client.get(f"/w/L1/groups/{first}").text)
    moved = client.post(
        f"/w/L1/groups/sets/{set_id}/move",
        data={
            "csrf_token": token,
            "member_id": str(gsite.member_id("giulia")),
            "group_id": str(second),
        },
    )
    assert moved.status_code == 403
    assert (
        client.post(f"/w/L1/groups/sets/{set_id}/form", data={"csrf_token": token}).status_code
        == 403
    )
