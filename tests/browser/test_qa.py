"""The Q&A widget in Chromium, inside a cross-site LMS iframe with third-party cookies blocked.

Mirrors tests/community/qa/test_http_flow.py in a real browser: hostile posts stay inert, the
whole ask / answer / accept / endorse / search flow works with one browser profile per person,
and an Italian launch shows the Italian interface.

Each launch is a page on the LMS's site (``localhost``) that frames the tool's login URL, as the
demo LMS's course pages do; once launched, the same kind of page frames any Q&A URL, and the
tool's partitioned session cookie carries the launch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import (
    BrowserContext,
    Dialog,
    Frame,
    FrameLocator,
    Page,
    Playwright,
    Route,
    expect,
)
from sqlalchemy import select

from lti_tool.community.moderation.services import flag_content
from lti_tool.community.notifications.services import notify
from lti_tool.community.qa import services
from lti_tool.community.qa.permissions import Actor
from lti_tool.community.welcome.services import introduce
from lti_tool.courses.models import Course, Enrolment, Member
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from ..community.qa.xss_corpus import XSS_CORPUS
from ..lti_harness import CLIENT_ID, INSTRUCTOR, LEARNER, TA
from .conftest import BLOCK_THIRD_PARTY_COOKIES, CrossSite, launch, new_tab

pytestmark = pytest.mark.browser

COURSE = {"id": "course-qa", "label": "MAT-1", "title": "Analisi 1", "type": []}

# Runs first in every frame: any dialog a payload opens is recorded, not shown.
SENTINEL = """(() => {
    window.__xss = [];
    for (const name of ["alert", "confirm", "prompt", "print"]) {
        window[name] = (...args) => { window.__xss.push(name + ":" + args.join(",")); };
    }
})();"""


@dataclass
class Person:
    sub: str
    name: str
    roles: list[str]


GIULIA = Person("s1", "Giulia Rossi", [LEARNER])
MARCO = Person("s2", "Marco Bianchi", [LEARNER])
LUCA = Person("ta1", "Luca Gallo", [TA])
ANNA = Person("t1", "Anna Neri", [INSTRUCTOR])


class Lms:
    """Pages on the LMS's site that frame the tool: a launch, or any tool URL afterwards."""

    def __init__(self, cross_site: CrossSite) -> None:
        self.cross_site = cross_site
        cross_site.lms.storage_target = None  # partitioned cookies only

    @property
    def tool_url(self) -> str:
        return self.cross_site.tool_url

    def show(self, page: Page, src: str) -> FrameLocator:
        """The LMS's front page with ``src`` (a tool URL) in an iframe in place of its content.

        A real LMS page, not one made up with ``page.route``: Chromium's Local Network Access
        checks treat a routed page as public and refuse to let it frame the tool on 127.0.0.1.
        """
        page.goto(self.cross_site.lms_url + "/")
        page.evaluate(
            """src => {
                const frame = document.createElement("iframe");
                frame.id = "tool-frame";
                frame.width = 1200;
                frame.height = 800;
                frame.src = src;
                document.body.replaceChildren(frame);
            }""",
            src,
        )
        return page.frame_locator("#tool-frame")

    def launch(
        self, page: Page, who: Person, locale: str | None = None
    ) -> tuple[FrameLocator, str]:
        """Launch ``who`` into the course's Q&A; the frame and the Q&A base URL."""
        presentation: dict[str, Any] = {"document_target": "iframe"}
        if locale:
            presentation["locale"] = locale
        prepared = self.cross_site.lms.platform.prepare_launch(
            CLIENT_ID,
            user={"sub": who.sub, "name": who.name},
            roles=who.roles,
            context=COURSE,
            resource_link={"id": "rl-qa", "title": "Domande"},
            custom={"widget": "qa"},
            launch_presentation=presentation,
        )
        frame = self.show(page, prepared.login_url)
        # A student who has not introduced themselves lands with the welcome prompt.
        landed = tool_frame(page, self.tool_url, re.compile(r"/w/[^/]+/qa/(\?welcome=1)?$"))
        expect(frame.locator("main h1")).to_have_count(1)
        # A member's first launch in the course shows the code of conduct: accept it once.
        accept = frame.locator("form[action$='/moderation/conduct/accept'] button")
        if accept.count():
            accept.click()
            expect(frame.locator("header.qa-header")).to_have_count(1)
        return frame, landed.url.split("?")[0]


