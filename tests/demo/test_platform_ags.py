"""The demo LMS's grade service (AGS 2.0): line items, scores as Moodle takes them, results."""

from __future__ import annotations

import time
from typing import Any

from flask.testing import FlaskClient

from lti_tool.demo.platform import (
    AGS_LINEITEM,
    AGS_RESULT_READONLY,
    AGS_SCORE,
    LINEITEM_MEDIA_TYPE,
    SCORE_MEDIA_TYPE,
    AccessToken,
    Platform,
)

from . import test_platform as base

# The demo LMS fixtures of test_platform, shared here.
CLIENT_ID = base.CLIENT_ID
tool_key = base.tool_key
lms_app = base.lms_app
platform = base.platform
lms = base.lms

SCORES = {"Content-Type": SCORE_MEDIA_TYPE}


def _token(platform: Platform, *scopes: str, client_id: str = CLIENT_ID) -> dict[str, str]:
    token = f"t-{client_id}-{len(platform.access_tokens)}"
    platform.access_tokens[token] = AccessToken(client_id, frozenset(scopes), time.time() + 60)
    return {"Authorization": f"Bearer {token}"}


def _path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(("/", ""))


def _item(platform: Platform, lms: FlaskClient) -> str:
    answer = lms.post(
        "/ags/c1/lineitems",
        json={"label": "Partecipazione", "scoreMaximum": 10, "resourceLinkId": "rl1", "tag": "t"},
        headers={**_token(platform, AGS_LINEITEM), "Content-Type": LINEITEM_MEDIA_TYPE},
    )
    assert answer.status_code == 201
    return str(answer.get_json()["id"])


def _score(user: str, stamp: str, **extra: Any) -> dict[str, Any]:
    return {
        "userId": user,
        "timestamp": stamp,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "scoreGiven": 7,
        "scoreMaximum": 10,
        **extra,
    }


def test_line_items_are_created_found_by_filter_and_kept_per_tool(
    platform: Platform, lms: FlaskClient
) -> None:
    url = _item(platform, lms)
    assert url.endswith("/lineitem") and url.startswith(platform.lineitems_url("c1"))
    found = lms.get(
        "/ags/c1/lineitems?resource_link_id=rl1", headers=_token(platform, AGS_LINEITEM)
    )
    assert [i["id"] for i in found.get_json()] == [url]
    none = lms.get("/ags/c1/lineitems?tag=other", headers=_token(platform, AGS_LINEITEM))
    assert none.get_json() == []
    other_tool = _token(platform, AGS_LINEITEM, client_id="someone-else")
    assert lms.get("/ags/c1/lineitems", headers=other_tool).get_json() == []
    assert lms.get(_path(url), headers=other_tool).status_code == 404
    assert lms.get(_path(url), headers=_token(platform, AGS_SCORE)).status_code == 403


def test_scores_are_taken_in_timestamp_order_as_moodle_does(
    platform: Platform, lms: FlaskClient
) -> None:
    url = _item(platform, lms)
    scores = _path(url) + "/scores"
    auth = {**_token(platform, AGS_SCORE), **SCORES}
    first = "2026-11-25T10:00:00.000+00:00"
    assert lms.post(scores, json=_score("u1", first), headers=auth).status_code == 204
    again = lms.post(scores, json=_score("u1", first, scoreGiven=9), headers=auth)
    assert again.status_code == 409  # not later than the last one taken
    later = "2026-11-25T10:00:00.001Z"
    assert lms.post(scores, json=_score("u1", later, scoreGiven=9), headers=auth).status_code == 204
    assert platform.latest_scores(url)["u1"]["scoreGiven"] == 9
    results = lms.get(_path(url) + "/results", headers=_token(platform, AGS_RESULT_READONLY))
    assert [(r["userId"], r["resultScore"]) for r in results.get_json()] == [("u1", 9)]


