"""The privacy page: what Bottega holds about you, your export, and erasure.

Reached from the profile page of any launch, or by an LTI Data Privacy Launch. A member
downloads their own export and requests erasure; course staff (instructors, teaching
assistants, community managers) carry out the requests of their course's members; an LMS
administrator opening the page through a data privacy launch for someone (the ``for_user``
claim) exports and erases that person directly. See docs/privacy.md.
"""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.courses.access import launch_required, staff_required
from lti_tool.courses.models import Member
from lti_tool.extensions import db
from lti_tool.sync import privacy

bp = Blueprint("privacy", __name__, url_prefix="/w/<lid>/privacy")

SESSION_KEY = "privacy_launches"

# What each table holds, in words (tests/sync/test_privacy.py checks that every table with a
# member column has its words here).
TABLE_LABELS = {
    "enrolment": _l("Course enrolments"),
    "qa_question": _l("Questions (anonymous ones included)"),
    "qa_answer": _l("Answers (anonymous ones included)"),
    "qa_comment": _l("Comments"),
    "qa_revision": _l("Edits you made"),
    "qa_vote": _l("Helpful votes"),
    "qa_follower": _l("Questions you follow"),
    "kudos_award": _l("Kudos given and received"),
    "recognition_badge_award": _l("Badges"),
    "pulse_answer": _l("Your answers to course pulses"),
    "pulse_survey": _l("Course pulses you opened"),
    "engagement_event": _l("Participation events"),
    "grades_score": _l("Participation scores"),
    "notification": _l("Notifications"),
    "member_preference": _l("Your e-mail choices"),
    "groups_membership": _l("Group memberships"),
    "groups_change": _l("Group changes"),
    "groups_answer": _l("Group survey answers"),
    "groups_post": _l("Group posts"),
    "groups_link": _l("Links shared in groups"),
    "welcome_introduction": _l("Your introduction"),
    "welcome_reply": _l("Welcomes you wrote"),
    "welcome_postponed": _l("Introduction postponed"),
    "moderation_flag": _l("Posts you flagged"),
    "moderation_action": _l("Moderation actions and warnings"),
    "moderation_conduct_acceptance": _l("Code of conduct acceptances"),
    "dashboard_reach_out": _l("Staff reach-outs about you"),
    "sentiment_post": _l("Tone of your posts (staff signal)"),
    "privacy_request": _l("Erasure requests"),
    "privacy_erasure_log": _l("Record of an erasure"),
    "dashboard_playbook": _l("Staff guidelines you edited"),
    "dashboard_reply_template": _l("Reply templates you wrote"),
    "grades_rubric": _l("Participation grading rules you set"),
    "groups_group": _l("Groups you facilitate"),
    "groups_set": _l("Group sets you created"),
    "moderation_conduct": _l("Code of conduct versions you wrote"),
}


def remember_privacy_launch(lid: str, subject_id: int | None, admin: bool) -> None:
    """Record what a data privacy launch opened: whose data, and whether by an LMS admin."""
    launches = dict(session.get(SESSION_KEY) or {})
    launches[lid] = {"s": subject_id, "a": admin}
    while len(launches) > 8:
        launches.pop(next(iter(launches)))
    session[SESSION_KEY] = launches


def _scope() -> tuple[Member | None, bool, bool]:
    """The member the page is about, whether that is the viewer, and whether the viewer is an
    LMS administrator acting through a data privacy launch."""
    entry = (session.get(SESSION_KEY) or {}).get(g.viewer.lid)
    subject_id, admin = g.viewer.member_id, False
    if isinstance(entry, dict):
        subject_id, admin = entry.get("s"), bool(entry.get("a"))
    member = db.session.get(Member, subject_id) if subject_id is not None else None
    if member is not None and member.platform_id != g.viewer.platform_id:
        abort(404)
    return member, subject_id == g.viewer.member_id, admin


def _labels(counts: dict[str, int]) -> list[tuple[str, int]]:
    return [(str(TABLE_LABELS.get(name, name)), n) for name, n in sorted(counts.items())]


@bp.get("/")
@launch_required
def page(lid: str) -> str:
    member, own, admin = _scope()
    found = privacy.summary(db.session(), member) if member is not None else None
    requests = (
        privacy.course_requests(db.session(), g.viewer.course_id)
        if g.viewer.course_id is not None and g.viewer.can_manage_community
        else []
    )
    return render_template(
        "privacy/index.html",
        viewer=g.viewer,
        member=member,
        own=own,
        admin=admin,
        found=found,
        rows=_labels(found.counts) if found else [],
        requests=requests,
    )


@bp.get("/export.json")
@launch_required
def export(lid: str) -> Response:
    """The JSON export, as a download."""
    member, own, admin = _scope()
    if member is None:
        abort(404)
    if not (own or admin):
        abort(403)
    data = privacy.export_member(db.session(), member)
    response = Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="bottega-export-{member.id}.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/request")
@launch_required
def request_erasure(lid: str) -> BaseResponse:
    """The member asks for their own data to be erased."""
    member, own, _admin = _scope()
    if member is None or not own:
        abort(403)
    if privacy.is_erased(member):
        abort(409)
    privacy.request_erasure(db.session(), member, g.viewer.course_id)
    flash(
        _(
            "Your request is recorded. Your course's staff or an administrator will carry it "
            "out; your posts will then show as written by a former member."
        ),
        "privacy-requested",
    )
    return redirect(url_for("privacy.page", lid=lid), code=303)


@bp.post("/erase")
@launch_required
def erase(lid: str) -> BaseResponse:
    """An LMS administrator (data privacy launch) erases the person the launch named."""
    member, _own, admin = _scope()
    if not admin:
        abort(403)
    if member is None:
        abort(404)
    privacy.erase_member(db.session(), member, route="admin", actor_id=g.viewer.member_id)
    flash(_("The personal data was erased."))
    return redirect(url_for("privacy.page", lid=lid), code=303)


@bp.post("/requests/<int:request_id>/erase")
@staff_required
def erase_requested(lid: str, request_id: int) -> BaseResponse:
    """Course staff carry out an erasure a member of their course asked for."""
    if g.viewer.course_id is None:
        abort(404)
    found = privacy.find_course_request(db.session(), g.viewer.course_id, request_id)
    if found is None:
        if privacy.handled_by_them(db.session(), request_id, g.viewer.member_id):
            flash(_("The member's personal data was erased."))  # pressed twice: done once
            return redirect(url_for("privacy.page", lid=lid), code=303)
        abort(404)
    member = db.session.get(Member, found.member_id)
    if member is None:
        abort(404)
    privacy.erase_member(db.session(), member, route="staff", actor_id=g.viewer.member_id)
    flash(_("The member's personal data was erased."))
    return redirect(url_for("privacy.page", lid=lid), code=303)
