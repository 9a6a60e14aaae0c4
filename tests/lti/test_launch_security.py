"""The 1EdTech tool certification cases, over real HTTP, plus the gaps pylti1p3 leaves open.

Every refused launch must end in a 4xx page that says what is wrong, never a 500 or a 200.
"""

from __future__ import annotations

import pytest

from lti_tool.demo.platform import REMOVE, Tamper

from ..lti_harness import (
    CLIENT_ID,
    INSTITUTION_ADMIN,
    INSTRUCTOR,
    LEARNER,
    MENTOR,
    TA,
    Lms,
    browser,
    post_launch,
)

MT = "https://purl.imsglobal.org/spec/lti/claim/message_type"
VERSION = "https://purl.imsglobal.org/spec/lti/claim/version"
ROLES = "https://purl.imsglobal.org/spec/lti/claim/roles"
DEPLOYMENT = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
RESOURCE_LINK = "https://purl.imsglobal.org/spec/lti/claim/resource_link"


# -- launches that must succeed -----------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "shown"),
    [
        ([INSTRUCTOR], "Instructor"),
        ([LEARNER], "Student"),
        ([LEARNER, INSTRUCTOR, INSTITUTION_ADMIN], "Instructor"),  # multiple roles
        (["Instructor"], "Instructor"),  # short (simple) context role names
        (["Learner"], "Student"),
        ([TA], "Tutor"),
        ([MENTOR], "Mentor"),
        (["http://example.com/unknown#Role"], "Guest"),  # unknown: least privilege
        ([], "Guest"),  # no roles at all: still launches
    ],
)
def test_valid_launches_with_any_roles(lms: Lms, roles: list[str], shown: str) -> None:
    result = lms.launch(roles=roles)
    assert result.ok
    assert result.page is not None and result.page.status_code == 200
    assert f"Role: {shown}" in result.page.text


@pytest.mark.parametrize(
    ("user", "shown"),
    [
        ({"sub": "u-email", "email": "anna@example.org"}, "Member #"),  # email only
        ({"sub": "u-names", "given_name": "Anna", "family_name": "Verdi"}, "Anna Verdi"),
        ({"sub": "u-anon"}, "Member #"),  # no personal data at all
        ({"sub": 123456, "name": "Numeric Sub"}, "Numeric Sub"),  # numeric sub, read as text
    ],
)
def test_launches_with_little_or_no_personal_data(
    lms: Lms, user: dict[str, object], shown: str
) -> None:
    result = lms.launch(user=user)
    assert result.ok, result.launch_response.text[-600:]
    assert result.page is not None and shown in result.page.text


def test_institution_and_system_roles_never_make_course_staff(lms: Lms) -> None:
    result = lms.launch(roles=[INSTITUTION_ADMIN], custom={"widget": "dashboard"})
    assert result.page is not None and result.page.status_code == 403


def test_learner_reaching_the_dashboard_gets_403_not_the_data(lms: Lms) -> None:
    result = lms.launch(roles=[LEARNER], custom={"widget": "dashboard"})
    assert result.page is not None and result.page.status_code == 403
    assert "Community dashboard" not in result.page.text


def test_instructor_sees_the_dashboard(lms: Lms) -> None:
    result = lms.launch(roles=[INSTRUCTOR], custom={"widget": "dashboard"})
    assert result.page is not None and result.page.status_code == 200
    assert "Community dashboard" in result.page.text


def test_page_language_follows_the_launch_locale(lms: Lms) -> None:
    result = lms.launch(launch_presentation={"locale": "it-IT"})
    assert result.page is not None and '<html lang="it">' in result.page.text
    english = lms.launch(launch_presentation={"locale": "en-GB"})
    assert english.page is not None and '<html lang="en">' in english.page.text


# -- launches that must be refused ----------------------------------------------------------