def tool_frame(page: Page, tool_url: str, landing: re.Pattern[str] | None = None) -> Frame:
    """The tool's frame in the page, once it has one (at a URL ``landing`` matches, if given,
    and loaded).

    Asked for again on every try: a launch takes the frame from the tool to the LMS and back,
    and Chromium may give it a new frame object on the way (another origin, another process), so
    a frame caught at the tool's login URL can be one that never loads the widget page.
    """
    for _ in range(300):
        frame = page.frame(
            url=lambda url: (
                url.startswith(tool_url + "/")
                and (landing is None or landing.search(url) is not None)
            )
        )
        if frame is not None:
            if landing is not None:
                frame.wait_for_load_state()
            return frame
        page.wait_for_timeout(50)
    raise AssertionError([f.url for f in page.frames])


def actor_for(app: Flask, who: Person) -> Actor:
    """The launched person as the service layer knows them."""
    with app.app_context():
        row = db.session.execute(
            select(Enrolment.member_id, Enrolment.course_id)
            .join(Member, Member.id == Enrolment.member_id)
            .join(Course, Course.id == Enrolment.course_id)
            .where(Member.lms_id == who.sub, Course.lms_id == COURSE["id"])
        ).one()
    role = {LEARNER: CourseRole.LEARNER, TA: CourseRole.TEACHING_ASSISTANT}.get(
        who.roles[0], CourseRole.INSTRUCTOR
    )
    return Actor(
        member_id=row.member_id, course_id=row.course_id, role=role, community_manager=False
    )


@pytest.fixture
def lms(cross_site: CrossSite) -> Lms:
    return Lms(cross_site)


@pytest.fixture
def profiles(playwright: Playwright, tmp_path: Path) -> Iterator[Callable[[], Page]]:
    """More chromium profiles (own cookie jars, third-party cookies blocked), closed after."""
    contexts: list[BrowserContext] = []

    def open_tab() -> Page:
        context = launch(
            playwright, tmp_path / f"profile-{len(contexts)}", BLOCK_THIRD_PARTY_COOKIES
        )
        contexts.append(context)
        return new_tab(context)

    try:
        yield open_tab
    finally:
        for context in contexts:
            context.close()


# --- 1. hostile posts stay inert -------------------------------------------------------------


def _packed(items: list[str], limit: int) -> list[str]:
    """Payloads joined by spaces into strings of at most ``limit`` characters."""
    packs: list[str] = []
    for item in items:
        if packs and len(packs[-1]) + 1 + len(item) <= limit:
            packs[-1] += " " + item
        else:
            assert len(item) <= limit, item
            packs.append(item)
    return packs


def _seed_hostile(app: Flask, author: Actor) -> list[int]:
    """Every payload as a title, a question body, an answer and a comment; the question ids."""
    chunks = [XSS_CORPUS[i : i + 11] for i in range(0, len(XSS_CORPUS), 11)]
    titles = _packed(XSS_CORPUS, 190)
    ids = []
    with app.app_context():
        session = db.session()
        for n in range(max(len(chunks), len(titles))):
            chunk = chunks[n] if n < len(chunks) else XSS_CORPUS[:1]
            title = f"h{n} " + (titles[n] if n < len(titles) else "hostile")
            question = services.ask(
                session, author, services.QuestionInput(title=title, body="\n\n".join(chunk))
            )
            services.answer(session, author, question.id, "\n\n".join(chunk))
            services.comment(session, author, question.id, "\n\n".join(chunk))
            ids.append(question.id)
    return ids


