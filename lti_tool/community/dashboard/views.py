"""The community manager's dashboard pages (staff and community managers only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from babel.numbers import get_decimal_symbol
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import (
    format_date,
    format_decimal,
    format_timedelta,
    get_locale,
    ngettext,
    pgettext,
)
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.dashboard import (
    academy,
    digest,
    hanging,
    metrics,
    playbook,
    risk,
    signals,
)
from lti_tool.community.dashboard.settings import (
    LIMITS,
    ThresholdError,
    save_thresholds,
    thresholds,
)
from lti_tool.community.welcome.services import unanswered_count
from lti_tool.courses.access import Viewer, as_dict, launch_required, staff_required, viewer_for
from lti_tool.courses.models import Enrolment, Member
from lti_tool.courses.refusals import keep_text_on_refusal
from lti_tool.courses.roles import CourseRole, is_lms_admin
from lti_tool.extensions import db, utcnow

bp = Blueprint("dashboard", __name__, url_prefix="/w/<lid>/dashboard")

# CSV downloads carry a short-lived signed copy of the launch in their URL: a browser downloads
# outside the LMS iframe's cookie partition, so the session cookie does not come along.
EXPORT_SALT = "bottega-dashboard-export"
EXPORT_MAX_AGE = 600  # seconds
F = TypeVar("F", bound=Callable[..., Any])


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=EXPORT_SALT)


def export_url(endpoint: str, **values: Any) -> str:
    """The URL of a CSV download for the current viewer (valid EXPORT_MAX_AGE seconds)."""
    token = _signer().dumps(as_dict(g.viewer))
    return url_for(endpoint, lid=g.viewer.lid, t=token, **values)


def export_access(view: F) -> F:
    """Like launch_required, also accepting the signed launch of an export_url()."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        lid = kwargs.get("lid", "")
        viewer = viewer_for(lid)
        token = request.args.get("t")
        if viewer is None and token:
            try:
                data = _signer().loads(token, max_age=EXPORT_MAX_AGE)
            except BadData:
                abort(401)
            if not isinstance(data, dict) or data.get("lid") != lid:
                abort(401)
            viewer = Viewer(**{**data, "role": CourseRole(data["role"])})
        if viewer is None:
            abort(401)
        g.viewer, g.locale = viewer, viewer.locale
        return view(*args, **kwargs)

    return cast(F, wrapper)


DEFAULT_WEEKS = 12
MAX_DAYS = 366 * 2
# Dates a range may name: the weeks around a date in year 9999 do not exist.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
EXPORTS = ("overview", "weekly", "at-risk", "hanging", "tags", "gaps", "staff")


def _course_id() -> int:
    course_id: int | None = g.viewer.course_id
    if course_id is None:
        abort(404)
    return course_id


def _duration(delta: timedelta | None) -> str:
    return "—" if delta is None else str(format_timedelta(delta, granularity="minute"))


def reason_labels() -> dict[str, str]:
    return {
        risk.Reason.NEVER_LAUNCHED: _("Never opened Bottega"),
        risk.Reason.INACTIVE: _("No activity"),
        risk.Reason.FALLING: _("Activity falling"),
        risk.Reason.UNANSWERED: _("Question unanswered"),
        risk.Reason.NO_RECOGNITION: _("No recognition yet"),
        risk.Reason.NEGATIVE: _("Negative tone in recent posts"),
        risk.Reason.NO_GROUP: _("Not in a peer group"),
        risk.Reason.QUIET_GROUP: _("Their group went quiet"),
    }


