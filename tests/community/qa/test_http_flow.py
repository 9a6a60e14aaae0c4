"""The whole Q&A over real HTTP, launched from a test LMS: ask, answer, accept, endorse, search."""

from __future__ import annotations

import re
from html import unescape

import pytest

from ...lti_harness import INSTRUCTOR, LEARNER, Browser, Lms, browser, csrf_token

pytestmark = pytest.mark.slow


def launch(lms: Lms, sub: str, name: str, roles: list[str]) -> tuple[Browser, str]:
    """A browser launched into the course's Q&A placement, and the Q&A base URL."""
    client = browser()
    result = lms.launch(
        client,
        user={"sub": sub, "name": name},
        roles=roles,
        resource_link={"id": "rl-qa", "title": "Domande"},
        custom={"widget": "qa"},
    )
    assert result.page is not None and result.page.status_code == 200, result.status
    assert result.page.url.endswith("/qa/")
    if "/moderation/conduct/accept" in result.page.text:  # a learner's first launch
        accepted = client.post(
            result.page.url + "../moderation/conduct/accept",
            data={"csrf_token": csrf_token(result.page.text), "version": "1"},
            timeout=5,
        )
        assert accepted.url.endswith("/qa/?welcome=1") and "Ask a question" in accepted.text
    return client, result.page.url


def test_ask_answer_accept_endorse_and_search(lms: Lms) -> None:
    giulia, giulia_qa = launch(lms, "s1", "Giulia Rossi", [LEARNER])
    marco, marco_qa = launch(lms, "s2", "Marco Bianchi", [LEARNER])
    prof, prof_qa = launch(lms, "t1", "Anna Neri", [INSTRUCTOR])

    # Giulia asks.
    form = giulia.get(giulia_qa + "ask", timeout=5)
    asked = giulia.post(
        giulia_qa + "ask",
        data={
            "csrf_token": csrf_token(form.text),
            "title": "Perché la derivata di x² è 2x?",
            "body": "Non capisco il limite del rapporto incrementale. @marco.bianchi?",
        },
        timeout=5,
    )
    assert asked.status_code == 200 and "Your question is posted." in asked.text
    question_url = asked.url
    question_id = question_url.rstrip("/").rsplit("/", 1)[1]

    # Marco was mentioned, sees the unread count, and a duplicate suggestion while typing.
    marco_list = marco.get(marco_qa, timeout=5)
    assert re.search(r'class="qa-badge">1<', marco_list.text)
    similar = marco.get(marco_qa + "duplicates", params={"title": "derivata di x"}, timeout=5)
    assert "Perché la derivata" in unescape(similar.text)

    # Marco answers.
    page = marco.get(marco_qa + question_id, timeout=5)
    answered = marco.post(
        marco_qa + question_id + "/answers",
        data={"csrf_token": csrf_token(page.text), "body": "Il limite di $(2xh + h^2)/h$ è $2x$."},
        timeout=5,
    )
    assert answered.status_code == 200 and "Your answer is posted." in answered.text
    match = re.search(r'id="answer-(\d+)"', answered.text)
    assert match
    answer_id = match.group(1)

    # Giulia was notified, and accepts.
    notes = giulia.get(giulia_qa + "notifications", timeout=5)
    assert "New answer to" in notes.text and "Marco Bianchi" in notes.text
    page = giulia.get(giulia_qa + question_id, timeout=5)
    accepted = giulia.post(
        giulia_qa + f"answers/{answer_id}/accept",
        data={"csrf_token": csrf_token(page.text)},
        timeout=5,
    )
    assert "You accepted this answer." in accepted.text and "Accepted answer" in accepted.text

    # Staff endorses; a student may not.
    page = prof.get(prof_qa + question_id, timeout=5)
    endorsed = prof.post(
        prof_qa + f"answers/{answer_id}/endorse",
        data={"csrf_token": csrf_token(page.text)},
        timeout=5,
    )
    assert "The answer is endorsed." in endorsed.text and "Endorsed by staff" in endorsed.text
    page = marco.get(marco_qa + question_id, timeout=5)
    refused = marco.post(
        marco_qa + f"answers/{answer_id}/endorse",
        data={"csrf_token": csrf_token(page.text)},
        timeout=5,
    )
    assert refused.status_code == 403

    # Search finds it, without the accent and in another word form.
    found = prof.get(prof_qa, params={"q": "perche derivate"}, timeout=5)
    assert "Perché la derivata" in unescape(found.text)
    assert "Resolved" in found.text
