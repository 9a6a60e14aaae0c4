"""Deep Linking 2.0 end to end: the LMS asks, the instructor picks, the LMS verifies."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from ..lti_harness import INSTRUCTOR, LEARNER, Lms, browser, csrf_token, parse_form

DL = "LtiDeepLinkingRequest"
ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"


def _picker(lms: Lms, **kwargs: object) -> tuple[object, str, str]:
    client = browser()
    result = lms.launch(
        client,
        message_type=DL,
        roles=kwargs.pop("roles", [INSTRUCTOR]),
        user={"sub": "prof", "name": "Prof. Bianchi"},
        **kwargs,
    )
    assert result.status == 303
    assert result.page is not None
    client.headers["X-CSRFToken"] = csrf_token(result.page.text)  # type: ignore[attr-defined]
    return client, result.page.url, result.page.text


def test_instructor_places_a_graded_qa_widget(lms: Lms) -> None:
    client, url, page = _picker(lms)
    assert "Add Bottega to your course" in page
    answer = client.post(  # type: ignore[attr-defined]
        url,
        data={"widget": "qa", "title_qa": "Domande del corso", "graded_qa": "on", "max_qa": "50"},
        timeout=10,
    )
    assert answer.status_code == 200
    action, fields = parse_form(answer.text)
    assert action == lms.platform.deep_link_return_url
    returned = client.post(urljoin(url, action), data=fields, timeout=10)  # type: ignore[attr-defined]
    assert returned.status_code == 200, returned.text
    [claims] = lms.platform.deep_link_results
    [item] = claims[ITEMS]
    assert item["type"] == "ltiResourceLink"
    assert item["title"] == "Domande del corso"
    assert item["custom"] == {"widget": "qa", "graded": "1"}
    assert item["url"] == f"{lms.tool_url}/lti/launch"
    assert item["lineItem"]["scoreMaximum"] == 50
    assert claims[DATA].startswith("dl-")  # the LMS's data echoed unchanged


def test_several_widgets_at_once_when_the_lms_accepts_multiple(lms: Lms) -> None:
    client, url, _ = _picker(lms)
    answer = client.post(url, data={"widget": ["qa", "kudos"]}, timeout=10)  # type: ignore[attr-defined]
    action, fields = parse_form(answer.text)
    assert client.post(urljoin(url, action), data=fields, timeout=10).status_code == 200  # type: ignore[attr-defined]
    widgets = [i["custom"]["widget"] for i in lms.platform.deep_link_results[0][ITEMS]]
    assert widgets == ["qa", "kudos"]
    assert all("lineItem" not in i for i in lms.platform.deep_link_results[0][ITEMS])


# Some platforms send the claim's booleans as strings: "false" still means one item only.
@pytest.mark.parametrize("single", [False, "false"])
def test_bad_choice_comes_back_with_the_input_kept(lms: Lms, single: object) -> None:
    client, url, _ = _picker(lms, deep_linking_settings={"accept_multiple": single})
    answer = client.post(  # type: ignore[attr-defined]
        url, data={"widget": ["qa", "kudos"], "title_qa": "Il mio titolo"}, timeout=10
    )
    assert answer.status_code == 422
    assert "one widget at a time" in answer.text
    assert 'value="Il mio titolo"' in answer.text


def test_bad_maximum_score_is_refused(lms: Lms) -> None:
    client, url, _ = _picker(lms)
    answer = client.post(
        url,
        data={"widget": "qa", "graded_qa": "on", "max_qa": "abc"},  # type: ignore[attr-defined]
        timeout=10,
    )
    assert answer.status_code == 422 and "maximum score" in answer.text


def test_learner_cannot_place_widgets(lms: Lms) -> None:
    result = lms.launch(message_type=DL, roles=[LEARNER])
    assert result.page is not None and result.page.status_code == 403


def test_picker_post_without_csrf_token_is_refused(lms: Lms) -> None:
    client, url, _ = _picker(lms)
    del client.headers["X-CSRFToken"]  # type: ignore[attr-defined]
    answer = client.post(url, data={"widget": "qa"}, timeout=10)  # type: ignore[attr-defined]
    assert answer.status_code == 400
    assert not lms.platform.deep_link_results


# The answer is posted from the instructor's browser to this address: nothing it would run, no
# plain http outside development, and not this page itself (an empty action).
@pytest.mark.parametrize(
    "return_url",
    ["javascript:alert(document.domain)", "", "/deep_link_return", "http://lms.example.edu/dl"],
)
def test_a_request_without_a_valid_return_address_is_refused(lms: Lms, return_url: str) -> None:
    result = lms.launch(
        message_type=DL,
        roles=[INSTRUCTOR],
        user={"sub": "prof", "name": "Prof. Bianchi"},
        deep_linking_settings={"deep_link_return_url": return_url},
    )
    assert result.status == 400
    assert "no valid return address" in result.launch_response.text
    assert "javascript:" not in result.launch_response.text