def describe(finding: risk.Finding) -> str:
    """One finding in words, with its numbers."""
    if finding.reason == risk.Reason.NEVER_LAUNCHED and finding.since:
        return _(
            "On the roster since %(date)s, never opened Bottega", date=format_date(finding.since)
        )
    if finding.reason == risk.Reason.INACTIVE:
        return ngettext(
            "No activity for %(num)d day", "No activity for %(num)d days", finding.count
        )
    if finding.reason == risk.Reason.FALLING:
        return ngettext(
            "%(num)d action this week against %(before)s last week",
            "%(num)d actions this week against %(before)s last week",
            finding.count,
            before=finding.previous,
        )
    if finding.reason == risk.Reason.UNANSWERED and finding.since:
        return _(
            "Question waiting since %(date)s without an answer",
            date=format_date(finding.since),
        )
    if finding.reason == risk.Reason.NEGATIVE:
        return ngettext(
            "%(num)d post with a negative tone in the last %(days)s days",
            "%(num)d posts with a negative tone in the last %(days)s days",
            finding.count,
            days=risk.NEGATIVE_DAYS,
        )
    if finding.reason == risk.Reason.NO_GROUP:
        return _("The course has peer groups, and this student has joined none")
    if finding.reason == risk.Reason.QUIET_GROUP:
        return ngettext(
            "No activity in their group for %(num)d day",
            "No activity in their group for %(num)d days",
            finding.count,
        )
    if finding.reason == risk.Reason.NO_RECOGNITION:
        return _("No upvote, endorsement or kudos received since enrolling")
    return reason_labels()[finding.reason]


def _range() -> tuple[date, date, str | None]:
    """The date range asked for (default: the last 12 weeks) and an error message, if any."""
    today = utcnow().date()
    default_start = today - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    try:
        start = date.fromisoformat(request.args.get("start") or default_start.isoformat())
        end = date.fromisoformat(request.args.get("end") or today.isoformat())
    except ValueError:
        return default_start, today, _("Dates must look like 2026-09-30.")
    if end < start:
        return default_start, today, _("The end date must not come before the start date.")
    if start < FIRST_DAY or end > LAST_DAY:
        return (
            default_start,
            today,
            _("Choose dates between %(first)s and %(last)s.", first=FIRST_DAY, last=LAST_DAY),
        )
    if (end - start).days > MAX_DAYS:
        return default_start, today, _("Choose a range of at most two years.")
    return start, end, None


def _academy_allowed() -> bool:
    """Community managers and LMS administrators see every course of their LMS."""
    viewer = g.viewer
    if viewer.community_manager:
        return True
    if viewer.enrolment_id is None:
        return False
    enrolment = db.session.get(Enrolment, viewer.enrolment_id)
    return enrolment is not None and is_lms_admin(enrolment.roles)


def dashboard_page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A page in the dashboard's layout (its navigation, the export links), for staff."""
    return render_template(
        template,
        viewer=g.viewer,
        academy_allowed=_academy_allowed(),
        export_url=export_url,
        me=db.session.get(Member, g.viewer.member_id),
        duration=_duration,
        widget_title=_("Community dashboard"),
        **context,
    ), status


@bp.get("/")
@staff_required
def overview(lid: str) -> tuple[str, int]:
    course_id = _course_id()
    start, end, error = _range()
    session = db.session()
    return dashboard_page(
        "dashboard/overview.html",
        400 if error else 200,
        error=error,
        start=start,
        end=end,
        figures=metrics.overview(session, course_id, start, end),
        weeks=metrics.weekly(session, course_id, start, end),
    )


RISK_PAGE = 50


