"""/lti/* endpoints and the JWKS: login, launch, deep linking picker and the admin config."""

from __future__ import annotations

import logging
import time
from typing import Any, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh as refresh_locale
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.courses.access import Viewer, launch_required, open_launch, remember_launch
from lti_tool.courses.models import Platform
from lti_tool.courses.roles import is_lms_admin
from lti_tool.extensions import csrf, db
from lti_tool.lti import claims
from lti_tool.lti.claims import Launch
from lti_tool.lti.deep_linking import WidgetItem, build_response
from lti_tool.lti.dynamic_registration import TOOL_CLAIMS, TOOL_SCOPES
from lti_tool.lti.errors import LaunchError, LtiError
from lti_tool.lti.frame_origins import learn, origin_of
from lti_tool.lti.jwks import PlatformKeys
from lti_tool.lti.keys import KeyStore
from lti_tool.lti.launch import (
    STATE_COOKIE_PREFIX,
    consume_login,
    derive_state_key,
    read_state,
    start_login,
    validate_launch,
)
from lti_tool.lti.registry import Registry
from lti_tool.lti.tool_conf import DatabaseToolConf
from lti_tool.sync.launch import LaunchOutcome, RecentRows, handle_launch
from lti_tool.sync.privacy import member_id_of as privacy_member_id
from lti_tool.urls import base_url, public_url_for
from lti_tool.web.privacy import remember_privacy_launch
from lti_tool.web.roster import after_launch as roster_after_launch

log = logging.getLogger(__name__)
bp = Blueprint("lti", __name__)

STORAGE_PROOF_FIELD = "lti_storage_proof"
# The two requests of every launch: app-wide hooks they do not need skip them (create_app).
LEAN_ENDPOINTS = ("lti.login", "lti.launch")


def key_store() -> KeyStore:
    store: KeyStore = current_app.extensions["bottega_keys"]
    return store


def platform_keys() -> PlatformKeys:
    keys: PlatformKeys = current_app.extensions["bottega_platform_keys"]
    return keys


def registry() -> Registry:
    found: Registry = current_app.extensions["bottega_registry"]
    return found


def state_key() -> bytes:
    """The key login states are signed with, derived once from SECRET_KEY."""
    key: bytes | None = current_app.extensions.get("bottega_state_key")
    if key is None:
        key = current_app.extensions["bottega_state_key"] = derive_state_key(
            current_app.config["SECRET_KEY"]
        )
    return key


def own_origins() -> frozenset[str]:
    parts = urlsplit(base_url())
    return frozenset({f"{parts.scheme}://{parts.netloc}"})


def requesting_origin() -> str | None:
    """The origin of the page that sent this request (Origin, else the Referer's origin)."""
    return origin_of(request.headers.get("Origin")) or origin_of(request.referrer)


def frame_for_registration(iss: str | None, client_id: str | None) -> None:
    """Let the registration (issuer, client id) frame this request's page, if there is one."""
    if not iss:
        return
    platform = registry().platform(db.session(), iss.strip(), (client_id or "").strip() or None)
    if platform is not None:
        g.frame_platform_id = platform.id


def learn_frame_origins(launch: Launch) -> None:
    """Remember the origins the signed launch says the user came from (never fails a launch)."""
    urls = [launch.return_url]
    if launch.deep_linking is not None:
        urls.append(launch.deep_linking.return_url)
    session_db = db.session()
    try:
        known = registry().frame_origins(session_db, launch.platform_id)
        added = learn(session_db, launch.platform_id, urls, known)
    except SQLAlchemyError:
        session_db.rollback()
        log.warning("could not store the frame origins of a launch", exc_info=True)
        return
    if added:
        log.info("frame origins learnt for platform %s: %s", launch.platform_id, added)


def lti_error_page(error: LtiError) -> Response:
    """A refused login or launch: the 4xx itself, translated, saying what to fix."""
    log.info("LTI request refused (%s): %s", error.status, error.detail or error.log_text())
    body = render_template(
        "lti/error.html", title=str(error.title), message=error.text(), status=error.status
    )
    return make_response(body, error.status)