def test_bad_scores_and_tokens_are_refused(platform: Platform, lms: FlaskClient) -> None:
    url = _item(platform, lms)
    scores = _path(url) + "/scores"
    auth = {**_token(platform, AGS_SCORE), **SCORES}
    stamp = "2026-11-25T10:00:00+00:00"
    for bad in (
        {k: v for k, v in _score("u1", stamp).items() if k != "gradingProgress"},
        _score("u1", "2026-11-25T10:00:00"),  # no offset
        _score("u1", stamp, scoreMaximum=None),
        _score("u1", stamp, activityProgress="Done"),
    ):
        assert lms.post(scores, json=bad, headers=auth).status_code == 400, bad
    plain_json = {**_token(platform, AGS_SCORE), "Content-Type": "application/json"}
    assert lms.post(scores, json=_score("u1", stamp), headers=plain_json).status_code == 415
    readonly = {**_token(platform, AGS_RESULT_READONLY), **SCORES}
    assert lms.post(scores, json=_score("u1", stamp), headers=readonly).status_code == 403
    assert lms.post(scores, json=_score("u1", stamp), headers=SCORES).status_code == 401
    assert platform.latest_scores(url) == {}


def test_failure_rate_latency_and_hang_switches(platform: Platform, lms: FlaskClient) -> None:
    url = _item(platform, lms)
    scores = _path(url) + "/scores"
    auth = {**_token(platform, AGS_SCORE), **SCORES}
    platform.ags_failure_rate = 1.0
    platform.ags_failure_statuses = (429,)
    platform.ags_retry_after = "3"
    refused = lms.post(scores, json=_score("u1", "2026-11-25T10:00:00Z"), headers=auth)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
    platform.ags_failure_rate = 0.0
    platform.ags_latency = 0.2
    started = time.monotonic()
    assert (
        lms.post(scores, json=_score("u1", "2026-11-25T10:00:00Z"), headers=auth).status_code == 204
    )
    assert time.monotonic() - started >= 0.2
    assert platform.score_requests == 2 and platform.score_failures == 1


def test_deep_linked_graded_items_get_a_bound_line_item(platform: Platform) -> None:
    placed = platform.place_links(
        CLIENT_ID,
        "c1",
        [
            {"type": "ltiResourceLink", "title": "Q&A", "lineItem": {"scoreMaximum": 50}},
            {"type": "ltiResourceLink", "title": "Kudos"},
        ],
    )
    graded, plain = placed
    assert platform.placed_links == placed
    claim = platform.ags_claim("c1", graded["resource_link_id"])
    assert claim["lineitem"] == graded["lineitem"]
    assert platform.line_items[claim["lineitem"]]["scoreMaximum"] == 50
    assert platform.line_items[claim["lineitem"]]["label"] == "Q&A"
    assert "lineitem" not in platform.ags_claim("c1", plain["resource_link_id"])


def test_the_demo_course_launches_a_graded_widget_with_its_line_item(platform: Platform) -> None:
    from lti_tool.demo.lms import PERSONAS, DemoLms
    from lti_tool.demo.platform import AGS_CLAIM, DL_CONTENT_ITEMS

    demo = DemoLms(platform, CLIENT_ID)
    [graded, plain] = demo.add_links(
        {
            DL_CONTENT_ITEMS: [
                {
                    "type": "ltiResourceLink",
                    "title": "Domande",
                    "custom": {"widget": "qa", "graded": "1"},
                    "lineItem": {"scoreMaximum": 30, "label": "Domande"},
                },
                {"type": "ltiResourceLink", "title": "Kudos", "custom": {"widget": "kudos"}},
            ]
        }
    )
    persona = next(iter(PERSONAS.values()))
    claim = demo.launch(persona, graded, "http://lms.test/back").claims[AGS_CLAIM]
    assert platform.line_items[claim["lineitem"]]["resourceLinkId"] == graded.id
    assert platform.line_items[claim["lineitem"]]["scoreMaximum"] == 30
    assert AGS_SCORE in claim["scope"]
    plain_claim = demo.launch(persona, plain, "http://lms.test/back").claims[AGS_CLAIM]
    assert "lineitem" not in plain_claim and plain_claim["lineitems"] == claim["lineitems"]
