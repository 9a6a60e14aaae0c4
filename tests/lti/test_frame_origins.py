"""CSP frame-ancestors: which LMS pages may frame a page of the tool, over real HTTP."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskCliRunner

from lti_tool.lti.frame_origins import origin_of

from ..lti_harness import Lms, browser

CANVAS_SCHOOL = "https://school.instructure.example"


def ancestors(response: object) -> list[str]:
    policy = response.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    directive = next(d for d in policy.split(";") if d.strip().startswith("frame-ancestors"))
    return directive.split()[1:]


def test_origin_of_keeps_only_scheme_host_and_port() -> None:
    assert origin_of("https://LMS.example.org:8443/course/1?x=y") == "https://lms.example.org:8443"
    assert origin_of("http://localhost:5000") == "http://localhost:5000"
    for bad in ("javascript:alert(1)", "https://", "ftp://lms.example.org", "", None, "x y"):
        assert origin_of(bad) is None
    assert origin_of("https://a.example;script-src *") is None


def test_pages_of_a_launch_name_its_lms_and_the_origin_the_launch_came_from(lms: Lms) -> None:
    client = browser()
    result = lms.launch(
        client,
        launch_presentation={"document_target": "iframe", "return_url": CANVAS_SCHOOL + "/c/1"},
    )
    assert result.page is not None and result.page.status_code == 200
    issuer_origin = origin_of(lms.issuer)
    assert ancestors(result.launch_response) == ["'self'", issuer_origin, CANVAS_SCHOOL]
    # A later page of the same launch: the same list (the learnt origin is stored).
    page = client.get(result.page.url, timeout=5)
    assert ancestors(page) == ["'self'", issuer_origin, CANVAS_SCHOOL]


def test_pages_without_a_registration_are_framed_by_this_site_or_a_registered_lms(
    lms: Lms,
) -> None:
    client = browser()
    landing = client.get(lms.tool_url + "/", timeout=5)
    assert ancestors(landing) == ["'self'"]
    # An error page (session gone) may show inside any registered LMS, and only those.
    expired = client.get(lms.tool_url + "/w/unknown/qa/", timeout=5)
    assert expired.status_code == 401
    assert ancestors(expired) == ["'self'", origin_of(lms.issuer)]


def test_login_pages_and_refusals_name_the_registration_from_issuer_and_client(lms: Lms) -> None:
    prepared = lms.prepare()
    framed = browser().get(
        prepared.login_url,
        headers={"Sec-Fetch-Dest": "iframe", "Origin": CANVAS_SCHOOL},
        timeout=5,
    )
    assert framed.status_code == 200
    # The page that posted the login may frame it (before any launch could teach its origin).
    assert ancestors(framed) == ["'self'", CANVAS_SCHOOL, origin_of(lms.issuer)]
    refused = browser().get(
        lms.tool_url + "/lti/login",
        params={"iss": lms.issuer, "client_id": "bottega-test-client", "login_hint": "x"},
        timeout=5,
    )
    assert refused.status_code == 400
    assert ancestors(refused) == ["'self'", origin_of(lms.issuer)]


def test_admins_add_list_and_remove_frame_origins(app: Flask, lms: Lms) -> None:
    runner: FlaskCliRunner = app.test_cli_runner()
    base = ["platform", "frame-origins"]
    who = ["--issuer", lms.issuer]
    added = runner.invoke(args=[*base, "add", *who, CANVAS_SCHOOL, "https://vanity.example/"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(args=[*base, "list", *who, "--json"])
    rows = json.loads(listed.output)
    assert {"origin": CANVAS_SCHOOL, "source": "admin"} in rows
    assert {"origin": "https://vanity.example", "source": "admin"} in rows
    assert {"origin": origin_of(lms.issuer), "source": "registration"} in rows

    page = browser().get(lms.tool_url + "/w/none/", timeout=5)  # an error page: any LMS
    assert CANVAS_SCHOOL in ancestors(page)

    removed = runner.invoke(args=[*base, "remove", *who, CANVAS_SCHOOL])
    assert removed.exit_code == 0, removed.output
    page = browser().get(lms.tool_url + "/w/none/", timeout=5)
    assert CANVAS_SCHOOL not in ancestors(page)

    bad = runner.invoke(args=[*base, "add", *who, "https://x.example/path"])
    assert bad.exit_code == 2 and "not an origin" in bad.output
    gone = runner.invoke(args=[*base, "remove", *who, CANVAS_SCHOOL])
    assert gone.exit_code == 2 and "not stored" in gone.output
    nobody = runner.invoke(args=[*base, "list", "--issuer", "https://nobody.example"])
    assert nobody.exit_code == 2
