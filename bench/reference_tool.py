"""A minimal, conventional pylti1p3 + Flask LTI 1.3 tool: bench/launch.py's yardstick."""

# bench/launch.py serves it with the same gunicorn command line as Bottega:
#   gunicorn -w W -k gthread --threads T -b 127.0.0.1:PORT bench.reference_tool:app
# It is written the way a tutorial-level integration is: pylti1p3's Flask adapters, the tool
# configuration in a ToolConfDict, state and nonce in Flask's cookie session, and a page
# rendered from a template string. It has no database, no users, no CSRF protection, no
# translations. Do not optimise it: it is the "minimal pylti1p3 + Flask tool" that the launch
# target is measured against (see bench/README.md).
#
# Configuration, from the environment (bench/launch.py sets all of it but the last):
#   REFERENCE_ISSUER, REFERENCE_CLIENT_ID, REFERENCE_DEPLOYMENT_ID   the LMS's registration
#   REFERENCE_AUTH_LOGIN_URL, REFERENCE_AUTH_TOKEN_URL, REFERENCE_KEY_SET_URL   its endpoints
#   REFERENCE_PRIVATE_KEY, REFERENCE_PUBLIC_KEY   paths of the tool's RSA key pair (PEM)
#   REFERENCE_SECRET_KEY   Flask's secret key (signs the session cookie)
#   REFERENCE_JWKS_CACHE   "1" (default): cache the LMS's key set in the process, as pylti1p3's
#                          README recommends; "0": fetch it on every launch (pylti1p3's default)

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from flask import Flask, Response, jsonify, render_template_string
from flask.typing import ResponseReturnValue
from pylti1p3.contrib.flask import (
    FlaskCacheDataStorage,
    FlaskMessageLaunch,
    FlaskOIDCLogin,
    FlaskRequest,
)
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.tool_config import ToolConfDict

CONTEXT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/context"

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ course }}</title></head>
<body>
<h1>Hello {{ name }}</h1>
<p>Welcome to {{ course }}.</p>
</body>
</html>
"""


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set")
    return value


class InProcessCache:
    """The part of Flask-Caching's SimpleCache that pylti1p3 uses (get, and set with a
    lifetime): the key set is kept in the worker's memory, one copy per process."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self._values.get(key)

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        self._values[key] = value  # no expiry: a bench run is shorter than any lifetime
        return True


def load_tool_conf() -> ToolConfDict:
    """The tool's one registration, with its keys read once, at start-up."""
    issuer = _setting("REFERENCE_ISSUER")
    client_id = _setting("REFERENCE_CLIENT_ID")
    tool_conf = ToolConfDict(
        {
            issuer: [
                {
                    "default": True,
                    "client_id": client_id,
                    "auth_login_url": _setting("REFERENCE_AUTH_LOGIN_URL"),
                    "auth_token_url": _setting("REFERENCE_AUTH_TOKEN_URL"),
                    "key_set_url": _setting("REFERENCE_KEY_SET_URL"),
                    "key_set": None,
                    "deployment_ids": [_setting("REFERENCE_DEPLOYMENT_ID")],
                }
            ]
        }
    )
    private_pem = Path(_setting("REFERENCE_PRIVATE_KEY")).read_text()
    public_pem = Path(_setting("REFERENCE_PUBLIC_KEY")).read_text()
    tool_conf.set_private_key(issuer, private_pem, client_id=client_id)
    tool_conf.set_public_key(issuer, public_pem, client_id=client_id)
    return tool_conf


tool_conf = load_tool_conf()
key_set_cache = (
    FlaskCacheDataStorage(InProcessCache())
    if os.environ.get("REFERENCE_JWKS_CACHE", "1") != "0"
    else None
)

app = Flask(__name__)
app.config.update(
    SECRET_KEY=_setting("REFERENCE_SECRET_KEY"),
    # The LMS shows the tool in an iframe, on another site: the session cookie (state and
    # nonce between the login and the launch) must be sent cross-site, so SameSite=None and
    # Secure. The bench client, like a browser, sends Secure cookies to 127.0.0.1 over http.
    SESSION_COOKIE_SAMESITE="None",
    SESSION_COOKIE_SECURE=True,
)


@app.route("/lti/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """OIDC third-party initiated login: redirect the browser to the LMS's /auth."""
    flask_request = FlaskRequest()
    launch_url = flask_request.get_param("target_link_uri")
    if not launch_url:
        return "Missing target_link_uri", 400
    try:
        response: Response = FlaskOIDCLogin(flask_request, tool_conf).redirect(launch_url)
    except (OIDCException, LtiException) as exc:
        return f"Login failed: {exc}", 400
    return response


@app.post("/lti/launch")
def launch() -> ResponseReturnValue:
    """The id_token POST: validate it with pylti1p3, then greet the user."""
    message_launch = FlaskMessageLaunch(FlaskRequest(), tool_conf)
    if key_set_cache is not None:
        message_launch.set_public_key_caching(key_set_cache, cache_lifetime=7200)
    try:
        launch_data = message_launch.get_launch_data()
    except LtiException as exc:
        return f"Launch failed: {exc}", 400
    context = cast(dict[str, Any], launch_data.get(CONTEXT_CLAIM) or {})
    return render_template_string(
        PAGE,
        name=launch_data.get("name") or launch_data.get("sub", "there"),
        course=context.get("title") or "this course",
    )


@app.get("/.well-known/jwks.json")
def jwks() -> ResponseReturnValue:
    """The tool's public key, for the LMS (its token endpoint and deep linking)."""
    return jsonify(tool_conf.get_jwks())