REFUSED = [
    ("no kid", Tamper(headers={"kid": REMOVE}), "no key id"),
    ("wrong kid", Tamper(headers={"kid": "not-a-key"}), "does not publish"),
    ("wrong version", Tamper(claims={VERSION: "1.1"}), "version 1.3.0"),
    ("no version", Tamper(claims={VERSION: REMOVE}), "version 1.3.0"),
    ("no message type", Tamper(claims={MT: REMOVE}), "message type"),
    ("unknown message type", Tamper(claims={MT: "LtiSomethingElse"}), "message type"),
    ("no roles claim", Tamper(claims={ROLES: REMOVE}), "no roles claim"),
    ("no deployment id", Tamper(claims={DEPLOYMENT: REMOVE}), "no deployment id"),
    ("unknown deployment", Tamper(claims={DEPLOYMENT: "99"}), "deployment 99"),
    ("no resource link id", Tamper(claims={RESOURCE_LINK: {"title": "x"}}), "resource link"),
    ("no sub", Tamper(claims={"sub": REMOVE}), "no sub claim"),
    ("expired", Tamper(exp_offset=-3600, iat_offset=-3900), "expired"),
    ("too old", Tamper(iat_offset=-3000, exp_offset=3000), "too old"),
    ("issued in the future", Tamper(iat_offset=900), "future"),
    ("wrong iss", Tamper(claims={"iss": "https://evil.example"}), "another LMS"),
    ("foreign aud", Tamper(aud="someone-else"), "not addressed"),
    ("aud list without azp", Tamper(aud=[CLIENT_ID, "other"], claims={"azp": REMOVE}), "azp"),
    ("azp mismatch", Tamper(aud=[CLIENT_ID, "other"], azp="other"), "azp"),
    ("alg none", Tamper(alg="none"), "RS256"),
    ("HS256 with the public key", Tamper(alg="HS256"), "RS256"),
    ("signed with another key", Tamper(sign_with_other_key=True), "signature"),
    ("nonce not from this login", Tamper(nonce="forged-nonce"), "nonce"),
]


@pytest.mark.parametrize(("case", "tamper", "reason"), REFUSED, ids=[c[0] for c in REFUSED])
def test_tampered_launches_are_refused_with_a_clear_4xx(
    lms: Lms, case: str, tamper: Tamper, reason: str
) -> None:
    result = lms.launch(tamper=tamper)
    assert 400 <= result.status < 500, (case, result.status)
    assert reason in result.launch_response.text, result.launch_response.text[-800:]
    assert "Traceback" not in result.launch_response.text


def test_replayed_id_token_is_refused(lms: Lms) -> None:
    client = browser()
    action, fields = lms.id_token_post(client, lms.prepare())
    assert post_launch(client, action, fields).ok
    replay = post_launch(client, action, fields)
    assert replay.status == 400 and "already used" in replay.launch_response.text


def test_replayed_id_token_is_refused_even_without_cookies(lms: Lms) -> None:
    client = browser()
    action, fields = lms.id_token_post(client, lms.prepare())
    proof = {c.name: c.value for c in client.cookies if c.name.startswith("lti_state_")}
    assert post_launch(client, action, fields).ok
    attacker = browser()
    for name, value in proof.items():  # even with the stolen state cookie
        attacker.cookies.set(name, value, domain="127.0.0.1", path="/lti/")
    assert post_launch(attacker, action, fields).status == 400


def test_state_from_another_browser_is_refused(lms: Lms) -> None:
    victim = browser()
    action, fields = lms.id_token_post(victim, lms.prepare())
    result = post_launch(browser(), action, fields)  # no state cookie in this browser
    assert result.status == 403
    assert "another browser" in result.launch_response.text


def test_unknown_state_is_refused(lms: Lms) -> None:
    client = browser()
    action, fields = lms.id_token_post(client, lms.prepare())
    result = post_launch(client, action, {**fields, "state": "made-up"})
    assert result.status == 400 and "unknown or has expired" in result.launch_response.text


def test_launch_without_id_token_is_a_400(lms: Lms) -> None:
    response = browser().post(f"{lms.tool_url}/lti/launch", data={}, timeout=5)
    assert response.status_code == 400 and "no id_token" in response.text


def test_lms_error_response_is_shown(lms: Lms) -> None:
    response = browser().post(
        f"{lms.tool_url}/lti/launch",
        data={"error": "login_required", "error_description": "Session ended"},
        timeout=5,
    )
    assert response.status_code == 400 and "login_required" in response.text


