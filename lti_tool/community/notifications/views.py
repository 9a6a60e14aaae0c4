"""The member's choice about notification e-mails: on My profile, and the link in each e-mail."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.notifications.mail import (
    UNSUBSCRIBE_PATH,
    member_of_token,
    set_mail_notifications,
)
from lti_tool.config import Settings
from lti_tool.courses.access import launch_required
from lti_tool.courses.models import Member
from lti_tool.extensions import csrf, db

bp = Blueprint("notifications", __name__)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["bottega_settings"]
    return settings


@bp.post("/w/<lid>/me/mail")
@launch_required
def choose(lid: str) -> BaseResponse:
    """My profile's switch: notification e-mails on or off."""
    wanted = request.form.get("mail_notifications") == "on"
    set_mail_notifications(db.session(), g.viewer.member_id, wanted)
    db.session.commit()
    flash(
        _("Bottega will e-mail you about notifications you have not read.")
        if wanted
        else _("Bottega will not e-mail you about notifications.")
    )
    return redirect(url_for("home.me", lid=lid), code=303)


def _member(token: str) -> Member | None:
    return member_of_token(db.session(), _settings().secret_key, token)


def _page(member: Member | None, done: bool) -> Response:
    page = render_template("notifications/unsubscribe.html", member=member, done=done)
    response = make_response(page, 200 if member is not None else 400)
    # One reader's link, in the language their browser asks for: no shared cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept-Language")
    return response


@bp.get(f"{UNSUBSCRIBE_PATH}/<token>")
def unsubscribe_page(token: str) -> Response:
    """The link in an e-mail: a button, not an action (mail scanners open links)."""
    return _page(_member(token), done=False)


@bp.post(f"{UNSUBSCRIBE_PATH}/<token>")
@csrf.exempt  # the signed token names the member; mail clients post here (RFC 8058 one-click)
def unsubscribe(token: str) -> Response:
    member = _member(token)
    if member is not None:
        set_mail_notifications(db.session(), member.id, False)
        db.session.commit()
    return _page(member, done=True)
