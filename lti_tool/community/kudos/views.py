"""Kudos pages: the wall, the give-kudos form and the staff settings; thin over services.py.

A refused kudos (invalid, another course's id, today's limit reached, an expired form token,
a database error) comes back as the form with what the member wrote, and a 4xx (503) status.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, pgettext
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.community.kudos import services
from lti_tool.community.kudos.models import MESSAGE_MAX
from lti_tool.community.kudos.services import (
    Actor,
    InvalidInput,
    KudosError,
    KudosInput,
    LimitReached,
    NotFound,
    PermissionDenied,
)
from lti_tool.core.errors import error_response, log_database_error
from lti_tool.core.i18n import time_ago
from lti_tool.core.ids import parse_id
from lti_tool.courses.access import Viewer, launch_required, staff_required
from lti_tool.courses.refusals import keep_text_on_refusal
from lti_tool.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("kudos", __name__, url_prefix="/w/<lid>/kudos")
Page = tuple[str, int]


def actor_of(viewer: Viewer | None = None) -> Actor:
    """The kudos actor of a launch; 404 outside a course."""
    viewer = viewer or g.viewer
    if viewer is None or viewer.course_id is None:
        abort(404)
    return Actor(
        member_id=viewer.member_id,
        course_id=viewer.course_id,
        can_manage=viewer.can_manage_community,
    )


def ago(moment: datetime | None, locale: str | None = None) -> str:
    """ "5 minutes ago" in the page's language."""
    return time_ago(moment, locale or str(get_locale() or "en"))


@lru_cache(maxsize=8)
def labels(locale: str) -> dict[str, str]:
    """Words every kudos page repeats (navigation, the mentor mark), translated once per
    language: the wall is read far more than anything else here (``locale`` keys the cache)."""
    return {
        "nav": _("Kudos and recognition"),
        "wall": _("Kudos wall"),
        "give": _("Give kudos"),
        "celebrations": _("Celebrations"),
        "mine": _("My recognition"),
        "top": _("Top helpers"),
        "mentors": _("Peer mentors"),
        "settings": _("Kudos settings"),
        "qa": _("Questions and answers"),
        "peer_mentor": _("Peer mentor"),
        "give_to_classmate": _("Give kudos to a classmate"),
        "category": _("Category"),
        "all_categories": _("All categories"),
        "show": _("Show"),
        "for": _("For"),
        # Read out between the giver and the receiver, where the page shows an arrow.
        "gave_to": pgettext("kudos from someone to someone", "to"),
        "empty_wall": _("No kudos here yet. Be the first to thank a classmate."),
        "pages": _("Pages"),
        "newest": _("Newest"),
        "older": _("Older kudos"),
    }


def render_page(template: str, status: int = 200, **context: Any) -> Page:
    """A kudos or recognition page with the shared navigation and flashed messages."""
    locale = str(get_locale() or "en")
    return render_template(
        template,
        viewer=g.viewer,
        ago=partial(ago, locale=locale),
        L=labels(locale),
        messages=get_flashed_messages(with_categories=True),
        **context,
    ), status


def _int_arg(values: Any, name: str) -> int | None:
    raw = values.get(name, "")
    return parse_id(raw)


# --- the wall ----------------------------------------------------------------------------------


@bp.get("/")
@launch_required
def wall(lid: str) -> Page:
    """Recent kudos in the course, newest first, optionally of one category."""
    actor = actor_of()
    category_id = _int_arg(request.args, "category")
    cursor = request.args.get("after") or None
    session = db.session()
    categories = services.categories(session, actor.course_id, include_retired=True)
    if category_id is not None and all(c.id != category_id for c in categories):
        abort(404)  # another course's category
    page = services.wall(session, actor.course_id, category_id=category_id, cursor=cursor)
    next_url = (
        url_for("kudos.wall", lid=lid, category=category_id, after=page.next_cursor)
        if page.next_cursor
        else None
    )
    return render_page(
        "kudos/wall.html",
        page=page,
        category_options=[(c.id, services.category_label(c.code, c.name)) for c in categories],
        category_id=category_id,
        next_url=next_url,
        first_url=url_for("kudos.wall", lid=lid, category=category_id) if cursor else None,
    )


# --- giving ------------------------------------------------------------------------------------


def _form_input() -> KudosInput:
    form = request.form
    return KudosInput(
        receiver_id=_int_arg(form, "receiver"),
        category_id=_int_arg(form, "category"),
        message=form.get("message", ""),
        question_id=_int_arg(form, "question"),
        answer_id=_int_arg(form, "answer"),
    )