def set_lti_cookie(response: BaseResponse, name: str, value: str, max_age: int) -> None:
    # The login runs in a third-party iframe: only a Secure, SameSite=None, Partitioned
    # (CHIPS) cookie comes back. Loopback http counts as secure in browsers.
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/lti/",
        secure=True,
        httponly=True,
        samesite="None",
        partitioned=True,
    )


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Every published public key; LMSs cache it, so tell them for how long (the same time a
    rotated key waits before it signs)."""
    store = key_store()
    response = jsonify(store.jwks())
    response.headers["Cache-Control"] = f"public, max-age={store.cache_max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/lti/login", methods=["GET", "POST"])
@csrf.exempt  # the LMS posts here cross-site; state and nonce protect the flow
def login() -> BaseResponse:
    """OIDC third-party initiated login (LTI 1.3 Core 5.1.1)."""
    params = {k: v for k, v in (request.form if request.method == "POST" else request.args).items()}
    if params.get("new_window"):
        # A top-level window has first-party cookies; no LMS frame answers storage messages.
        params.pop("lti_storage_target", None)
    try:
        start = start_login(
            # The scoped session itself: a registration found in the cache opens no session.
            cast(Session, db.session),
            params,
            redirect_uri=public_url_for("lti.launch"),
            own_origins=own_origins(),
            registry=registry(),
            state_key=state_key(),
            now_ts=time.time(),
        )
    except LtiError as error:
        frame_for_registration(params.get("iss"), params.get("client_id"))
        return lti_error_page(error)
    g.frame_platform_id = start.platform_id
    in_iframe = request.headers.get("Sec-Fetch-Dest") == "iframe" and not params.get("new_window")
    if start.storage_target or in_iframe:
        # A page rather than a redirect: it stores the state in the platform's frame when
        # the LMS offers LTI Platform Storage, and checks that cookies work in the iframe.
        response: BaseResponse = make_response(
            render_template(
                "lti/login.html",
                auth_url=start.auth_url,
                storage_target=start.storage_target,
                platform_origin=start.platform_origin,
                state=start.state,
                binding=start.binding,
                new_window_url=url_for("lti.login", new_window="1", **params),  # type: ignore[arg-type]
            )
        )
        response.headers["Cache-Control"] = "no-store"
        # The very first login from a Canvas school's own domain comes before any launch could
        # teach Bottega that origin; this page shows no data and changes nothing, so the page
        # that posted it may frame it (the launch then learns the origin from the signed token).
        g.frame_extra_origins = tuple(o for o in (requesting_origin(),) if o)
    else:
        response = redirect(start.auth_url, code=302)
    set_lti_cookie(response, start.cookie_name, start.binding, max_age=600)
    return response


@bp.post("/lti/launch")
@csrf.exempt  # the LMS's form post: the id_token's signature and nonce protect it
def launch() -> BaseResponse:
    """The redirect URI: validate the id_token, record the launch, open the widget."""
    form = {k: v for k, v in request.form.items()}
    state = form.get("state", "")
    ticket = read_state(state_key(), state) if state else None
    if ticket is not None:  # signed by Bottega: its pages, errors included, belong to that LMS
        g.frame_platform_id = ticket.platform_id
    proof = request.cookies.get(STATE_COOKIE_PREFIX + state[:16]) if state else None
    if proof is None and form.get(STORAGE_PROOF_FIELD):
        proof = form[STORAGE_PROOF_FIELD]
    elif proof is None and state and STORAGE_PROOF_FIELD not in form:
        login_row = ticket
        if login_row is not None and login_row.storage_target:
            platform = registry().platform_by_id(db.session(), login_row.platform_id)
            origin = urlsplit(platform.auth_login_url) if platform else None
            # No cookie came back: read the proof from the platform's storage frame, then
            # post again. The final answer (page or 4xx) comes from that second POST.
            return make_response(
                render_template(
                    "lti/launch_storage.html",
                    form=form,
                    storage_target=login_row.storage_target,
                    platform_origin=f"{origin.scheme}://{origin.netloc}" if origin else "",
                    state=state,
                    proof_field=STORAGE_PROOF_FIELD,
                )
            )
    session_db = db.session()
    try:
        now_ts = time.time()
        validated, login = validate_launch(
            session_db,
            form,
            tool_conf=DatabaseToolConf(session_db, key_store()),
            keys=platform_keys(),
            registry=registry(),
            state_key=state_key(),
            browser_proof=proof,
            now_ts=now_ts,
            ticket=ticket,
        )

        def consume_again() -> None:  # the upserts are retried in a new transaction
            if not consume_login(session_db, login, validated.target_link_uri, now_ts):
                raise LaunchError(
                    _l("This launch was already used. Open the tool again from your course.")
                )

        outcome = handle_launch(
            session_db,
            validated,
            current_app.extensions["bottega_recent_rows"],
            consume_again,
            # The answer is the widget page (not a redirect): check its gate in this transaction.
            page_checks=validated.deep_linking is None and validated.widget != "qa",
        )
    except LtiError as error:
        session_db.rollback()
        return lti_error_page(error)
    g.frame_platform_id = outcome.platform_id
    learn_frame_origins(validated)
    fields: dict[str, Any] = {
        "platform_id": outcome.platform_id,
        "member_id": outcome.member_id,
        "course_id": outcome.course_id,
        "enrolment_id": outcome.enrolment_id,
        "placement_id": outcome.placement_id,
        "role": outcome.role,
        "widget": outcome.widget,
        "locale": outcome.locale,
    }
    privacy_subject: int | None = None
    if validated.is_data_privacy:
        try:
            privacy_subject = _privacy_subject(validated, outcome)
        except LtiError as error:
            return lti_error_page(error)
    lid = remember_launch(**fields)
    if validated.is_data_privacy:
        remember_privacy_launch(lid, privacy_subject, is_lms_admin(validated.roles))
        response = redirect(url_for("privacy.page", lid=lid), code=303)
    elif validated.deep_linking is not None:
        session["dl_" + lid] = {
            "return_url": validated.deep_linking.return_url,
            "data": validated.deep_linking.data,
            "multiple": validated.deep_linking.accept_multiple,
            "deployment_id": validated.deployment_id,
            "title": validated.deep_linking.title,
        }
        response = redirect(url_for("lti.deep_link", lid=lid), code=303)
    elif outcome.widget == "qa" and outcome.course_id is not None:
        response = redirect(url_for("qa.index", lid=lid), code=303)  # no second redirect
    else:
        viewer = Viewer(lid=lid, community_manager=outcome.community_manager, **fields)
        response = open_widget(viewer, outcome, validated)
    _after_launch(outcome.course_id, with_roster_service="nrps" in validated.services)
    response.delete_cookie(
        STATE_COOKIE_PREFIX + state[:16],
        path="/lti/",
        secure=True,
        samesite="None",
        httponly=True,
        partitioned=True,
    )
    return response


def _privacy_subject(launch: Launch, outcome: LaunchOutcome) -> int | None:
    """The member a data privacy launch is about: the launching user, or the ``for_user``
    person (None when Bottega never saw them) for an LMS administrator only (else a 403)."""
    if launch.for_user is None or launch.for_user.lms_id == launch.user.lms_id:
        return outcome.member_id
    if not is_lms_admin(launch.roles):
        raise LaunchError(
            _l("Only an LMS administrator may open another person's privacy page."), status=403
        )
    return privacy_member_id(db.session(), outcome.platform_id, launch.for_user.lms_id)


ROSTER_RECHECK = 60.0  # seconds between two roster checks of a course, when launches lack NRPS


def _after_launch(course_id: int | None, *, with_roster_service: bool) -> None:
    """Queue a roster sync if the course's roster is stale.

    A launch with a roster service (NRPS) always checks. Launches without one check a course
    at most once a minute per process: such a course has usually no roster to sync, and
    looking that up costs two queries.
    """
    if course_id is None:
        return
    recent: RecentRows = current_app.extensions["bottega_recent_rows"]
    key = ("roster checked", course_id)
    if not with_roster_service and recent.get(key, True, max_age=ROSTER_RECHECK) is not None:
        return
    roster_after_launch(course_id)  # never slow; never fails
    recent.put(key, True, 1)


def open_widget(viewer: Viewer, outcome: LaunchOutcome, launch: Launch) -> BaseResponse:
    """The widget page itself as the answer to the launch POST: no redirect, no second request.

    The page says where it lives (``Content-Location``), and a script replaces the POST in the
    browser's history with that address, so that a reload asks for the page again instead of
    posting the spent id_token a second time. Whatever the widget view answers (a redirect
    elsewhere, a 403 for a staff-only widget) is answered here.
    """
    course = None
    if outcome.course_id is not None and launch.course is not None:
        course = {
            "id": outcome.course_id,
            "platform_id": outcome.platform_id,
            "deployment_id": launch.deployment_pk,
            "lms_id": launch.course.lms_id,
            "title": launch.course.title,
            "label": launch.course.label,
        }
    checks = {"conduct": outcome.conduct_pending} if outcome.conduct_checked else {}
    open_launch(
        viewer, outcome.member or {"id": outcome.member_id}, course, outcome.placement, checks
    )
    lid = viewer.lid
    page_url = url_for("home.widget", lid=lid)
    g.launch_page_url = page_url
    g.locale = viewer.locale
    refresh_locale()  # the page's language is the launch's, whatever was looked up before
    answer: Any = None
    try:
        # The widget's blueprint hooks run as they would for a GET of the page (the app-wide
        # ones already ran for this request).
        for hook in current_app.before_request_funcs.get("home", ()):
            answer = hook()
            if answer is not None:
                break
        if answer is None:
            answer = current_app.view_functions["home.widget"](lid=lid)
    except HTTPException as exc:
        answer = current_app.handle_user_exception(exc)
    response = current_app.make_response(answer)
    if 300 <= response.status_code < 400:
        response.status_code = 303  # a redirect after a POST: the browser follows with a GET
        return response
    response.headers["Content-Location"] = page_url
    response.headers["Cache-Control"] = "no-store"
    return response


WIDGET_CHOICES = ("qa", "groups", "kudos", "dashboard", "home")


def _widget_texts() -> dict[str, tuple[str, str]]:
    return {
        "qa": (_("Questions and answers"), _("Students ask, classmates and staff answer.")),
        "groups": (_("Peer groups"), _("Study groups with their own space.")),
        "kudos": (_("Kudos"), _("Recognise helpful classmates and celebrate progress.")),
        "dashboard": (
            _("Community dashboard"),
            _("Engagement, students at risk and moderation, for staff."),
        ),
        "home": (_("Community home"), _("Everything of the course community in one place.")),
    }


@bp.route("/lti/deep-link/<lid>", methods=["GET", "POST"])
@launch_required
def deep_link(lid: str) -> Response | str:
    """The widget picker an instructor sees when adding Bottega to a course."""
    settings = session.get("dl_" + lid)
    if not settings:
        abort(400)
    if not g.viewer.is_staff:
        abort(403)
    texts = _widget_texts()
    errors: list[str] = []
    if request.method == "POST":
        chosen = [w for w in request.form.getlist("widget") if w in WIDGET_CHOICES]
        if not chosen:
            errors.append(_("Choose at least one widget."))
        if len(chosen) > 1 and not settings.get("multiple"):
            errors.append(_("This LMS accepts one widget at a time: choose only one."))
        items = []
        for widget in chosen:
            title = (request.form.get(f"title_{widget}") or texts[widget][0]).strip()[:200]
            graded = request.form.get(f"graded_{widget}") == "on"
            raw_max = request.form.get(f"max_{widget}") or "100"
            try:
                maximum = float(raw_max)
            except ValueError:
                maximum = -1.0
            if graded and not 0 < maximum <= 10000:
                errors.append(_("The maximum score must be a number between 1 and 10000."))
            items.append(
                WidgetItem(
                    widget=widget,
                    title=title or texts[widget][0],
                    text=texts[widget][1],
                    graded=graded,
                    score_maximum=maximum,
                )
            )
        if not errors:
            platform = db.session.get(Platform, g.viewer.platform_id)
            if platform is None:
                abort(404)
            token = build_response(
                platform,
                key_store(),
                deployment_id=settings["deployment_id"],
                return_url=settings["return_url"],
                data=settings.get("data"),
                launch_url=public_url_for("lti.launch"),
                items=items,
            )
            session.pop("dl_" + lid, None)
            return render_template(
                "lti/deep_link_return.html", return_url=settings["return_url"], jwt=token
            )
        status = 422
    else:
        status = 200
    page = render_template(
        "lti/deep_link.html",
        lid=lid,
        choices=[(w, *texts[w]) for w in WIDGET_CHOICES],
        multiple=bool(settings.get("multiple")),
        errors=errors,
        form=request.form,
    )
    return make_response(page, status)


@bp.get("/lti/config")
def config() -> Response:
    """Everything an LMS admin types in for a manual registration.

    ``?format=canvas`` answers the JSON a Canvas developer key accepts as it is ("Paste JSON").
    """
    origin = urlsplit(base_url())
    title = "Bottega"
    description = _(
        "Community widgets for your course: Q&A, peer groups, kudos and a "
        "community manager's dashboard."
    )
    launch_url = public_url_for("lti.launch")
    fmt = request.args.get("format", "")
    if fmt == "canvas":
        return jsonify(_canvas_config(title, description, launch_url, origin.hostname or ""))
    if fmt:
        message = _("Unknown format %(format)s: leave it out, or ask for format=canvas.")
        response = jsonify(error=message % {"format": fmt[:40]})
        response.status_code = 400
        return response
    data: dict[str, Any] = {
        "title": title,
        "description": description,
        "oidc_initiation_url": public_url_for("lti.login"),
        "target_link_uri": launch_url,
        "redirect_uris": [launch_url],
        "public_jwk_url": public_url_for("lti.jwks"),
        "domain": origin.hostname,
        "custom_fields": {"widget": "home"},
        "scopes": list(TOOL_SCOPES),
        "messages": [
            claims.RESOURCE_LINK_REQUEST,
            claims.DEEP_LINKING_REQUEST,
            claims.DATA_PRIVACY_REQUEST,
        ],
        "claims": list(TOOL_CLAIMS),
        "privacy_level": "public",
        "canvas_config_url": public_url_for("lti.config", format="canvas"),
    }
    return jsonify(data)


def _canvas_config(title: str, description: str, launch_url: str, domain: str) -> dict[str, Any]:
    """A Canvas LTI 1.3 developer key configuration (Canvas's own JSON shape).

    The redirect URI is not part of it: Canvas asks for it in a field of the key's form.
    Instructors add widgets through deep linking from modules and assignments; the course
    navigation link opens the community home.
    """
    deep_linking = claims.DEEP_LINKING_REQUEST
    return {
        "title": title,
        "description": description,
        "oidc_initiation_url": public_url_for("lti.login"),
        "target_link_uri": launch_url,
        "public_jwk_url": public_url_for("lti.jwks"),
        "scopes": list(TOOL_SCOPES),
        "custom_fields": {"widget": "home"},
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": domain,
                "tool_id": "bottega",
                "privacy_level": "public",
                "settings": {
                    "text": title,
                    "placements": [
                        {
                            "placement": "course_navigation",
                            "message_type": claims.RESOURCE_LINK_REQUEST,
                            "target_link_uri": launch_url,
                            "text": _("Community"),
                            "default": "enabled",
                        },
                        {
                            "placement": "link_selection",
                            "message_type": deep_linking,
                            "target_link_uri": launch_url,
                            "text": title,
                        },
                        {
                            "placement": "assignment_selection",
                            "message_type": deep_linking,
                            "target_link_uri": launch_url,
                            "text": title,
                        },
                    ],
                },
            }
        ],
    }
