"""Dashboard pages: staff only, translated errors, CSV exports, nothing typed is lost."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from lti_tool.community.dashboard import risk
from lti_tool.community.dashboard.models import ReachOut
from lti_tool.community.qa.models import Question
from lti_tool.community.qa.services import update_settings
from lti_tool.courses.models import Enrolment
from lti_tool.extensions import db, utcnow

from ...lti_harness import Lms
from ..qa.conftest import (
    CourseWorld,
    form_token,
    make_course,
    make_platform,
    sign_in,
)

PAGES = ["/", "/at-risk", "/hanging", "/settings", "/export/overview.csv", "/export/at-risk.csv"]


def relaunch(client: FlaskClient, **changes: object) -> None:
    """Change the launch the client holds (its widget "w", its locale "l")."""
    with client.session_transaction() as session:
        launches = session["launches"]
        launches["L1"].update(changes)
        session["launches"] = launches


def url(path: str, lid: str = "L1") -> str:
    return f"/w/{lid}/dashboard{path}"


def never_launched(app: Flask, site: CourseWorld, key: str) -> None:
    with app.app_context():
        db.session.execute(
            update(Enrolment)
            .where(Enrolment.member_id == site[key].member_id)
            .values(created_at=utcnow() - timedelta(days=5), first_launch_at=None)
        )
        db.session.commit()


@pytest.mark.parametrize("path", PAGES)
def test_learners_get_403_everywhere(app: Flask, site: CourseWorld, path: str) -> None:
    client = sign_in(app, site, "giulia")
    assert client.get(url(path)).status_code == 403
    assert client.post(url("/settings")).status_code in (400, 403)  # CSRF or role, never 200


@pytest.mark.parametrize("key", ["prof", "ta", "cm"])
def test_staff_and_community_managers_see_the_overview(
    app: Flask, site: CourseWorld, key: str
) -> None:
    page = sign_in(app, site, key).get(url("/"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Engagement overview" in html and "Weekly figures" in html
    assert 'href="/w/L1/sentiment/"' in html  # the course mood page is one click away


def test_the_at_risk_list_gives_reasons_and_logs_a_reach_out(app: Flask, site: CourseWorld) -> None:
    never_launched(app, site, "sara")
    client = sign_in(app, site, "prof")
    page = client.get(url("/at-risk")).get_data(as_text=True)
    assert "Sara Verdi" in page and "never opened Bottega" in page
    sara = site["sara"].member_id
    done = client.post(
        url(f"/at-risk/{sara}/reach-out"),
        data={
            "csrf_token": form_token(page),
            "note": "Sent an e-mail",
            "nudge": "Come and say hi!",
        },
    )
    assert done.status_code == 303
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Reach-out logged and message sent." in after
    assert "1 reach-out logged" in after and "Sent an e-mail" in after
    student = sign_in(app, site, "sara", lid="S1").get("/w/S1/qa/notifications")
    assert "Come and say hi!" in student.get_data(as_text=True)


def test_an_empty_reach_out_keeps_what_was_typed(app: Flask, site: CourseWorld) -> None:
    never_launched(app, site, "sara")
    client = sign_in(app, site, "prof")
    page = client.get(url("/at-risk")).get_data(as_text=True)
    failed = client.post(
        url(f"/at-risk/{site['sara'].member_id}/reach-out"),
        data={"csrf_token": form_token(page), "note": "x" * 2001, "nudge": "Ciao Sara"},
    )
    assert failed.status_code == 422
    html = failed.get_data(as_text=True)
    assert "Keep notes and messages under 2000 characters." in html
    assert "x" * 2001 in html and "Ciao Sara" in html
    with app.app_context():
        assert db.session.scalar(select(ReachOut.id)) is None


def test_a_refused_reach_out_keeps_its_text_even_off_the_list(
    app: Flask, site: CourseWorld
) -> None:
    """Marco is on no list (he launched lately): a note to him that is too long, or sent with an
    expired form, still comes back in his own card."""
    client = sign_in(app, site, "prof")
    marco = site["marco"].member_id
    too_long = client.post(
        url(f"/at-risk/{marco}/reach-out"),
        data={"csrf_token": form_token(client.get(url("/settings")).text), "note": "y" * 2001},
    )
    assert too_long.status_code == 422
    assert f'id="student-{marco}"' in too_long.text and "y" * 2001 in too_long.text
    stale = client.post(
        url(f"/at-risk/{marco}/reach-out"),
        data={"csrf_token": "stale", "note": "Chiamato Marco", "nudge": "Ciao Marco"},
    )
    assert stale.status_code == 400 and "session expired" in stale.text
    assert "Chiamato Marco</textarea>" in stale.text and "Ciao Marco</textarea>" in stale.text
    guidelines = client.post(
        url("/playbook/guidelines"), data={"csrf_token": "stale", "body": "Rispondi entro 24 ore"}
    )
    assert guidelines.status_code == 400 and "Rispondi entro 24 ore</textarea>" in guidelines.text
    template = client.post(
        url("/playbook/templates"),
        data={"csrf_token": "stale", "title": "Sillabo", "body": "Vedi il sillabo, §2."},
    )
    assert template.status_code == 400 and 'value="Sillabo"' in template.text
    assert "Vedi il sillabo, §2.</textarea>" in template.text


def test_a_reach_out_to_someone_of_another_course_is_404(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        other = make_course(
            make_platform("https://canvas.example.com"),
            "other",
            {"zoe": ("Zoe", site["giulia"].role)},
        )
    client = sign_in(app, site, "prof")
    page = client.get(url("/settings")).get_data(as_text=True)
    response = client.post(
        url(f"/at-risk/{other['zoe'].member_id}/reach-out"),
        data={"csrf_token": form_token(page), "note": "hello"},
    )
    assert response.status_code == 404


def test_a_bad_date_range_is_a_translated_400(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "prof")
    response = client.get(url("/?start=yesterday&end=2026-01-01"))
    assert response.status_code == 400
    assert "Dates must look like 2026-09-30." in response.get_data(as_text=True)
    backwards = client.get(url("/?start=2026-05-01&end=2026-04-01"))
    assert backwards.status_code == 400
    assert "The end date must not come before the start date." in backwards.get_data(as_text=True)
    relaunch(client, l="it")
    italian = client.get(url("/?start=ieri"))
    assert "Le date devono avere la forma 2026-09-30." in italian.get_data(as_text=True)
    assert client.get(url("/export/weekly.csv?start=nope")).status_code == 400
    far = "?start=9999-12-25&end=9999-12-31"  # its weeks would end past the last date
    for path in ("/", "/export/weekly.csv", "/export/overview.csv", "/report"):
        assert client.get(url(path + far)).status_code == 400
    assert "Scegli date tra il 2000-01-01 e il 2099-12-31." in client.get(url("/" + far)).text
    assert client.get(url("/export/secrets.csv")).status_code == 404


def test_csv_exports_open_in_a_spreadsheet_safely(app: Flask, site: CourseWorld) -> None:
    never_launched(app, site, "sara")
    with app.app_context():
        db.session.execute(
            update(Enrolment)
            .where(Enrolment.member_id == site["marco"].member_id)
            .values(created_at=utcnow() - timedelta(days=5), first_launch_at=None)
        )
        from lti_tool.courses.models import Member

        db.session.execute(
            update(Member)
            .where(Member.id == site["marco"].member_id)
            .values(name='=HYPERLINK("http://evil")')
        )
        db.session.commit()
    client = sign_in(app, site, "prof")
    response = client.get(url("/export/at-risk.csv"))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Student", "Enrolled", "Last active", "Reasons", "Reach-outs"]
    names = sorted(r[0] for r in rows[1:])
    assert names == ['\'=HYPERLINK("http://evil")', "Sara Verdi"]
    weekly = client.get(url("/export/weekly.csv?start=2026-11-02&end=2026-11-22"))
    assert len(list(csv.reader(io.StringIO(weekly.get_data(as_text=True))))) == 1 + 3


def test_thresholds_form_keeps_input_and_explains(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "ta")
    page = client.get(url("/settings")).get_data(as_text=True)
    values = {
        "csrf_token": form_token(page),
        "inactive_days": "9",
        "unanswered_hours": "500000",
        "staff_check_hours": "30",
        "falling_percent": "35",
        "recognition_weeks": "2",
    }
    failed = client.post(url("/settings"), data=values)
    assert failed.status_code == 422
    html = failed.get_data(as_text=True)
    assert "Enter a whole number from 1 to 720." in html and 'value="500000"' in html
    assert 'value="9"' in html
    saved = client.post(url("/settings"), data={**values, "unanswered_hours": "12"})
    assert saved.status_code == 303
    assert 'value="12"' in client.get(url("/settings")).get_data(as_text=True)


def test_the_dashboard_widget_lands_on_the_overview(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "prof")
    relaunch(client, w="dashboard")
    response = client.get("/w/L1/")
    assert response.status_code == 302 and response.headers["Location"].endswith(url("/"))
    learner = sign_in(app, site, "giulia")
    relaunch(learner, w="dashboard")
    assert learner.get("/w/L1/").status_code == 403


def test_an_italian_export_opens_in_columns_with_decimal_commas(
    app: Flask, site: CourseWorld
) -> None:
    """Excel set to Italian splits a CSV on semicolons, and would read 1.5 hours as a date."""
    with app.app_context():
        asked = utcnow() - timedelta(days=3)
        db.session.add(
            Question(
                course_id=site.course_id,
                author_id=site["giulia"].member_id,
                title="Una domanda; con punto e virgola",
                body="?",
                created_at=asked,
                first_answer_at=asked + timedelta(minutes=90),
            )
        )
        db.session.commit()
    client = sign_in(app, site, "prof")
    english = client.get(url("/export/overview.csv")).get_data(as_text=True).lstrip("\ufeff")
    assert ["Median hours to a first answer", "1.5"] in list(csv.reader(io.StringIO(english)))
    relaunch(client, l="it")
    italian = client.get(url("/export/overview.csv")).get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(italian), delimiter=";"))
    assert rows[0] == ["Indicatore", "Valore"]
    assert ["Ore mediane alla prima risposta", "1,5"] in rows
    gaps = client.get(url("/export/hanging.csv")).get_data(as_text=True).lstrip("\ufeff")
    [_header, row] = list(csv.reader(io.StringIO(gaps), delimiter=";"))
    assert row[0] == "Una domanda; con punto e virgola"  # quoted, one cell


@pytest.mark.parametrize("path", ["/content", "/staff", "/playbook", "/export/staff.csv"])
def test_learners_get_403_on_signals_and_playbook(app: Flask, site: CourseWorld, path: str) -> None:
    assert sign_in(app, site, "marco").get(url(path)).status_code == 403


def test_playbook_keeps_a_refused_template(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "cm")
    page = client.get(url("/playbook")).get_data(as_text=True)
    assert "No guidelines yet." in page
    token = form_token(page)
    failed = client.post(
        url("/playbook/templates"), data={"csrf_token": token, "title": "", "body": "Kept text"}
    )
    assert failed.status_code == 422
    html = failed.get_data(as_text=True)
    assert "Give the template a title and a text." in html and "Kept text" in html
    added = client.post(
        url("/playbook/templates"),
        data={"csrf_token": token, "title": "Welcome", "body": "Benvenuti!"},
    )
    assert added.status_code == 303
    saved = client.post(
        url("/playbook/guidelines"), data={"csrf_token": token, "body": "Be *kind*."}
    )
    assert saved.status_code == 303
    html = client.get(url("/playbook")).get_data(as_text=True)
    assert "Benvenuti!" in html and "<em>kind</em>" in html
    assert (
        client.post(url("/playbook/templates/9999/delete"), data={"csrf_token": token}).status_code
        == 404
    )


def test_the_waiting_list_names_anonymous_askers_to_staff_only(
    app: Flask, site: CourseWorld
) -> None:
    """As in the Q&A: instructors and TAs see who asked anonymously (when the course lets
    them); a community manager, who may be a student, does not."""
    with app.app_context():
        asked = utcnow() - timedelta(days=3)
        db.session.add(
            Question(
                course_id=site.course_id,
                author_id=site["marco"].member_id,
                title="Is the exam open book?",
                anonymous=True,
                created_at=asked,
                updated_at=asked,
                last_activity_at=asked,
            )
        )
        db.session.commit()

    def row(key: str) -> str:
        page = sign_in(app, site, key).get(url("/hanging")).get_data(as_text=True)
        assert "Is the exam open book?" in page
        return page

    assert "Marco Bianchi (anonymous to classmates)" in row("prof")
    assert "Marco Bianchi" not in row("cm")
    with app.app_context():
        update_settings(db.session(), site["prof"], allow_anonymous=True, staff_see_anonymous=False)
    assert "Marco Bianchi" not in row("ta")


def test_content_and_staff_pages_render(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "prof")
    content = client.get(url("/content"))
    assert content.status_code == 200 and "Most-asked tags" in content.get_data(as_text=True)
    staff = client.get(url("/staff")).get_data(as_text=True)
    assert "Anna Neri" in staff and "Luca Gallo" in staff and "Giulia Rossi" not in staff
    export = client.get(url("/export/staff.csv")).get_data(as_text=True)
    assert export.lstrip("\ufeff").startswith("Staff member,Answers,Comments")


ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"


def test_the_academy_overview_shows_only_this_lms(app: Flask, site: CourseWorld) -> None:
    from lti_tool.courses.models import Course, Platform
    from lti_tool.courses.roles import CourseRole

    with app.app_context():
        platform = db.session.get(Platform, site.platform_id)
        assert platform is not None
        second = make_course(platform, "course-2", {"ada": ("Ada", CourseRole.LEARNER)})
        foreign = make_course(
            make_platform("https://canvas.example.com"),
            "elsewhere",
            {"bob": ("Bob", CourseRole.LEARNER)},
        )
        for course_id, title in [
            (site.course_id, "Python 101"),
            (second.course_id, "SQL 201"),
            (foreign.course_id, "Secret course"),
        ]:
            db.session.execute(update(Course).where(Course.id == course_id).values(title=title))
        db.session.commit()
    manager = sign_in(app, site, "cm")
    html = manager.get(url("/academy")).get_data(as_text=True)
    assert "Python 101" in html and "SQL 201" in html and "Secret course" not in html
    csv_text = manager.get(url("/export/academy.csv")).get_data(as_text=True)
    assert "SQL 201" in csv_text and "Secret course" not in csv_text
    # Course staff who are not community managers see their course only.
    assert sign_in(app, site, "prof").get(url("/academy")).status_code == 403
    assert sign_in(app, site, "giulia").get(url("/academy")).status_code == 403
    assert sign_in(app, site, "giulia").get(url("/export/academy.csv")).status_code == 403
    # An LMS administrator (institution role from the launch) may look across courses.
    with app.app_context():
        db.session.execute(
            update(Enrolment)
            .where(Enrolment.member_id == site["prof"].member_id)
            .values(roles=[ADMIN])
        )
        db.session.commit()
    admin = sign_in(app, site, "prof")
    page = admin.get(url("/academy"))
    assert page.status_code == 200 and "SQL 201" in page.get_data(as_text=True)


def test_launches_are_recorded_per_enrolment_for_the_early_warning(app: Flask, lms: Lms) -> None:
    """Over real HTTP: the first launch sets first_launch_at, later ones only last_launch_at."""
    from ...lti_harness import browser

    def dates() -> tuple[object, object]:
        with app.app_context():
            row = db.session.execute(
                select(Enrolment.first_launch_at, Enrolment.last_launch_at)
            ).one()
            return row[0], row[1]

    student = browser()
    assert lms.launch(student).ok
    first, last = dates()
    assert first is not None and first == last
    assert lms.launch(student).ok
    again_first, again_last = dates()
    assert again_first == first and again_last is not None and again_last > last  # type: ignore[operator]


def test_csv_links_work_without_the_session_cookie_but_not_forged(
    app: Flask, site: CourseWorld
) -> None:
    """Browsers download outside the LMS iframe's cookie partition: the link carries a signed,
    short-lived copy of the launch instead."""
    import re

    never_launched(app, site, "sara")
    page = sign_in(app, site, "prof").get(url("/at-risk")).get_data(as_text=True)
    match = re.search(r'href="(/w/L1/dashboard/export/at-risk\.csv\?t=[^"]+)"', page)
    assert match
    link = match.group(1).replace("&amp;", "&")
    stranger = app.test_client()  # no cookie at all
    response = stranger.get(link)
    assert response.status_code == 200 and "Sara Verdi" in response.get_data(as_text=True)
    assert stranger.get(link[:-3] + "abc").status_code == 401  # tampered
    assert stranger.get(link.replace("/w/L1/", "/w/L2/")).status_code == 401  # another launch
    assert stranger.get(url("/export/at-risk.csv")).status_code == 401  # no token
    # A student's own token never opens staff exports.
    learner_page = sign_in(app, site, "giulia").get("/w/L1/welcome/").get_data(as_text=True)
    assert "export" not in learner_page


def test_askers_see_when_to_expect_a_reply_and_staff_get_reply_templates(
    app: Flask, site: CourseWorld
) -> None:
    from lti_tool.community.dashboard import playbook
    from lti_tool.community.qa.models import Question, QuestionState

    with app.app_context():
        now = utcnow()
        for hours in (1, 2, 5):  # answered after 1 h, 2 h and 5 h: typically 2 hours
            asked = now - timedelta(days=1)
            db.session.add(
                Question(
                    course_id=site.course_id,
                    author_id=site["marco"].member_id,
                    title=f"Answered after {hours} h",
                    state=QuestionState.ANSWERED,
                    created_at=asked,
                    updated_at=asked,
                    last_activity_at=asked,
                    first_answer_at=asked + timedelta(hours=hours),
                )
            )
        waiting = Question(
            course_id=site.course_id,
            author_id=site["giulia"].member_id,
            title="Still waiting",
            created_at=now,
            updated_at=now,
            last_activity_at=now,
        )
        db.session.add(waiting)
        db.session.commit()
        waiting_id = waiting.id
        playbook.add_template(
            db.session, site.course_id, site["cm"].member_id, "Syllabus", "See the syllabus, §2."
        )
    giulia = sign_in(app, site, "giulia")
    ask = giulia.get("/w/L1/qa/ask").get_data(as_text=True)
    assert "Questions here usually get a first answer within 2 hours." in ask
    page = giulia.get(f"/w/L1/qa/{waiting_id}").get_data(as_text=True)
    assert "No answer yet. Questions here usually get a first answer within 2 hours." in page
    assert "Reply template" not in page  # students get no staff templates
    staff = sign_in(app, site, "ta").get(f"/w/L1/qa/{waiting_id}").get_data(as_text=True)
    assert 'data-body="See the syllabus, §2."' in staff and "Insert the template" in staff


def test_a_long_at_risk_list_comes_in_pages_with_totals(app: Flask, site: CourseWorld) -> None:
    from lti_tool.courses.models import Member

    with app.app_context():
        for i in range(55):
            member = Member(
                platform_id=site.platform_id, lms_id=f"quiet-{i}", name=f"Quiet {i:02d}"
            )
            db.session.add(member)
            db.session.flush()
            db.session.add(
                Enrolment(
                    course_id=site.course_id,
                    member_id=member.id,
                    roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                    created_at=utcnow() - timedelta(days=4),
                )
            )
        db.session.commit()
    client = sign_in(app, site, "prof")
    first = client.get(url("/at-risk")).get_data(as_text=True)
    assert "55 students at risk: Never opened Bottega (55)" in " ".join(first.split())
    assert first.count('class="dash-student"') == 50 and "Page 1 of 2" in first
    second = client.get(url("/at-risk?page=2")).get_data(as_text=True)
    assert second.count('class="dash-student"') == 5
    assert client.get(url("/at-risk?page=abc")).status_code == 200


@pytest.mark.parametrize(
    ("key", "path", "title"),
    [
        ("prof", url("/hanging"), "Waiting for a reply"),
        ("giulia", "/w/L1/me", "My profile"),
    ],
)
def test_page_titles_are_plain_text(
    app: Flask, site: CourseWorld, key: str, path: str, title: str
) -> None:
    """What the browser's tab and a screen reader announce first: the page's name alone."""
    page = sign_in(app, site, key).get(path).text
    found = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    assert found and found.group(1).startswith(title) and "<" not in found.group(1)


@pytest.mark.parametrize(
    ("finding", "english", "italian"),
    [
        (
            risk.Finding(risk.Reason.INACTIVE, count=1),
            "No activity for 1 day",
            "Nessuna attività da 1 giorno",
        ),
        (
            risk.Finding(risk.Reason.FALLING, count=1, previous=6),
            "1 action this week against 6 last week",
            "1 azione questa settimana contro 6 la settimana scorsa",
        ),
        (
            risk.Finding(risk.Reason.NEGATIVE, count=1),
            "1 post with a negative tone in the last 14 days",
            "1 messaggio con tono negativo negli ultimi 14 giorni",
        ),
        (
            risk.Finding(risk.Reason.QUIET_GROUP, count=2),
            "No activity in their group for 2 days",
            "Nessuna attività nel suo gruppo da 2 giorni",
        ),
    ],
)
def test_at_risk_reasons_agree_with_their_numbers(
    app: Flask, finding: risk.Finding, english: str, italian: str
) -> None:
    """One day, one action, one post: the singular, in both languages."""
    from lti_tool.community.dashboard.views import describe

    for language, expected in (("en", english), ("it", italian)):
        with app.test_request_context(headers={"Accept-Language": language}):
            assert describe(finding) == expected