def test_hostile_posts_do_not_run_in_the_browser(
    page: Page, lms: Lms, app: Flask, csp_refused: list[str]
) -> None:
    dialogs: list[str] = []
    console: list[str] = []
    evil: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_evil(route: Route) -> None:
        evil.append(route.request.url)
        route.abort()

    page.add_init_script(SENTINEL)
    page.on("dialog", on_dialog)
    page.on("console", lambda message: console.append(message.text))
    page.route(lambda url: "evil.example" in url, on_evil)

    _frame, qa_url = lms.launch(page, GIULIA)
    giulia = actor_for(app, GIULIA)
    ids = _seed_hostile(app, giulia)

    # The list, search results (titles) and each question page (titles, bodies, answers,
    # comments), each checked to show the hostile posts, so that an error page cannot pass.
    pages = {qa_url: "li.qa-item", qa_url + "?q=alert": "li.qa-item"}
    pages |= {f"{qa_url}{i}": "article.qa-answer" for i in ids}
    for url, shows in pages.items():
        frame = lms.show(page, url)
        expect(frame.locator(shows).first).to_contain_text("alert(1)")
        tool = tool_frame(page, lms.tool_url)
        # Hover and focus what a payload might hook, then let timers and loads settle.
        for target in tool.locator("main .qa-body").all()[:3]:
            target.hover(timeout=2_000)
        page.wait_for_timeout(50)
        fired = tool.evaluate("() => window.__xss")
        assert fired == [], (url, fired)
        for child in tool.child_frames:  # a data: or about: frame a payload would open
            assert child.evaluate("() => window.__xss || []") == [], (url, child.url)
    assert dialogs == [] and evil == [], (dialogs, evil)
    assert not [m for m in console if "alert" in m or "Refused to execute" in m], console

    # The hostile text is on the page, as text.
    frame = lms.show(page, f"{qa_url}{ids[0]}")
    expect(frame.locator("main .qa-body").first).to_contain_text("<script>alert(1)</script>")

    # Self-check: a script that does run in the tool's frame trips the sentinel; an inline
    # script injected into the page is refused by the Content-Security-Policy as well.
    tool = tool_frame(page, lms.tool_url)
    tool.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "alert(1)";
            document.body.append(script);
            confirm(2);
        }"""
    )
    assert tool.evaluate("() => window.__xss") == ["confirm:2"]
    page.wait_for_timeout(100)
    assert len(csp_refused) == 1 and "Content Security Policy" in csp_refused[0]
    csp_refused.clear()


# --- 2. the flow, one browser profile per person ---------------------------------------------


def test_ask_answer_accept_endorse_and_search_in_the_lms_iframe(
    page: Page, lms: Lms, app: Flask, profiles: Callable[[], Page]
) -> None:
    giulia_tab, marco_tab, luca_tab = page, profiles(), profiles()
    giulia, giulia_qa = lms.launch(giulia_tab, GIULIA)
    marco, marco_qa = lms.launch(marco_tab, MARCO)
    luca, luca_qa = lms.launch(luca_tab, LUCA)
    for tab in (giulia_tab, marco_tab, luca_tab):  # each in its own, partitioned, cookie jar
        cookies = [c for c in tab.context.cookies(lms.tool_url) if c["name"] == "bottega_session"]
        assert len(cookies) == 1 and cookies[0].get("partitionKey"), cookies
    assert giulia_tab.context.cookies() != marco_tab.context.cookies()

    # An earlier question, for the duplicate suggestion.
    with app.app_context():
        services.ask(
            db.session(),
            actor_for(app, LUCA),
            services.QuestionInput(title="Come si calcola la derivata di x²?", body="Esercizio 3."),
        )

    # Giulia starts typing a similar title and is shown the earlier question; she asks anyway.
    giulia.get_by_role("link", name="Ask a question").first.click()
    expect(giulia.locator("main h1")).to_have_text("Ask a question")
    title = giulia.locator("#qa-title")
    title.press_sequentially("derivata di x²", delay=10)
    suggestion = giulia.locator("#qa-duplicates")
    expect(suggestion).to_contain_text("These questions may already ask the same thing:")
    expect(suggestion.get_by_role("link")).to_have_text("Come si calcola la derivata di x²?")
    # htmx ran and added no inline <style> (a strict CSP would refuse it): app.css has its rules.
    frame = tool_frame(giulia_tab, lms.tool_url)
    assert frame.evaluate("() => htmx.config.includeIndicatorStyles") is False
    assert frame.evaluate("() => document.querySelectorAll('style').length") == 0
    title.fill("Perché la derivata di x² è 2x?")
    giulia.locator("#qa-body").fill("Non capisco il limite del rapporto incrementale.")
    giulia.get_by_role("button", name="Post your question").click()
    expect(giulia.locator("main")).to_contain_text("Your question is posted.")
    expect(giulia.locator("main h1")).to_have_text("Perché la derivata di x² è 2x?")
    question_url = tool_frame(giulia_tab, lms.tool_url).url.split("#")[0]
    question_id = question_url.rstrip("/").rsplit("/", 1)[1]
    assert question_id.isdigit(), question_url

    # Marco finds it in the list and answers.
    marco = lms.show(marco_tab, marco_qa)
    marco.get_by_role("link", name="Perché la derivata di x² è 2x?").click()
    expect(marco.locator("main h1")).to_have_text("Perché la derivata di x² è 2x?")
    marco.locator("#qa-answer-body").fill("Il limite di (2xh + h²)/h è 2x.")
    marco.get_by_role("button", name="Post your answer").click()
    expect(marco.locator("main")).to_contain_text("Your answer is posted.")
    answer = marco.locator("article.qa-answer")
    expect(answer).to_have_count(1)
    expect(answer.get_by_role("button", name="Accept this answer")).to_have_count(0)

    # Giulia accepts it.
    giulia = lms.show(giulia_tab, giulia_qa + question_id)
    answer = giulia.locator("article.qa-answer")
    expect(answer).to_contain_text("Il limite di (2xh + h²)/h è 2x.")
    answer.get_by_role("button", name="Accept this answer").click()
    expect(giulia.locator("main")).to_contain_text("You accepted this answer.")
    expect(giulia.locator("article.qa-answer .qa-accepted-badge")).to_have_text("Accepted answer")

    # Luca, a teaching assistant, endorses it; Marco, a student, has no such button.
    luca = lms.show(luca_tab, luca_qa + question_id)
    luca.locator("article.qa-answer").get_by_role("button", name="Endorse").click()
    expect(luca.locator("main")).to_contain_text("The answer is endorsed.")
    expect(luca.locator("article.qa-answer .qa-endorsed")).to_have_text("Endorsed by staff")
    marco = lms.show(marco_tab, marco_qa + question_id)
    expect(marco.locator("article.qa-answer .qa-endorsed")).to_have_text("Endorsed by staff")
    expect(marco.get_by_role("button", name="Endorse")).to_have_count(0)

    # Search finds it, without the accent and in another word form, and shows it resolved.
    luca = lms.show(luca_tab, luca_qa)
    luca.locator("#qa-q").fill("perche derivate")
    luca.get_by_role("button", name="Apply").click()
    expect(luca.locator(".qa-result-note")).to_contain_text("perche derivate")
    hit = luca.locator("li.qa-item").filter(has_text="Perché la derivata di x² è 2x?")
    expect(hit).to_have_count(1)
    expect(hit).to_contain_text("Resolved")


# --- 3. an Italian launch --------------------------------------------------------------------


def test_italian_launch_shows_the_italian_interface(page: Page, lms: Lms) -> None:
    frame, qa_url = lms.launch(page, ANNA, locale="it-IT")
    expect(frame.locator("html")).to_have_attribute("lang", "it")
    expect(frame.locator("main h1")).to_have_text("Domande e risposte")
    expect(frame.get_by_label("Cerca domande")).to_be_visible()
    frame.get_by_role("link", name="Fai una domanda").first.click()
    expect(frame.locator("main h1")).to_have_text("Fai una domanda")
    expect(frame.get_by_role("button", name="Pubblica la domanda")).to_be_visible()
    expect(frame.locator("html")).to_have_attribute("lang", "it")
    assert tool_frame(page, lms.tool_url).url == qa_url + "ask"


def test_formulas_render_under_a_style_policy_without_unsafe_inline(
    page: Page, lms: Lms, app: Flask
) -> None:
    _, qa_url = lms.launch(page, ANNA)
    body = (
        "Inline $\\int_0^1 x^2\\,dx = \\frac{1}{3}$, then a display formula:\n\n"
        "$$\\sum_{n=1}^{\\infty} \\frac{1}{n^2} = \\frac{\\pi^2}{6}$$"
    )
    with app.app_context():
        question = services.ask(
            db.session(),
            actor_for(app, ANNA),
            services.QuestionInput(title="Why does this sum converge?", body=body),
        )
        question_id = question.id
    frame = lms.show(page, f"{qa_url}{question_id}")
    expect(frame.locator(".katex-display")).to_have_count(1)
    expect(frame.locator(".katex")).to_have_count(2)
    # Screen readers get KaTeX's MathML, with no label over it that would read the TeX source.
    expect(frame.locator(".math .katex-mathml math")).to_have_count(2)
    expect(frame.locator(".math[aria-label]")).to_have_count(0)
    # KaTeX lays formulas out in style attributes, written through the CSSOM: allowed by
    # style-src 'self' 'nonce-...', and the page fixture fails on any CSP refusal.
    assert frame.locator(".katex [style]").count() > 0
    policy = page.context.request.get(f"{qa_url}{question_id}").headers["content-security-policy"]
    assert "style-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy


def test_long_words_do_not_widen_the_page_at_360_px(page: Page, lms: Lms, app: Flask) -> None:
    """A title, a post and a notification made of one long word (a pasted URL, a row of
    characters) wrap inside a phone-width frame: the page never scrolls sideways."""
    _, qa_url = lms.launch(page, ANNA)
    word = "https://example.org/" + "a" * 180
    anna = actor_for(app, ANNA)
    with app.app_context():
        question = services.ask(
            db.session(), anna, services.QuestionInput(title=word[:190], body=f"See {word} now")
        )
        notify(
            db.session(),
            course_id=anna.course_id,
            recipients=[anna.member_id],
            kind="mention",
            subject_type="qa_question",
            subject_id=question.id,
            excerpt=word[:190],
        )
        db.session.commit()
        flag = flag_content(
            db.session(),
            course_id=anna.course_id,
            reporter_id=anna.member_id,
            subject_type="qa_question",
            subject_id=question.id,
            reason="other",
            note=word,
        )
        introduce(db.session(), anna.course_id, anna.member_id, f"Ciao! {word}")
        question_id, flag_id = question.id, flag.id
    sideways = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    moderation = qa_url.replace("/qa/", "/moderation/")
    for url in (
        f"{qa_url}notifications",
        f"{qa_url}{question_id}",
        qa_url,
        moderation,
        f"{moderation}flags/{flag_id}",
        qa_url.replace("/qa/", "/welcome/"),
    ):
        frame = lms.show(page, url)
        expect(frame.locator("main h1")).to_have_count(1)
        page.evaluate('document.getElementById("tool-frame").width = 360')
        page.wait_for_function(
            "() => document.getElementById('tool-frame').getBoundingClientRect().width <= 360"
        )
        assert tool_frame(page, lms.tool_url).evaluate(sideways) <= 0, url


def test_a_right_to_left_paragraph_reads_right_to_left(page: Page, lms: Lms, app: Flask) -> None:
    """An Arabic or Hebrew paragraph in a post starts on the right, as its writer wrote it; an
    English one next to it still starts on the left."""
    _, qa_url = lms.launch(page, ANNA)
    with app.app_context():
        question = services.ask(
            db.session(),
            actor_for(app, ANNA),
            services.QuestionInput(
                title="مرحبا، سؤال عن التكامل",
                body="مرحبا بالجميع، عندي سؤال عن التكامل.\n\nHello, an English line.",
            ),
        )
        question_id = question.id
    frame = lms.show(page, f"{qa_url}{question_id}")
    expect(frame.locator("main h1")).to_have_count(1)
    gaps = frame.locator(".qa-question .qa-body p").evaluate_all(
        """paragraphs => paragraphs.map(p => {
            const range = document.createRange();
            range.selectNodeContents(p);
            const text = range.getBoundingClientRect(), box = p.getBoundingClientRect();
            return [Math.round(text.left - box.left), Math.round(box.right - text.right)];
        })"""
    )
    (arabic_left, arabic_right), (english_left, english_right) = gaps
    assert arabic_right == 0 and arabic_left > 0
    assert english_left == 0 and english_right > 0
