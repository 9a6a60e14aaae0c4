"""Hostile posts are stored as written and rendered inert: no script, handler or script URL."""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

from flask import Flask
from flask.testing import FlaskClient

from lti_tool.community.qa import services
from lti_tool.extensions import db

from .conftest import CourseWorld, sign_in
from .xss_corpus import XSS_CORPUS

FORBIDDEN_TAGS = {
    "script", "iframe", "object", "embed", "svg", "math", "style", "link", "meta", "base",
    "frame", "frameset", "applet", "img", "video", "audio", "source", "marquee", "input",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
# Our own page furniture inside <main>: forms (with inputs) and nothing that runs.
OWN_INPUT_TYPES = {"hidden", "text", "search", "checkbox"}


class Inspector(HTMLParser):
    """Collects whatever in a page could run script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_main = False
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.in_main = True
        if not self.in_main:
            return
        values = {name: value or "" for name, value in attrs}
        if tag in FORBIDDEN_TAGS and not (
            tag == "input" and values.get("type") in OWN_INPUT_TYPES and "name" in values
        ):
            self.problems.append(f"<{tag} {values}>")
        for name, value in values.items():
            if name.startswith("on") or name == "style":
                self.problems.append(f"{name}= on <{tag}>")
            if name in URL_ATTRIBUTES:
                url = "".join(ch for ch in unescape(value) if ch > " ").lower()
                if url.startswith(("javascript:", "data:", "vbscript:")):
                    self.problems.append(f"{name}={value!r} on <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.in_main = False


def inspect(html: str) -> list[str]:
    if "<main" not in html:  # an htmx fragment
        html = f"<main>{html}</main>"
    main = html[html.index("<main") : html.index("</main>") + len("</main>")]
    assert "<script" not in main.lower()
    parser = Inspector()
    parser.feed(main)
    return parser.problems


def pages(client: FlaskClient, question_ids: list[int], staff: bool) -> dict[str, str]:
    urls = [
        "/w/L1/qa/",
        "/w/L1/qa/?page=2",
        "/w/L1/qa/?page=3",
        "/w/L1/qa/?page=4",
        "/w/L1/qa/?q=hostile",
        "/w/L1/qa/duplicates?title=hostile+input+script",
        "/w/L1/qa/notifications",
        f"/w/L1/qa/{question_ids[0]}/history",
        f"/w/L1/qa/{question_ids[1]}/comment",
        f"/w/L1/qa/{question_ids[1]}/flag?kind=question&post_id={question_ids[1]}",
        *(["/w/L1/qa/unanswered"] if staff else []),
    ] + [f"/w/L1/qa/{i}" for i in question_ids]
    result = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        result[url] = response.text
    return result


def test_corpus_is_large_enough() -> None:
    assert len(XSS_CORPUS) >= 50
    assert len(set(XSS_CORPUS)) == len(XSS_CORPUS)


def test_hostile_posts_render_inert(app: Flask, site: CourseWorld) -> None:
    with app.app_context():
        session = db.session()
        ids = []
        for n, hostile in enumerate(XSS_CORPUS):
            question = services.ask(
                session,
                site["giulia"],
                services.QuestionInput(
                    title=f"hostile input {n} {hostile}"[:200],
                    body=f"@prof hostile {hostile}",
                ),
            )
            ids.append(question.id)
        first = ids[0]
        for hostile in XSS_CORPUS:
            services.answer(session, site["marco"], first, hostile)
            services.comment(session, site["sara"], first, hostile)
        services.edit_question(
            session,
            site["giulia"],
            first,
            services.QuestionInput(title="hostile input edited", body=XSS_CORPUS[0]),
        )
    for who in ("giulia", "prof"):  # a student's pages and a moderator's (more buttons)
        client = sign_in(app, site, who)
        rendered = pages(client, ids, staff=who == "prof")
        for url, html in rendered.items():
            assert inspect(html) == [], url
        # The hostile text is there, as text.
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered[f"/w/L1/qa/{ids[0]}"]
    # Stored as written: moderation sees exactly what was sent.
    with app.app_context():
        from lti_tool.community.qa.models import Question

        stored = db.session.get(Question, ids[1])
        assert stored is not None and stored.body == f"@prof hostile {XSS_CORPUS[1]}"
