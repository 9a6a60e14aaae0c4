"""/lti/config: what an LMS admin copies into a manual registration, plain or as Canvas wants it."""

from __future__ import annotations

from flask.testing import FlaskClient

DEEP_LINKING = "LtiDeepLinkingRequest"


def test_plain_config_points_to_the_canvas_shape(client: FlaskClient) -> None:
    config = client.get("/lti/config").get_json()
    assert config["canvas_config_url"].endswith("/lti/config?format=canvas")
    assert config["redirect_uris"] == [config["target_link_uri"]]


def test_canvas_developer_key_json_has_canvas_shape(client: FlaskClient) -> None:
    response = client.get("/lti/config?format=canvas")
    assert response.status_code == 200
    config = response.get_json()
    plain = client.get("/lti/config").get_json()
    # What Canvas's "Paste JSON" reads at the top level.
    for name in ("title", "description", "oidc_initiation_url", "target_link_uri", "scopes"):
        assert config[name] == plain[name]
    assert config["public_jwk_url"] == plain["public_jwk_url"]
    assert config["custom_fields"] == {"widget": "home"}
    (extension,) = config["extensions"]
    assert extension["platform"] == "canvas.instructure.com"
    assert extension["domain"] == plain["domain"]
    assert extension["privacy_level"] == "public"
    placements = {p["placement"]: p for p in extension["settings"]["placements"]}
    # Instructors add widgets from modules and assignments through deep linking.
    assert placements["link_selection"]["message_type"] == DEEP_LINKING
    assert placements["assignment_selection"]["message_type"] == DEEP_LINKING
    assert placements["course_navigation"]["message_type"] == "LtiResourceLinkRequest"
    assert {p["target_link_uri"] for p in placements.values()} == {plain["target_link_uri"]}
    # Canvas takes the redirect URIs in a form field of the key, not from this JSON.
    assert "redirect_uris" not in config


def test_unknown_config_format_is_a_clear_400(client: FlaskClient) -> None:
    response = client.get("/lti/config?format=blackboard")
    assert response.status_code == 400
    assert "format=canvas" in response.get_json()["error"]


def test_canvas_config_is_in_italian_for_an_italian_admin(client: FlaskClient) -> None:
    response = client.get("/lti/config?format=canvas", headers={"Accept-Language": "it"})
    placements = response.get_json()["extensions"][0]["settings"]["placements"]
    assert placements[0]["text"] == "Comunità"
