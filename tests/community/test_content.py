"""Markdown from members is rendered with raw HTML disabled and cleaned with an allowlist."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType
from sqlalchemy import func, select

from lti_tool.community.content import mentioned_handles, plain_text, render, render_markdown
from lti_tool.community.notifications.models import Notification
from lti_tool.community.qa import services as qa
from lti_tool.community.welcome.services import introduce, welcome
from lti_tool.extensions import db

from .qa.conftest import PEOPLE, CourseWorld, make_course, make_platform


def test_markdown_basics_survive() -> None:
    html = render_markdown("Some **bold**, `code` and a [link](https://example.org).")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.org" rel="nofollow ugc noopener">link</a>' in html


def test_raw_html_and_script_urls_are_inert() -> None:
    html = render_markdown('<script>alert(1)</script> [x](javascript:alert(1)) <b onclick="x">')
    assert "<script" not in html and "javascript:" not in html.replace("(javascript:", "")
    assert "onclick=" not in html or "&lt;b onclick" in html


def test_math_is_kept_as_escaped_tex_for_katex() -> None:
    html = render_markdown("Area $\\pi r^2$ and $$\\frac{a}{b} < c$$")
    assert '<span class="math math-inline">\\pi r^2</span>' in html
    assert "&lt; c" in html


def test_headings_are_demoted_below_the_page_headings() -> None:
    assert "<h3>Title</h3>" in render_markdown("# Title")


def test_mentions_ignore_code_and_emails() -> None:
    assert mentioned_handles("ciao @giulia.rossi e @Marco, scrivi a a@b.it `@nope`") == {
        "giulia.rossi",
        "marco",
    }


def test_plain_text_excerpt() -> None:
    assert plain_text("**Bold** <b>tag</b> " + "x" * 300, limit=20).endswith("…")
    assert plain_text("**Bold** <b>tag</b>") == "Bold <b>tag</b>"


def test_mentions_skip_every_kind_of_code_math_and_link_addresses() -> None:
    text = "~~~\n@a.fence\n~~~\n\n    @an.indent\n\n``x ` @in.code`` $@in.math$ [@b.text](https://x/@in.url)"
    assert mentioned_handles(text) == {"b.text"}


def test_an_image_is_a_link_to_it_named_by_its_description() -> None:
    html = render_markdown("See ![the *graph*](https://example.org/g.png) here.")
    assert '<a href="https://example.org/g.png" rel="nofollow ugc noopener">the graph</a>' in html
    assert "<img" not in html
    assert ">https://example.org/g.png</a>" in render_markdown("![](https://example.org/g.png)")


def test_an_image_inside_a_link_keeps_the_one_link() -> None:
    html = render_markdown("[![build](https://ci.example.org/b.svg)](https://ci.example.org/)")
    assert str(html).strip() == (
        '<p><a href="https://ci.example.org/" rel="nofollow ugc noopener">build</a></p>'
    )


def test_a_data_or_script_image_keeps_its_words_and_no_address() -> None:
    html = render_markdown("![pixel](data:image/png;base64,AAAA) ![x](javascript:alert(1))")
    assert (
        "data:" not in html
        and "pixel" in html
        and "javascript:alert" not in html.replace("(javascript:alert", "")
    )


CORPUS = [
    "",
    "Some **bold**, `code` and a [link](https://example.org).",
    "# Title @giulia.rossi\n\n## Sub\n\nciao @Marco, a@b.it `@nope` $@in.math$",
    "See ![the *graph*](https://example.org/g.png) and [![b](https://x/b.svg)](https://x/)",
    '<script>alert(1)</script> <b onclick="x">tag</b> &amp; ' + "word " * 80,
    "~~~\n@a.fence\n~~~\n\n    @an.indent\n\n| a | b |\n|---|---|\n| @c.cell | 2 |",
    "[" * 300,
]


@pytest.mark.parametrize("text", CORPUS)
def test_one_parse_gives_what_the_three_separate_ones_give(text: str) -> None:
    rendered = render(text)
    assert rendered.html == render_markdown(text)
    assert set(rendered.mentions) == mentioned_handles(text)
    assert rendered.excerpt() == plain_text(text)
    assert rendered.excerpt(20) == plain_text(text, 20)


@pytest.fixture
def course(app: Flask) -> Iterator[CourseWorld]:
    with app.app_context():
        yield make_course(make_platform("https://moodle.example.org"), "course-1", PEOPLE)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text markdown-it-py parses from now on."""
    texts: list[str] = []
    parse = MarkdownIt.parse

    def counting(self: MarkdownIt, src: str, env: EnvType | None = None) -> list[Token]:
        texts.append(src)
        return parse(self, src, env)

    monkeypatch.setattr(MarkdownIt, "parse", counting)
    return texts


# Longer than sentiment reads (it parses its own first characters: not the whole text).
LONG = "Ciao @marco, guarda [qui](https://example.org)." + " Integrali per parti." * 600


def test_writing_and_editing_an_answer_parses_its_markdown_once(
    course: CourseWorld, parsed: list[str]
) -> None:
    session = db.session()
    question = qa.ask(session, course["giulia"], qa.QuestionInput(title="Integrali"))
    parsed.clear()
    post = qa.answer(session, course["sara"], question.id, LONG)
    assert parsed.count(LONG) == 1
    assert db.session.scalar(select(func.count()).select_from(Notification)) >= 1  # @marco

    parsed.clear()
    edited = LONG + " @prof"
    qa.edit_answer(session, course["sara"], post.id, edited)
    assert parsed.count(edited) == 1


def test_a_question_and_a_welcome_parse_their_markdown_once(
    course: CourseWorld, parsed: list[str]
) -> None:
    session = db.session()
    qa.ask(session, course["giulia"], qa.QuestionInput(title="Integrali", body=LONG))
    assert parsed.count(LONG) == 1

    intro = introduce(session, course.course_id, course["giulia"].member_id, "Ciao a tutti")
    parsed.clear()
    welcome(session, course.course_id, course["marco"].member_id, intro.id, LONG[:2000])
    assert parsed.count(LONG[:2000]) == 1
