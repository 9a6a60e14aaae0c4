"""The staff page of a course's mood: weekly table, alert, most negative recent posts."""

from __future__ import annotations

from typing import Any

from babel import dates
from flask import Blueprint, abort, g
from flask_babel import get_locale

from lti_tool.community.dashboard.views import dashboard_page
from lti_tool.community.qa.permissions import Actor
from lti_tool.community.sentiment import services
from lti_tool.courses.access import staff_required
from lti_tool.extensions import db

bp = Blueprint("sentiment", __name__, url_prefix="/w/<lid>/sentiment")

WEEKS = 8
RECENT_DAYS = 14


def _actor() -> Actor:
    viewer = g.viewer
    if viewer.course_id is None:
        abort(404)
    return Actor(
        member_id=viewer.member_id,
        course_id=viewer.course_id,
        role=viewer.role,
        community_manager=viewer.community_manager,
    )


@bp.get("/")
@staff_required
def index(lid: str) -> Any:
    actor = _actor()
    session = db.session()
    locale = str(get_locale() or "en")
    weeks = services.weekly_mood(session, actor, weeks=WEEKS)
    return dashboard_page(
        "sentiment/index.html",
        weeks=list(reversed(weeks)),
        alert=services.course_alert(session, actor),
        posts=services.most_negative_posts(session, actor, days=RECENT_DAYS),
        recent_days=RECENT_DAYS,
        when=lambda moment: dates.format_datetime(moment, "medium", locale=locale),
        day=lambda day: dates.format_date(day, "medium", locale=locale),
    )