def _give_page(
    status: int = 200, error: str | None = None, errors: dict[str, Any] | None = None
) -> Page:
    """The give-kudos form; after a refused POST, with what was sent."""
    actor = actor_of()
    session = db.session()
    values = request.form if request.method == "POST" else request.args
    form = {
        "receiver": values.get("receiver", values.get("to", "")),
        "category": values.get("category", ""),
        "message": values.get("message", ""),
        "question": values.get("question", ""),
        "answer": values.get("answer", ""),
    }
    limit = services.get_settings(session, actor.course_id).daily_limit
    return render_page(
        "kudos/give.html",
        status,
        form=form,
        error=error,
        errors=errors or {},
        people=services.recipients(session, actor.course_id, exclude=actor.member_id),
        categories=services.categories(session, actor.course_id),
        label=services.category_label,
        remaining=max(0, limit - services.given_today(session, actor.course_id, actor.member_id)),
        limit=limit,
        message_max=MESSAGE_MAX,
    )


@bp.get("/give")
@launch_required
def give_form(lid: str) -> Page:
    return _give_page()


@bp.post("/give")
@launch_required
def give_post(lid: str) -> Any:
    """Give kudos; a refusal shows the form again with the text and the reason."""
    actor = actor_of()
    data = _form_input()
    try:
        services.give(db.session(), actor, data)
    except InvalidInput as exc:
        db.session.rollback()
        return _give_page(422, str(exc.message), exc.errors)
    except NotFound as exc:
        db.session.rollback()
        return _give_page(404, str(exc.message))
    except LimitReached as exc:
        db.session.rollback()
        return _give_page(429, str(exc.message))
    except KudosError as exc:
        db.session.rollback()
        return _give_page(403, str(exc.message))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log_database_error(exc, "giving kudos")
        return _give_page(
            503, _("Your kudos could not be sent just now. Your message is kept: try again.")
        )
    flash(_("Your kudos is on the wall. Thank you for recognising a classmate!"), "info")
    return redirect(url_for("kudos.wall", lid=lid), code=303)


def _give_form_back(status: int, message: str) -> Any:
    """A refused kudos (an expired form token): the form again, with the message written."""
    return _give_page(status, message) if request.endpoint == "kudos.give_post" else None


keep_text_on_refusal(bp, _give_form_back, course_required=False)


# --- staff settings ----------------------------------------------------------------------------


def _settings_page(status: int = 200, errors: dict[str, Any] | None = None) -> Page:
    actor = actor_of()
    session = db.session()
    return render_page(
        "kudos/settings.html",
        status,
        settings=services.get_settings(session, actor.course_id),
        categories=services.categories(session, actor.course_id, include_retired=True),
        label=services.category_label,
        errors=errors or {},
        form=request.form,
        limit_max=services.DAILY_LIMIT_MAX,
    )


@bp.get("/settings")
@staff_required
def settings(lid: str) -> Page:
    return _settings_page()


def _staff_action(action: Any, message: str) -> Any:
    try:
        action()
    except InvalidInput as exc:
        db.session.rollback()
        return _settings_page(422, exc.errors)
    except NotFound:
        db.session.rollback()
        abort(404)
    except PermissionDenied as exc:
        db.session.rollback()
        return error_response(403, str(exc.message))
    flash(message, "info")
    return redirect(url_for("kudos.settings", lid=g.viewer.lid), code=303)


@bp.post("/settings")
@staff_required
def settings_post(lid: str) -> Any:
    actor = actor_of()
    return _staff_action(
        lambda: services.update_settings(
            db.session(), actor, daily_limit=request.form.get("daily_limit", "")
        ),
        _("Settings saved."),
    )


@bp.post("/settings/categories")
@staff_required
def category_post(lid: str) -> Any:
    actor = actor_of()
    return _staff_action(
        lambda: services.save_category(
            db.session(),
            actor,
            request.form.get("name", ""),
            category_id=_int_arg(request.form, "category_id"),
        ),
        _("Category saved."),
    )


@bp.post("/settings/categories/<int:category_id>/retire")
@staff_required
def category_retire(lid: str, category_id: int) -> Any:
    actor = actor_of()
    retired = request.form.get("retired") == "1"
    return _staff_action(
        lambda: services.set_category_retired(db.session(), actor, category_id, retired),
        _("The category is retired.") if retired else _("The category is offered again."),
    )
