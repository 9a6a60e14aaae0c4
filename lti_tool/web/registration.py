"""/lti/register: LTI Dynamic Registration, started by an LMS admin from inside the LMS.

GET checks the LMS's OpenID configuration and asks the admin to confirm; POST registers Bottega
with the LMS and stores the registration. The logic is in ``lti_tool.lti.dynamic_registration``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, make_response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from lti_tool.courses.models import PlatformStatus
from lti_tool.extensions import csrf, db
from lti_tool.lti.dynamic_registration import (
    ToolSettings,
    check_start,
    fetch_configuration,
    register,
    requested_scopes,
)
from lti_tool.lti.errors import LtiError, RegistrationFlowError
from lti_tool.lti.frame_origins import default_origins
from lti_tool.urls import public_url_for
from lti_tool.web.lti import lti_error_page

log = logging.getLogger(__name__)
bp = Blueprint("registration", __name__)

NRPS_PREFIX = "https://purl.imsglobal.org/spec/lti-nrps/"
AGS_PREFIX = "https://purl.imsglobal.org/spec/lti-ags/"


def tool_settings() -> ToolSettings:
    return ToolSettings(
        login_url=public_url_for("lti.login"),
        launch_url=public_url_for("lti.launch"),
        jwks_url=public_url_for("lti.jwks"),
        description=_(
            "Community widgets for your course: Q&A, peer groups, kudos and a "
            "community manager's dashboard."
        ),
    )


def allow_loopback() -> bool:
    """LMSs on 127.0.0.1/localhost are for development and tests, never in production."""
    return current_app.config.get("BOTTEGA_ENV") != "production"


def _frame_for(config_url: str | None, *more: str | None) -> None:
    # The LMS admin page that opened the registration frames it: the LMS named by the
    # configuration URL. The page carries no ambient authority (the LMS's token does), so a
    # framing page that named its own configuration gains nothing it could not post itself.
    g.frame_extra_origins = default_origins((config_url, *more))


def _private(response: Response) -> Response:
    # The page carries a single-use registration token: never cache it, never leak the URL.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _refused(error: LtiError) -> Response:
    return _private(lti_error_page(error))


def _policy() -> str:
    """DYNAMIC_REGISTRATION: open, approval or off."""
    return str(current_app.config.get("DYNAMIC_REGISTRATION") or "open")


def _turned_off() -> Response | None:
    if _policy() != "off":
        return None
    error = RegistrationFlowError(
        _l(
            "Dynamic registration is turned off on this Bottega server. Register Bottega by "
            "hand with the details at %(url)s, or ask its administrator."
        ),
        status=403,
        url=public_url_for("lti.config"),
    )
    return _refused(error)


@bp.get("/lti/register")
def start() -> Response:
    """The LMS opens this with openid_configuration and registration_token: check, confirm."""
    _frame_for(request.args.get("openid_configuration"))
    off = _turned_off()
    if off is not None:
        return off
    try:
        config_url, token = check_start(
            request.args.get("openid_configuration"),
            request.args.get("registration_token"),
            allow_loopback=allow_loopback(),
        )
        config = fetch_configuration(config_url, token, allow_loopback=allow_loopback())
    except LtiError as error:
        return _refused(error)
    _frame_for(config_url, config.issuer, config.authorization_endpoint)
    scopes = requested_scopes(config)
    permissions = [_("Open Bottega from courses and add it as an activity (deep linking).")]
    if any(s.startswith(NRPS_PREFIX) for s in scopes):
        permissions.append(_("Read the list of course participants and their roles."))
    if any(s.startswith(AGS_PREFIX) for s in scopes):
        permissions.append(_("Send scores to the LMS gradebook."))
    permissions.append(_("Receive each user's name, email address, picture and language."))
    page = render_template(
        "lti/register_confirm.html",
        config=config,
        openid_configuration=config_url,
        registration_token=token or "",
        permissions=permissions,
    )
    return _private(make_response(page))


@bp.post("/lti/register")
# Posted from the LMS's iframe, where no session cookie comes back; it carries no ambient
# authority either: the LMS's single-use registration token is what authorises it.
@csrf.exempt
def complete() -> Response:
    """The admin confirmed: register with the LMS, store the result, tell the LMS to close."""
    _frame_for(request.form.get("openid_configuration"))
    off = _turned_off()
    if off is not None:
        return off
    try:
        config_url, token = check_start(
            request.form.get("openid_configuration"),
            request.form.get("registration_token"),
            allow_loopback=allow_loopback(),
        )
        result = register(
            db.session(),
            config_url,
            token,
            tool_settings(),
            allow_loopback=allow_loopback(),
            new_status=PlatformStatus.PENDING if _policy() == "approval" else PlatformStatus.ACTIVE,
        )
    except LtiError as error:
        db.session.rollback()
        return _refused(error)
    page = render_template(
        "lti/register_done.html",
        result=result,
        is_moodle=result.product_family_code.lower() == "moodle",
        disabled=result.status == PlatformStatus.DISABLED,
        pending=result.status == PlatformStatus.PENDING,
    )
    return _private(make_response(page))