def _risk_page(students: list[risk.Student]) -> dict[str, Any]:
    """One page of the at-risk list (``?page=``), with the count of each reason over all."""
    pages = max(1, -(-len(students) // RISK_PAGE))
    try:
        number = min(max(1, int(request.args.get("page", "1"))), pages)
    except ValueError:
        number = 1
    totals: dict[str, int] = {}
    for student in students:
        for finding in student.findings:
            totals[finding.reason] = totals.get(finding.reason, 0) + 1
    return {
        "students": students[(number - 1) * RISK_PAGE : number * RISK_PAGE],
        "total_students": len(students),
        "reason_totals": totals,
        "page_number": number,
        "pages": pages,
    }


@bp.get("/at-risk")
@staff_required
def at_risk(lid: str) -> tuple[str, int]:
    course_id = _course_id()
    session = db.session()
    return dashboard_page(
        "dashboard/at_risk.html",
        **_risk_page(risk.at_risk(session, course_id, staff_viewer=g.viewer.is_staff)),
        recovered=risk.back_on_track(session, course_id),
        describe=describe,
        labels=reason_labels(),
        limits=thresholds(session, course_id),
    )


@bp.post("/at-risk/<int:member_id>/reach-out")
@staff_required
def reach_out(lid: str, member_id: int) -> BaseResponse | tuple[str, int]:
    course_id = _course_id()
    session = db.session()
    note, nudge = request.form.get("note", ""), request.form.get("nudge", "")
    try:
        risk.log_reach_out(
            session,
            course_id=course_id,
            member_id=member_id,
            staff_id=g.viewer.member_id,
            note=note,
            nudge=nudge,
            reasons=request.form.getlist("reason"),
        )
    except risk.ReachOutError as error:
        if str(error) == "not_member":
            abort(404)
        message = (
            _("Write a note or a message to the student.")
            if str(error) == "empty"
            else _("Keep notes and messages under %(max)s characters.", max=risk.NOTE_MAX)
        )
        return _reach_out_refused(member_id, 422, message)
    flash(
        _("Reach-out logged and message sent.") if nudge.strip() else _("Reach-out logged."),
        "info",
    )
    return redirect(url_for("dashboard.at_risk", lid=lid, _anchor=f"student-{member_id}"), 303)


def _reach_out_refused(member_id: int, status: int, message: str) -> tuple[str, int]:
    """The at-risk page again, with this student's card and what was typed in its form: the
    card from the list, or on its own when the student has left the list meanwhile."""
    course_id = _course_id()
    session = db.session()
    everyone = risk.at_risk(session, course_id, staff_viewer=g.viewer.is_staff)
    card = next((s for s in everyone if s.member_id == member_id), None)
    card = card or risk.student_card(session, course_id, member_id)
    if card is None:
        abort(404)
    return dashboard_page(
        "dashboard/at_risk.html",
        status,
        **_risk_page(everyone) | {"students": [card]},
        recovered=risk.back_on_track(session, course_id),
        describe=describe,
        labels=reason_labels(),
        limits=thresholds(session, course_id),
        form_error=message,
        failed_member=member_id,
        kept={"note": request.form.get("note", ""), "nudge": request.form.get("nudge", "")},
    )


@bp.get("/hanging")
@staff_required
def waiting(lid: str) -> tuple[str, int]:
    course_id = _course_id()
    session = db.session()
    return dashboard_page(
        "dashboard/hanging.html",
        questions=hanging.hanging_questions(session, course_id, staff_viewer=g.viewer.is_staff),
        introductions=unanswered_count(session, course_id),
        limits=thresholds(session, course_id),
        typical=current_app.extensions["bottega_reply_times"].get(session, course_id),
    )


def _threshold_labels() -> dict[str, str]:
    return {
        "inactive_days": _("Days without activity before a student is listed"),
        "unanswered_hours": _("Hours before an unanswered question needs attention"),
        "staff_check_hours": _("Hours before a question needs a staff-checked answer"),
        "falling_percent": _("List a student whose weekly activity falls below this percentage"),
        "recognition_weeks": _("Weeks after enrolling without any recognition"),
    }


@bp.route("/settings", methods=["GET", "POST"])
@staff_required
def settings(lid: str) -> BaseResponse | tuple[str, int]:
    course_id = _course_id()
    session = db.session()
    values: dict[str, Any] = vars(thresholds(session, course_id)).copy()
    error = None
    if request.method == "POST":
        values = {name: request.form.get(name, "") for name in LIMITS}
        try:
            save_thresholds(session, course_id, values)
        except ThresholdError as bad:
            error = (
                bad.field,
                _("Enter a whole number from %(low)s to %(high)s.", low=bad.low, high=bad.high),
            )
        else:
            flash(_("Thresholds saved."), "info")
            return redirect(url_for("dashboard.settings", lid=lid), 303)
    return dashboard_page(
        "dashboard/settings.html",
        422 if error else 200,
        values=values,
        limits=LIMITS,
        labels=_threshold_labels(),
        error=error,
    )


@bp.get("/content")
@staff_required
def content(lid: str) -> tuple[str, int]:
    course_id = _course_id()
    start, end, error = _range()
    session = db.session()
    return dashboard_page(
        "dashboard/content.html",
        400 if error else 200,
        error=error,
        start=start,
        end=end,
        tags=signals.top_tags(session, course_id, start, end),
        trends=signals.trending(session, course_id),
        gaps=signals.content_gaps(session, course_id),
        gap_days=signals.GAP_DAYS,
    )


@bp.get("/staff")
@staff_required
def staff(lid: str) -> tuple[str, int]:
    course_id = _course_id()
    start, end, error = _range()
    return dashboard_page(
        "dashboard/staff.html",
        400 if error else 200,
        error=error,
        start=start,
        end=end,
        rows=signals.staff_figures(db.session(), course_id, start, end),
    )


def _playbook_error(code: str) -> str:
    return {
        "empty": _("Give the template a title and a text."),
        "too_long": _("That text is too long."),
        "too_many": _("A course can keep at most %(max)s templates.", max=playbook.MAX_TEMPLATES),
    }.get(code, _("That text is too long."))


def _playbook_page(status: int = 200, **context: Any) -> tuple[str, int]:
    course_id = _course_id()
    session = db.session()
    return dashboard_page(
        "dashboard/playbook.html",
        status,
        guidelines=playbook.guidelines(session, course_id),
        templates=playbook.templates(session, course_id),
        **context,
    )


@bp.get("/playbook")
@staff_required
def playbook_page(lid: str) -> tuple[str, int]:
    return _playbook_page()


@bp.post("/playbook/guidelines")
@staff_required
def save_guidelines(lid: str) -> BaseResponse | tuple[str, int]:
    body = request.form.get("body", "")
    try:
        playbook.save_guidelines(db.session(), _course_id(), g.viewer.member_id, body)
    except playbook.PlaybookError as error:
        return _playbook_page(422, guidelines_error=_playbook_error(str(error)), kept_body=body)
    flash(_("Guidelines saved."), "info")
    return redirect(url_for("dashboard.playbook_page", lid=lid), 303)


@bp.post("/playbook/templates")
@staff_required
def add_template(lid: str) -> BaseResponse | tuple[str, int]:
    title, body = request.form.get("title", ""), request.form.get("body", "")
    try:
        playbook.add_template(db.session(), _course_id(), g.viewer.member_id, title, body)
    except playbook.PlaybookError as error:
        return _playbook_page(
            422, template_error=_playbook_error(str(error)), kept={"title": title, "body": body}
        )
    flash(_("Reply template added."), "info")
    return redirect(url_for("dashboard.playbook_page", lid=lid), 303)


@bp.post("/playbook/templates/<int:template_id>/delete")
@staff_required
def delete_template(lid: str, template_id: int) -> BaseResponse:
    if not playbook.delete_template(db.session(), _course_id(), template_id):
        abort(404)
    flash(_("Reply template deleted."), "info")
    return redirect(url_for("dashboard.playbook_page", lid=lid), 303)


@bp.get("/academy")
@launch_required
def academy_page(lid: str) -> tuple[str, int]:
    if not _academy_allowed():
        abort(403)
    start, end, error = _range()
    rows = academy.academy(db.session(), g.viewer.platform_id, start, end)
    return dashboard_page(
        "dashboard/academy.html",
        400 if error else 200,
        error=error,
        start=start,
        end=end,
        rows=rows,
        total=academy.totals(db.session(), g.viewer.platform_id, rows),
    )


@bp.get("/report")
@staff_required
def report(lid: str) -> tuple[str, int]:
    """Everything on one printable page; by default last week (Monday to Sunday)."""
    course_id = _course_id()
    session = db.session()
    if "start" not in request.args and "end" not in request.args:
        start = digest.last_week(utcnow())
        end, error = start + timedelta(days=6), None
    else:
        start, end, error = _range()
    return dashboard_page(
        "dashboard/report.html",
        400 if error else 200,
        error=error,
        start=start,
        end=end,
        figures=metrics.overview(session, course_id, start, end),
        weeks=metrics.weekly(session, course_id, start, end),
        students=risk.at_risk(session, course_id, staff_viewer=g.viewer.is_staff),
        labels=reason_labels(),
        questions=hanging.hanging_questions(session, course_id),
        tags=signals.top_tags(session, course_id, start, end),
        gaps=signals.content_gaps(session, course_id),
        staff_rows=signals.staff_figures(session, course_id, start, end),
        generated=utcnow(),
    )


@bp.get("/digests")
@staff_required
def digests(lid: str) -> tuple[str, int]:
    return dashboard_page(
        "dashboard/digests.html",
        items=digest.recent_digests(db.session(), _course_id()),
        timedelta=timedelta,
    )


# --- CSV exports -----------------------------------------------------------------------------


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_delimiter() -> str:
    """What a spreadsheet in the page's language splits columns on when the file is opened:
    where decimals take a comma (Italian, German, French...), Excel splits on semicolons."""
    locale = get_locale()
    return ";" if locale is not None and get_decimal_symbol(locale) == "," else ","


def csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """A CSV download as spreadsheets in the page's language open it (delimiter, BOM), with
    no cell a spreadsheet would run as a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=_csv_delimiter())
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return Response(
        "\ufeff" + buffer.getvalue(),  # a BOM, so spreadsheets read accents right
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="bottega-{name}.csv"'},
    )


def _hours(delta: timedelta | None) -> str:
    """Hours with one decimal, as the page's language writes them (1,5 in Italian: 1.5 would
    open as the 1st of May)."""
    return "" if delta is None else str(format_decimal(delta.total_seconds() / 3600, "0.0"))


@bp.get("/export/academy.csv")
@export_access
def export_academy(lid: str) -> Response:
    if not _academy_allowed():
        abort(403)
    start, end, error = _range()
    if error:
        abort(400, description=error)
    return csv_response(
        "academy",
        [
            _("Course"),
            _("Students"),
            _("Never opened Bottega"),
            _("Active in the last 7 days"),
            _("Active in the last 30 days"),
            _("Questions asked"),
            _("Questions answered"),
            _("Median hours to a first answer"),
        ],
        [
            (
                r.title,
                r.learners,
                r.never_launched,
                r.active_7,
                r.active_30,
                r.questions,
                r.answered,
                _hours(r.median_first_answer),
            )
            for r in academy.academy(db.session(), g.viewer.platform_id, start, end)
        ],
    )


@bp.get("/export/<name>.csv")
@export_access
def export(lid: str, name: str) -> Response:
    if not g.viewer.can_manage_community:
        abort(403)
    if name not in EXPORTS:
        abort(404)
    course_id = _course_id()
    session = db.session()
    start, end, error = _range()
    if error:
        abort(400, description=error)
    if name == "overview":
        o = metrics.overview(session, course_id, start, end)
        return csv_response(
            name,
            [_("Figure"), _("Value")],
            [
                (_("Start"), o.start.isoformat()),
                (_("End"), o.end.isoformat()),
                (_("Students"), o.learners),
                (_("Active in the last 7 days"), o.active_7),
                (_("Active in the last 30 days"), o.active_30),
                (_("New members"), o.new_members),
                (_("Never opened Bottega"), o.never_launched),
                (_("Questions asked"), o.questions),
                (_("Questions answered"), o.answered),
                (_("Median hours to a first answer"), _hours(o.median_first_answer)),
                (_("Median hours to a first staff answer"), _hours(o.median_first_staff_answer)),
                (_("Kudos given"), o.kudos_given),
                (_("Groups active"), o.groups_active),
            ],
        )
    if name == "weekly":
        return csv_response(
            name,
            [
                _("Week starting"),
                _("Active students"),
                _("Questions"),
                _("Answers"),
                _("Comments"),
                _("Kudos"),
            ],
            [
                (w.start.isoformat(), w.active, w.questions, w.answers, w.comments, w.kudos)
                for w in metrics.weekly(session, course_id, start, end)
            ],
        )
    if name == "at-risk":
        labels = reason_labels()
        return csv_response(
            name,
            [_("Student"), _("Enrolled"), _("Last active"), _("Reasons"), _("Reach-outs")],
            [
                (
                    s.name,
                    s.enrolled_at.date().isoformat(),
                    s.last_active_at.date().isoformat() if s.last_active_at else "",
                    "; ".join(labels[f.reason] for f in s.findings),
                    len(s.reach_outs),
                )
                for s in risk.at_risk(session, course_id, staff_viewer=g.viewer.is_staff)
            ],
        )
    if name == "tags":
        return csv_response(
            name,
            [_("Tag"), _("Module or objective"), _("Questions")],
            [
                (t.name, t.label, t.questions)
                for t in signals.top_tags(session, course_id, start, end, 1000)
            ],
        )
    if name == "gaps":
        return csv_response(
            name,
            [_("Question"), _("Asked"), _("Answers"), _("Tags")],
            [
                (q.title, q.created_at.date().isoformat(), q.answers, " ".join(q.tags))
                for q in signals.content_gaps(session, course_id, limit=5000)
            ],
        )
    if name == "staff":
        return csv_response(
            name,
            [
                _("Staff member"),
                _("Answers"),
                _("Comments"),
                _("Endorsements"),
                _("First staff answers"),
                _("Median hours to their answer"),
            ],
            [
                (
                    r.name,
                    r.answers,
                    r.comments,
                    r.endorsements,
                    r.first_answers,
                    _hours(r.median_response),
                )
                for r in signals.staff_figures(session, course_id, start, end)
            ],
        )
    return csv_response(
        name,
        [
            _("Question"),
            _("Asked"),
            pgettext("what a question lacks", "Waiting for"),
            _("Hours"),
            _("First post"),
        ],
        [
            (
                q.title,
                q.created_at.isoformat(timespec="minutes"),
                _("a reply")
                if q.waiting == hanging.Waiting.NO_REPLY
                else _("a staff-checked answer"),
                _hours(q.age),
                _("yes") if q.first_post else _("no"),
            )
            for q in hanging.hanging_questions(session, course_id)
        ],
    )


# --- refused requests that keep the text -----------------------------------------------------


def _give_text_back(status: int, message: str) -> tuple[str, int] | None:
    """A reach-out or playbook form refused before its view ran (an expired form token), again
    with what was typed. Staff only, as the views themselves."""
    if not g.viewer.can_manage_community:
        return None
    endpoint, args = request.endpoint or "", request.view_args or {}
    if endpoint == "dashboard.reach_out":
        return _reach_out_refused(int(args["member_id"]), status, message)
    if endpoint == "dashboard.save_guidelines":
        return _playbook_page(
            status, guidelines_error=message, kept_body=request.form.get("body", "")
        )
    if endpoint == "dashboard.add_template":
        kept = {"title": request.form.get("title", ""), "body": request.form.get("body", "")}
        return _playbook_page(status, template_error=message, kept=kept)
    return None


keep_text_on_refusal(bp, _give_text_back)