# -- login -------------------------------------------------------------------------------------


def test_login_from_an_unregistered_lms_says_which_one(lms: Lms) -> None:
    response = browser().get(
        f"{lms.tool_url}/lti/login",
        params={
            "iss": "https://unknown.example",
            "client_id": "c9",
            "login_hint": "x",
            "target_link_uri": f"{lms.tool_url}/lti/launch",
        },
        timeout=5,
    )
    assert response.status_code == 400
    assert "https://unknown.example" in response.text and "c9" in response.text


def test_login_error_page_is_translated(lms: Lms) -> None:
    response = browser().get(
        f"{lms.tool_url}/lti/login",
        params={
            "iss": "https://unknown.example",
            "login_hint": "x",
            "target_link_uri": f"{lms.tool_url}/lti/launch",
        },
        headers={"Accept-Language": "it"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "non è registrata" in response.text


def test_login_with_missing_parameters_is_a_400(lms: Lms) -> None:
    response = browser().get(f"{lms.tool_url}/lti/login", params={"iss": lms.issuer}, timeout=5)
    assert response.status_code == 400
    assert "login_hint" in response.text and "target_link_uri" in response.text


def test_login_refuses_a_target_link_to_another_site(lms: Lms) -> None:
    prepared = lms.prepare(target_link_uri="https://phishing.example/steal")
    response = browser().get(prepared.login_url, allow_redirects=False, timeout=5)
    assert response.status_code == 400 and "not an address of this tool" in response.text


def test_login_by_post_works_too(lms: Lms) -> None:
    prepared = lms.prepare()
    response = browser().post(
        f"{lms.tool_url}/lti/login", data=prepared.login_params, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith(lms.platform.auth_url)


def test_pending_registration_is_refused_with_403(lms: Lms, app) -> None:  # type: ignore[no-untyped-def]
    from lti_tool.courses.models import Platform, PlatformStatus
    from lti_tool.extensions import db

    with app.app_context():
        platform = db.session.scalar(db.select(Platform))
        platform.status = PlatformStatus.PENDING
        db.session.commit()
    prepared = lms.prepare()
    response = browser().get(prepared.login_url, allow_redirects=False, timeout=5)
    assert response.status_code == 403 and "waiting for the approval" in response.text


def test_old_login_rows_are_pruned_but_recent_ones_kept(lms: Lms, app) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import func, select

    from lti_tool.extensions import db, utcnow
    from lti_tool.lti.launch import prune_logins
    from lti_tool.lti.models import LoginState

    assert lms.launch().ok
    assert lms.launch().ok
    with app.app_context():
        old = db.session.scalars(select(LoginState)).first()
        old.expires_at = utcnow() - timedelta(days=2)
        db.session.commit()
        assert prune_logins(db.session()) == 1
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(LoginState)) == 1


def test_id_token_segments_are_checked_exactly_like_pyjwt() -> None:
    import base64
    import os

    from jwt.api_jws import PyJWS
    from jwt.exceptions import DecodeError

    from lti_tool.lti.launch import _RS256JWS

    def decoded(check, segment: bytes) -> bytes | str:  # type: ignore[no-untyped-def]
        try:
            return check(segment, "payload")  # type: ignore[no-any-return]
        except DecodeError:
            return "refused"

    samples = [b"", b"e30", b"e30=", b"e30==", b"e30===", b"e3", b"e3=", b"e", b"!!!!", b"e3+/"]
    samples += [b"e30 ", b"e30.", b"ab\\n", b"eyJ9", b"eyJ8", b"YQ", b"YR", b"YQ==", b"YQ="]
    for size in range(12):
        raw = base64.urlsafe_b64encode(os.urandom(size))
        samples += [raw, raw.rstrip(b"="), raw + b"=", raw.rstrip(b"=") + b"$"]
    for segment in samples:
        ours = decoded(_RS256JWS._decode_base64url_segment, segment)
        assert ours == decoded(PyJWS._decode_base64url_segment, segment), segment
    assert decoded(_RS256JWS._decode_base64url_segment, b"YR") == "refused"  # not canonical
