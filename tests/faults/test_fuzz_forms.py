"""Bad input on every form of Q&A, groups, kudos and moderation (hypothesis).

The forms are read from the pages themselves (action and field names), then posted with
fuzzed values: huge, empty, unicode, numbers of every shape, fields missing or added. A
refusal is a clear 4xx page with no traceback and changes no row; nothing is ever a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lti_tool.extensions import db, limiter

from ..community.qa.conftest import PEOPLE as QA_PEOPLE
from ..community.qa.conftest import CourseWorld, make_course, make_platform, sign_in

# Bookkeeping a refused request may still write: the engagement of having looked at a page.
UNCOUNTED = frozenset({"engagement_event", "engagement_day", "engagement_week"})
# Per role and database (PostgreSQL refuses what SQLite stores: NUL, numbers out of range).
EXAMPLES = {"sqlite": 60, "postgresql": 30}

FORM_RE = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
ATTR_RE = re.compile(r'(\w[\w-]*)="([^"]*)"')
FIELD_RE = re.compile(r"<(input|textarea|select)\b([^>]*)>", re.S | re.I)


@dataclass(frozen=True)
class Form:
    action: str
    fields: dict[str, str]  # name -> value as the page filled it in


def forms_of(html: str) -> list[Form]:
    found = []
    for attrs, body in FORM_RE.findall(html):
        form_attrs = dict(ATTR_RE.findall(attrs))
        if form_attrs.get("method", "get").lower() != "post" or "action" not in form_attrs:
            continue
        fields: dict[str, str] = {}
        for _tag, field_attrs in FIELD_RE.findall(body):
            values = dict(ATTR_RE.findall(field_attrs))
            if "name" in values:
                fields[unescape(values["name"])] = unescape(values.get("value", ""))
        found.append(Form(unescape(form_attrs["action"]), fields))
    return found


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.scalar(select(func.count()).select_from(table)) or 0
            for table in db.metadata.sorted_tables
            if table.name not in UNCOUNTED
        }


@pytest.fixture
def no_rate_limit() -> Iterator[None]:
    """Fuzzing posts faster than any person: let the validation, not the limiter, answer."""
    limiter.enabled = False
    try:
        yield
    finally:
        limiter.enabled = True


@pytest.fixture
def site(app: Flask, no_rate_limit: None) -> CourseWorld:
    with app.app_context():
        platform = make_platform("https://moodle.example.org")
        return make_course(platform, "course-1", QA_PEOPLE, managers=("cm",))


def _seed(app: Flask, site: CourseWorld) -> dict[str, str]:
    """A question, an answer, a flag, a group set: so that every form appears on a page."""
    student = sign_in(app, site, "giulia")
    page = student.get("/w/L1/qa/ask").text
    token = _token(page)
    asked = student.post(
        "/w/L1/qa/ask",
        data={"csrf_token": token, "title": "Come si cita un affresco?", "body": "Grazie mille"},
    )
    assert asked.status_code == 303, asked.text[:500]
    question = asked.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    student.post(f"/w/L1/qa/{question}/answers", data={"csrf_token": token, "body": "Con la fonte"})
    flag = forms_of(student.get(f"/w/L1/qa/{question}/flag?kind=question&post_id={question}").text)
    assert flag, "no flag form"
    student.post(flag[0].action, data={**flag[0].fields, "reason": "spam", "note": "x"})
    prof = sign_in(app, site, "prof")
    [new_set] = forms_of(prof.get("/w/L1/groups/sets/new").text)
    fields = {**new_set.fields, "name": "Gruppi di studio", "group_size": "4"}
    made = prof.post(new_set.action, data=fields)
    assert made.status_code == 303, made.text[-2000:]
    return {"question": question, "set": made.headers["Location"]}


def fuzz_settings(app: Flask, examples: dict[str, int]) -> settings:
    """Hypothesis settings for a run against ``app``: a fixed number of examples per database,
    no deadline (the machine is shared), no example database left behind."""
    return settings(
        max_examples=examples[_dialect(app)],
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _dialect(app: Flask) -> str:
    with app.app_context():
        return str(db.engine.dialect.name)


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return unescape(match.group(1))


def _pages(seeded: dict[str, str]) -> list[str]:
    question = seeded["question"]
    return [
        seeded["set"],
        "/w/L1/moderation/flags/1",
        "/w/L1/qa/ask",
        f"/w/L1/qa/{question}",
        f"/w/L1/qa/{question}/edit",
        f"/w/L1/qa/{question}/comment",
        f"/w/L1/qa/{question}/flag?kind=question&post_id={question}",
        "/w/L1/qa/settings",
        "/w/L1/groups/",
        "/w/L1/groups/sets/new",
        "/w/L1/kudos/give",
        "/w/L1/kudos/settings",
        "/w/L1/moderation/",
        "/w/L1/moderation/conduct",
    ]


def _collect(client: FlaskClient, seeded: dict[str, str]) -> list[Form]:
    """The forms of the pages; deleting and retiring take no input and would end the run."""
    forms: dict[str, Form] = {}
    for url in _pages(seeded):
        response = client.get(url)
        if response.status_code == 200:
            for form in forms_of(response.text):
                if not form.action.endswith(("/delete", "/retire")):
                    forms.setdefault(form.action, form)
    return list(forms.values())


# -- what hypothesis sends --------------------------------------------------------------------

NUMBERISH = st.sampled_from(
    ["0", "-1", "1e309", "NaN", "inf", "9" * 40, "1.5", "0x10", " 3 ", "٣", "", "-0", "1_000"]
)
DATES = st.sampled_from(
    [
        "9999-12-31T23:59",
        "0001-01-01T00:00",
        "2026-02-30T10:00",
        "2026-11-25T10:00:00+14:00",
        "2026-11-25",
        "10:00",
        "2026-W48",
    ]
)
WEIRD = st.sampled_from(
    [
        "\x00",
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "\u202e\u200b",
        "<script>alert(1)</script>",
        "{{ 7*7 }}",
        "' OR 1=1 --",
        "%s%s%n",
        "🙂" * 200,
        "a" * 70_000,
        "\r\n" * 500,
    ]
)
VALUE = st.one_of(st.text(max_size=300), NUMBERISH, DATES, WEIRD, st.just(""))


@st.composite
def fuzzed(draw: st.DrawFn, form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in form.fields.items():
        if name == "csrf_token":
            data[name] = value
            continue
        choice = draw(st.sampled_from(["keep", "fuzz", "fuzz", "drop", "many"]))
        if choice == "keep":
            data[name] = value
        elif choice == "fuzz":
            data[name] = draw(VALUE)
        elif choice == "many":
            data[name] = draw(st.lists(VALUE, min_size=2, max_size=4))
    if draw(st.booleans()):
        data[draw(st.text(min_size=1, max_size=20))] = draw(VALUE)
    return data


def _check(app: Flask, client: FlaskClient, form: Form, data: dict[str, Any]) -> None:
    before = row_counts(app)
    response = client.post(form.action, data=data)
    text = response.get_data(as_text=True)
    assert response.status_code < 500, (form.action, data, text[:1000])
    assert "Traceback" not in text and "Something went wrong" not in text
    if response.status_code >= 400:
        assert row_counts(app) == before, (form.action, response.status_code)


@pytest.mark.parametrize("who", ["prof", "giulia"])
def test_fuzzed_forms_are_refused_clearly_and_change_nothing(
    app: Flask, site: CourseWorld, who: str
) -> None:
    seeded = _seed(app, site)
    client = sign_in(app, site, who)
    forms = _collect(client, seeded)
    assert len(forms) >= (10 if who == "prof" else 5), [f.action for f in forms]

    @fuzz_settings(app, EXAMPLES)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        form = data.draw(st.sampled_from(forms), label="form")
        _check(app, client, form, data.draw(fuzzed(form), label="fields"))

    run()


def test_ids_beyond_the_integer_column_range_are_not_found(app: Flask, site: CourseWorld) -> None:
    client = sign_in(app, site, "prof")
    huge = "9" * 20
    assert client.get(f"/w/L1/qa/{huge}").status_code == 404
    assert client.get(f"/w/L1/groups/sets/{huge}").status_code == 404
    page = client.get("/w/L1/qa/ask").text
    listed = client.get(f"/w/L1/qa/?tag={huge}&page={huge}")
    assert listed.status_code == 200
    flag = client.get(f"/w/L1/qa/1/flag?kind=question&post_id={huge}")
    assert flag.status_code in (400, 404)
    asked = client.post(
        "/w/L1/qa/ask",
        data={"csrf_token": _token(page), "title": "Una domanda?", "body": "x", "tags": huge},
    )
    assert asked.status_code < 500
