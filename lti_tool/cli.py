"""``flask --app wsgi ...`` commands: thin wrappers over services, with --json output."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import click
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import AppGroup
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from lti_tool.community import rerender
from lti_tool.community.recognition import evaluation as badge_evaluation
from lti_tool.community.sentiment import services as sentiment_services
from lti_tool.courses.models import Course, Platform, PlatformStatus
from lti_tool.extensions import db
from lti_tool.jobs import queue as jobs_queue
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.runtime import WorkSummary, new_worker_id, runtime_of
from lti_tool.lti import frame_origins
from lti_tool.lti.keys import KeyStatus, KeyStore, KeyStoreError
from lti_tool.lti.registration import (
    PlatformInput,
    RegistrationError,
    add_deployments,
    add_platform,
    list_platforms,
    platform_as_dict,
    set_platform_status,
)
from lti_tool.lti.registry import PlatformInfo
from lti_tool.lti.tool_conf import find_platform
from lti_tool.sync import grades, privacy, roster


class CliError(click.ClickException):
    """A one-line error on stderr and exit status 2 (bad input), never a traceback."""

    exit_code = 2


class DatabaseProblem(click.ClickException):
    """A store cannot answer (database not migrated or unreachable, Redis down): one line and
    exit status 1."""

    exit_code = 1


def _schema_is_current() -> bool | None:
    """Whether the database has every migration of this code (None: the database is down)."""
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    try:
        with db.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return False
            applied = connection.scalars(text("SELECT version_num FROM alembic_version"))
            return set(applied) == heads
    except OperationalError:
        return None


def _database_problem(exc: OperationalError | ProgrammingError) -> DatabaseProblem | None:
    """What to tell the operator when a command's query failed for want of a usable database."""
    db.session.rollback()
    current = _schema_is_current()
    if current is False:
        return DatabaseProblem(
            "the database schema is missing or older than this version of Bottega: "
            "run `flask --app wsgi db upgrade` first"
        )
    if isinstance(exc, OperationalError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return DatabaseProblem(f"the database cannot answer: {reason}")
    return None  # a ProgrammingError on a current schema is a bug: keep its traceback


class OneLineCommand(click.Command):
    """A command whose usage errors (missing or bad options) print one line, exit 2, and whose
    database problems (not migrated, unreachable) one line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            problem = _database_problem(exc)
            if problem is None:
                raise
            raise problem from exc

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise CliError(exc.format_message()) from exc


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")

platform_cli = AppGroup("platform", help="Register LMS platforms and list them.")
keys_cli = AppGroup("keys", help="The tool's signing keys (published at /.well-known/jwks.json).")


@platform_cli.command("add", cls=OneLineCommand)
@click.option(
    "--issuer", required=True, help="The LMS issuer (iss), e.g. https://moodle.example.org"
)
@click.option("--client-id", required=True, help="The client id the LMS gave Bottega.")
@click.option("--auth-login-url", required=True, help="The LMS OIDC authorization endpoint.")
@click.option("--auth-token-url", required=True, help="The LMS OAuth2 token endpoint.")
@click.option("--key-set-url", required=True, help="The LMS public key set (JWKS) URL.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="A deployment id (repeat the option for several).",
)
@click.option("--name", default="", help="A name for admins (defaults to the issuer).")
@click.option("--auth-audience", default=None, help="Token audience, when the LMS needs one.")
@json_option
def platform_add(
    as_json: bool,
    deployment_ids: tuple[str, ...],
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    name: str,
    auth_audience: str | None,
) -> None:
    """Register an LMS platform by hand."""
    data = PlatformInput(
        issuer=issuer,
        client_id=client_id,
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        key_set_url=key_set_url,
        deployment_ids=deployment_ids,
        name=name,
        auth_audience=auth_audience,
    )
    try:
        platform = add_platform(db.session(), data)
    except RegistrationError as exc:
        db.session.rollback()
        raise CliError(str(exc)) from exc
    row = platform_as_dict(platform)
    _emit(
        as_json,
        row,
        f"Registered {platform.name} (issuer {platform.issuer}, "
        f"client id {platform.client_id}, id {platform.id}).",
    )


@platform_cli.command("list", cls=OneLineCommand)
@json_option
def platform_list(as_json: bool) -> None:
    """List registered platforms."""
    platforms = [platform_as_dict(p) for p in list_platforms(db.session())]
    lines = [
        f"{p['id']:>4}  {p['status']:<8}  {p['issuer']}  client={p['client_id']}  "
        f"deployments={','.join(p['deployment_ids']) or '-'}  {p['name']}"
        for p in platforms
    ]
    _emit(as_json, platforms, "\n".join(lines) or "No platform registered yet.")


@platform_cli.command("add-deployment", cls=OneLineCommand)
@click.option("--issuer", required=True, help="The LMS issuer of the registration.")
@click.option("--client-id", required=True, help="The client id of the registration.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="A deployment id to add (repeat for several).",
)
@json_option
def platform_add_deployment(
    as_json: bool, issuer: str, client_id: str, deployment_ids: tuple[str, ...]
) -> None:
    """Add deployments to a registered platform (e.g. after a dynamic registration)."""
    session = db.session()
    platform = find_platform(session, issuer, client_id)
    if platform is None:
        raise CliError(f"no platform with issuer {issuer} and client id {client_id}")
    cleaned = [d.strip() for d in deployment_ids]
    if any(not d for d in cleaned):
        raise CliError("deployment ids must not be empty")
    try:
        add_deployments(session, platform, cleaned)
    except RegistrationError as exc:
        session.rollback()
        raise CliError(str(exc)) from exc
    row = platform_as_dict(platform)
    _emit(as_json, row, f"Deployments of {platform.name}: {', '.join(row['deployment_ids'])}.")


def _set_status(as_json: bool, issuer: str, client_id: str | None, status: str) -> None:
    platform = _registration(issuer, client_id)
    set_platform_status(db.session(), platform, PlatformStatus(status))
    words = {"active": "active: launches are accepted", "disabled": "disabled: launches refused"}
    _emit(
        as_json,
        platform_as_dict(platform),
        f"{platform.name} (issuer {platform.issuer}, client id {platform.client_id}) is now "
        f"{words[status]} (every worker within 30 s).",
    )


@platform_cli.command("approve", cls=OneLineCommand)
@click.option("--issuer", required=True, help="The LMS issuer of the registration.")
@click.option("--client-id", default=None, help="The client id (when the issuer has several).")
@json_option
def platform_approve(as_json: bool, issuer: str, client_id: str | None) -> None:
    """Approve a registration (pending after a dynamic registration with
    DYNAMIC_REGISTRATION=approval), or enable a disabled one."""
    _set_status(as_json, issuer, client_id, "active")


@platform_cli.command("disable", cls=OneLineCommand)
@click.option("--issuer", required=True, help="The LMS issuer of the registration.")
@click.option("--client-id", default=None, help="The client id (when the issuer has several).")
@json_option
def platform_disable(as_json: bool, issuer: str, client_id: str | None) -> None:
    """Refuse launches from a registration (its data stays)."""
    _set_status(as_json, issuer, client_id, "disabled")


@platform_cli.group("frame-origins")
def frame_origins_cli() -> None:
    """Origins allowed to frame Bottega for a registration (CSP frame-ancestors)."""


def _registration(issuer: str, client_id: str | None) -> Platform:
    """The one registration meant; an issuer shared by several (Canvas) needs --client-id."""
    session = db.session()
    try:
        platform = session.get(Platform, roster.find_platform_id(session, issuer, client_id))
    except roster.RosterError as exc:
        raise CliError(str(exc)) from exc
    assert platform is not None
    return platform


_registration_options = [
    click.option("--issuer", required=True, help="The LMS issuer of the registration."),
    click.option("--client-id", default=None, help="The client id (when the issuer has several)."),
]


def _with_registration(func: Any) -> Any:
    for option in reversed(_registration_options):
        func = option(func)
    return func


@frame_origins_cli.command("list", cls=OneLineCommand)
@_with_registration
@json_option
def frame_origins_list(as_json: bool, issuer: str, client_id: str | None) -> None:
    """The registration's origins: its own URLs', learnt from launches, added by admins."""
    platform = _registration(issuer, client_id)
    own = PlatformInfo.of(platform).own_origins
    rows = [{"origin": o, "source": "registration"} for o in own]
    rows += [
        {"origin": r.origin, "source": r.source}
        for r in frame_origins.stored_origins(db.session(), platform.id)
        if r.origin not in own
    ]
    _emit(as_json, rows, "\n".join(f"{r['origin']}  ({r['source']})" for r in rows))


@frame_origins_cli.command("add", cls=OneLineCommand)
@_with_registration
@click.argument("origins", nargs=-1, required=True)
@json_option
def frame_origins_add(
    as_json: bool, issuer: str, client_id: str | None, origins: tuple[str, ...]
) -> None:
    """Allow ORIGINS (https://host[:port]) to frame Bottega for this registration."""
    platform = _registration(issuer, client_id)
    allow_http = current_app.config.get("BOTTEGA_ENV") != "production"
    try:
        added = [
            frame_origins.add_origin(db.session(), platform.id, o, allow_http=allow_http)
            for o in origins
        ]
    except frame_origins.FrameOriginError as exc:
        db.session.rollback()
        raise CliError(str(exc)) from exc
    _emit(as_json, added, f"Allowed: {', '.join(added)}.")


@frame_origins_cli.command("remove", cls=OneLineCommand)
@_with_registration
@click.argument("origins", nargs=-1, required=True)
@json_option
def frame_origins_remove(
    as_json: bool, issuer: str, client_id: str | None, origins: tuple[str, ...]
) -> None:
    """Forget learnt or added ORIGINS (a learnt one comes back with the next launch from it)."""
    platform = _registration(issuer, client_id)
    missing = [o for o in origins if not frame_origins.remove_origin(db.session(), platform.id, o)]
    if missing:
        raise CliError(f"not stored for this registration: {', '.join(missing)}")
    _emit(as_json, list(origins), f"Removed: {', '.join(origins)}.")


def _store() -> KeyStore:
    store: KeyStore = current_app.extensions["bottega_keys"]
    return store


def _key_row(status: KeyStatus) -> dict[str, Any]:
    key = status.key
    return {
        "kid": key.kid,
        "created": key.created.isoformat(),
        "state": status.state,
        "signing": status.state == "signing",
        "signs_from": key.signs_from.isoformat(),
        "retire_after": status.retire_after.isoformat() if status.retire_after else None,
        "file": key.path.name,
    }


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _key_line(status: KeyStatus, now: datetime) -> str:
    key = status.key
    if status.state == "signing":
        state = "signing"
    elif status.state == "published":
        state = f"published, signs from {_when(key.signs_from)}"
    elif status.retire_after and status.retire_after > now:
        state = f"retiring, retire after {_when(status.retire_after)}"
    else:
        state = "retiring, can be retired now"
    return f"{key.kid}  {_when(key.created)}  {state}"


@keys_cli.command("list", cls=OneLineCommand)
@json_option
def keys_list(as_json: bool) -> None:
    """List published keys, newest first, with what each is doing."""
    now = datetime.now(UTC)
    statuses = _store().statuses(now)
    _emit(
        as_json,
        [_key_row(s) for s in statuses],
        "\n".join(_key_line(s, now) for s in statuses),
    )


@keys_cli.command("rotate", cls=OneLineCommand)
@click.option(
    "--now",
    "at_once",
    is_flag=True,
    help="Sign with the new key at once (a leaked key): LMSs holding a cached key set "
    "may refuse its tokens for a few minutes.",
)
@json_option
def keys_rotate(as_json: bool, at_once: bool) -> None:
    """Publish a new key; it signs once every LMS's cached key set has it."""
    store = _store()
    now = datetime.now(UTC)
    key = store.rotate(at_once=at_once, now=now)
    status = next(s for s in store.statuses(now) if s.key.kid == key.kid)
    if at_once:
        text = (
            f"New signing key {key.kid}, signing now; older keys stay published. "
            f"LMSs that cached the key set in the last {store.cache_max_age} s and do not "
            "fetch it again for an unknown kid refuse its tokens until their copy expires."
        )
    else:
        text = (
            f"New key {key.kid} published; it signs from {_when(key.signs_from)}, once every "
            "LMS's cached key set has it. The current key signs until then."
        )
    _emit(as_json, _key_row(status), text)


# A kid is a key's base64url thumbprint: one in 64 starts with "-", which is no option here.
@keys_cli.command("retire", cls=OneLineCommand, context_settings={"ignore_unknown_options": True})
@click.argument("kid")
@click.option(
    "--now",
    "at_once",
    is_flag=True,
    help="Stop publishing it even though tokens it signed may still be valid (a leaked key).",
)
@json_option
def keys_retire(as_json: bool, kid: str, at_once: bool) -> None:
    """Stop publishing a key that no longer signs, once the tokens it signed have expired."""
    try:
        key = _store().retire(kid, at_once=at_once)
    except KeyStoreError as exc:
        raise CliError(str(exc)) from exc
    _emit(as_json, {"kid": key.kid, "retired": True}, f"Retired key {key.kid}.")


# -- jobs -------------------------------------------------------------------------------------

jobs_cli = AppGroup("jobs", help="Background jobs: run a worker, list and retry jobs.")


def _summary_row(summary: WorkSummary) -> dict[str, Any]:
    return {
        "done": summary.done,
        "retry": summary.retry,
        "dead": summary.dead,
        "lost": summary.lost,
        "requeued": summary.requeued,
        "scheduled": summary.scheduled,
        "jobs": [
            {"id": o.job_id, "kind": o.kind, "status": o.status, "error": o.error}
            for o in summary.outcomes
        ],
    }


@jobs_cli.command("work", cls=OneLineCommand)
@click.option("--burst", is_flag=True, help="Run what is due now, then exit (for cron and tests).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="With --burst: at most N.")
@click.option("--worker-id", default=None, help="A name for this worker (default: host:pid).")
@json_option
def jobs_work(as_json: bool, burst: bool, limit: int | None, worker_id: str | None) -> None:
    """Run background jobs: until stopped (SIGTERM), or with --burst until none is due."""
    runtime = runtime_of(current_app._get_current_object())  # type: ignore[attr-defined]
    worker = worker_id or new_worker_id("cli")
    if not burst:
        channel = "Redis" if runtime.channel else "polling the database"
        click.echo(f"Job worker {worker} started ({channel}).")
        try:
            runtime.work_forever(worker)
        except RedisConnectionError as exc:
            # systemd starts the worker again (Restart=always): one line per attempt, no
            # traceback, and the URL (with its password) stays out of the journal.
            raise DatabaseProblem(f"Redis (REDIS_URL) cannot be reached: {exc}") from exc
        return
    summary = runtime.drain(worker, limit=limit)
    _emit(
        as_json,
        _summary_row(summary),
        f"{summary.done} done, {summary.retry} to retry, {summary.dead} dead"
        + (f", {summary.requeued} expired leases requeued" if summary.requeued else ""),
    )


@jobs_cli.command("list", cls=OneLineCommand)
@click.option(
    "--status",
    type=click.Choice([s.value for s in jobs_queue.JobStatus]),
    default=None,
    help="Only jobs in this state.",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
def jobs_list(as_json: bool, status: str | None, limit: int) -> None:
    """The newest jobs, with their state, attempts and last error."""
    rows = [
        jobs_queue.job_as_dict(job)
        for job in jobs_queue.recent_jobs(db.session(), status=status, limit=limit)
    ]
    lines = [
        f"{r['id']:>6}  {r['status']:<8} {r['kind']:<18} attempts={r['attempts']}  "
        f"run_after={r['run_after']}" + (f"  error={r['last_error']}" if r["last_error"] else "")
        for r in rows
    ]
    _emit(as_json, rows, "\n".join(lines) or "No jobs.")


@jobs_cli.command("retry", cls=OneLineCommand)
@click.argument("job_id", type=int)
@json_option
def jobs_retry(as_json: bool, job_id: int) -> None:
    """Queue a dead job again, with its attempts reset."""
    if not jobs_queue.retry_dead(db.session(), job_id):
        db.session.rollback()
        raise CliError(f"job {job_id} is not dead, or another job with its key is pending")
    db.session.commit()
    _emit(as_json, {"id": job_id, "status": "queued"}, f"Job {job_id} queued again.")


# -- roster -----------------------------------------------------------------------------------

roster_cli = AppGroup("roster", help="Course rosters from the LMS (Names and Role Provisioning).")


def _course_options(func: Any) -> Any:
    options = [
        click.option("--issuer", default=None, help="The LMS issuer (iss)."),
        click.option("--context", "context_id", default=None, help="The LMS course (context) id."),
        click.option("--client-id", default=None, help="Needed when the issuer has several."),
        click.option("--deployment-id", default=None, help="Needed when the course has several."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _course_id(
    issuer: str | None, context_id: str | None, client_id: str | None, deployment_id: str | None
) -> int:
    if not issuer or not context_id:
        raise CliError("give --issuer and --context (or --all)")
    try:
        course = roster.find_course(
            db.session(), issuer, context_id, client_id=client_id, deployment_id=deployment_id
        )
    except roster.RosterError as exc:
        raise CliError(str(exc)) from exc
    return int(course.id)


def _not_run_here(session_factory: Any, job_id: int) -> str:
    """Why a job this command queued did not run in it: what the operator may expect next."""
    with session_factory() as session:
        job = session.get(Job, job_id)
    if job is not None and job.status == JobStatus.RUNNING:
        if job.rerun:
            return "running in another worker; it runs again, for this request, as soon as it ends"
        return "running in another worker"
    return "waiting to retry"


def _sync_line(r: dict[str, Any]) -> str:
    if r["status"] != "done":
        return f"course {r['course_id']}: {r['status']}: {r['error']}"
    extent = r["mode"] if r["complete"] else f"{r['mode']}, incomplete: {r['stopped']}"
    return (
        f"course {r['course_id']}: {r['members']} members listed, {r['added']} added, "
        f"{r['updated']} updated, {r['deactivated']} inactive, {r['reactivated']} back "
        f"({extent}, {r['seconds']} s)"
    )


@roster_cli.command("sync", cls=OneLineCommand)
@_course_options
@click.option("--all", "all_courses", is_flag=True, help="Every course with a roster service.")
@click.option(
    "--differences", is_flag=True, help="Only changes since the last sync, when the LMS offers it."
)
@json_option
def roster_sync(
    as_json: bool,
    issuer: str | None,
    context_id: str | None,
    client_id: str | None,
    deployment_id: str | None,
    all_courses: bool,
    differences: bool,
) -> None:
    """Sync course rosters now, in this process, through the job queue (never twice at once)."""
    session = db.session()
    if all_courses:
        if context_id:
            raise CliError("give either --context or --all, not both")
        if deployment_id:
            raise CliError("--deployment-id picks one course's deployment: use it with --context")
        platform_id = None
        if issuer:
            try:
                platform_id = roster.find_platform_id(session, issuer, client_id)
            except roster.RosterError as exc:
                raise CliError(str(exc)) from exc
        course_ids = roster.syncable_courses(session, platform_id)
    else:
        course_ids = [_course_id(issuer, context_id, client_id, deployment_id)]
        if not roster.syncable(session, course_ids[0]):
            raise CliError("this course's launches carried no roster service (NRPS) endpoint")
    jobs = {
        cid: roster.request_sync(session, cid, full=not differences, trigger="cli", replace=True)
        for cid in course_ids
    }
    session.commit()
    runtime = runtime_of(current_app._get_current_object())  # type: ignore[attr-defined]
    worker = new_worker_id("cli")
    results: list[dict[str, Any]] = []
    for course_id, job_id in jobs.items():
        outcome = jobs_queue.run_one(runtime.session_factory, worker, job_id, runtime.settings.jobs)
        row: dict[str, Any] = {"course_id": course_id, "job_id": job_id}
        if outcome is None:
            row.update(status="pending", error=_not_run_here(runtime.session_factory, job_id))
        else:
            row.update(status=outcome.status, error=outcome.error, **(outcome.result or {}))
        results.append(row)
    text = "\n".join(_sync_line(r) for r in results)
    _emit(as_json, results, text or "No course has a roster service yet.")
    if any(r["status"] not in ("done", "pending") for r in results):
        raise SystemExit(1)


@roster_cli.command("show", cls=OneLineCommand)
@_course_options
@json_option
def roster_show(
    as_json: bool,
    issuer: str | None,
    context_id: str | None,
    client_id: str | None,
    deployment_id: str | None,
) -> None:
    """The course's members with their roles (full URIs) and status."""
    course_id = _course_id(issuer, context_id, client_id, deployment_id)
    members = roster.roster_rows(db.session(), course_id)
    rows = [
        {"sub": r.lms_id, "name": r.name, "email": r.email, "roles": r.roles, "status": r.status}
        for r in members
    ]
    lines = [
        f"{r.status:<8}  {r.lms_id}  {r.name or '-'}  {r.email or '-'}  "
        + " ".join(x.rsplit("#", 1)[-1] for x in r.roles)
        for r in members
    ]
    _emit(as_json, rows, "\n".join(lines) or "Nobody is enrolled yet.")


# -- grades -----------------------------------------------------------------------------------

grades_cli = AppGroup("grades", help="Participation grades sent to the LMS gradebook (AGS).")


@grades_cli.command("push", cls=OneLineCommand)
@_course_options
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to keep retrying temporary LMS failures here before leaving them to the workers.",
)
@json_option
def grades_push(
    as_json: bool,
    issuer: str | None,
    context_id: str | None,
    client_id: str | None,
    deployment_id: str | None,
    wait: float,
) -> None:
    """Send the course's participation grades now, through the job queue (one push at a time)."""
    course_id = _course_id(issuer, context_id, client_id, deployment_id)
    session = db.session()
    placements = grades.graded_placements(session, course_id)
    if not placements:
        raise CliError("no placement of this course is graded (no AGS line item in its launches)")
    jobs = {
        p.id: grades.request_push(session, p.id, trigger="cli", replace=True) for p in placements
    }
    session.commit()
    runtime = runtime_of(current_app._get_current_object())  # type: ignore[attr-defined]
    worker = new_worker_id("cli")
    results = []
    for placement_id, job_id in jobs.items():
        outcome = jobs_queue.run_until_settled(
            runtime.session_factory, worker, job_id, runtime.settings.jobs, wait=wait
        )
        row: dict[str, Any] = {"placement_id": placement_id, "job_id": job_id}
        if outcome is None:
            row.update(status="pending", error=_not_run_here(runtime.session_factory, job_id))
        else:
            row.update(status=outcome.status, error=outcome.error, **(outcome.result or {}))
        results.append(row)
    lines = [
        f"placement {r['placement_id']}: {r['status']}"
        + (
            f", {r['learners']} learners, {r['sent']} sent, {r['settled']} settled, "
            f"{r['failed']} refused, {r['learners'] - r['changed']} unchanged ({r['seconds']} s)"
            if r["status"] == "done"
            else f": {r['error']}"
        )
        for r in results
    ]
    _emit(as_json, results, "\n".join(lines))
    if any(r["status"] not in ("done", "pending") for r in results):
        raise SystemExit(1)


# -- badges -----------------------------------------------------------------------------------

badges_cli = AppGroup("badges", help="Badges earned from participation (rules are table rows).")


@badges_cli.command("evaluate", cls=OneLineCommand)
@_course_options
@click.option("--all", "all_courses", is_flag=True, help="Every course with participation.")
@json_option
def badges_evaluate(
    as_json: bool,
    issuer: str | None,
    context_id: str | None,
    client_id: str | None,
    deployment_id: str | None,
    all_courses: bool,
) -> None:
    """Award the badges members have earned (a backfill; new events trigger it by themselves)."""
    session = db.session()
    if all_courses:
        if context_id:
            raise CliError("give either --context or --all, not both")
        course_ids = badge_evaluation.courses_with_participation(session)
    else:
        course_ids = [_course_id(issuer, context_id, client_id, deployment_id)]
    results = [
        {"course_id": cid, "awarded": badge_evaluation.evaluate_course(session, cid)}
        for cid in course_ids
    ]
    text = "\n".join(f"course {r['course_id']}: {r['awarded']} badges awarded" for r in results)
    _emit(as_json, results, text or "No course has participation yet.")


# -- sentiment --------------------------------------------------------------------------------

sentiment_cli = AppGroup("sentiment", help="Offline sentiment of Q&A posts (staff signals).")


@sentiment_cli.command("rescore", cls=OneLineCommand)
@_course_options
@click.option("--all", "all_courses", is_flag=True, help="Every course.")
@json_option
def sentiment_rescore(
    as_json: bool,
    issuer: str | None,
    context_id: str | None,
    client_id: str | None,
    deployment_id: str | None,
    all_courses: bool,
) -> None:
    """Score posts again: after a lexicon change, or for posts written before sentiment existed."""
    session = db.session()
    if all_courses and context_id:
        raise CliError("give either --context or --all, not both")
    course_id = None if all_courses else _course_id(issuer, context_id, client_id, deployment_id)
    scored = sentiment_services.rescore(session, course_id)
    _emit(as_json, {"course_id": course_id, "scored": scored}, f"{scored} posts scored")


# -- content ----------------------------------------------------------------------------------

content_cli = AppGroup("content", help="What members wrote: stored posts and their HTML.")


@content_cli.command("rerender", cls=OneLineCommand)
@click.option(
    "--course-id", type=click.IntRange(min=1), default=None, help="One course (default: all)."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=rerender.BATCH,
    show_default=True,
    help="Rows rendered and committed together.",
)
@json_option
def content_rerender(as_json: bool, course_id: int | None, batch_size: int) -> None:
    """Render stored posts again after an upgrade that changed the Markdown renderer (safe to
    repeat: edit times stay, nobody is notified)."""
    session = db.session()
    if course_id is not None and session.get(Course, course_id) is None:
        raise CliError(f"no course with id {course_id}")

    def progress(count: rerender.RerenderCount) -> None:
        if not as_json:
            click.echo(f"{count.kind}: {count.rendered} rendered, {count.changed} changed")

    counts = rerender.rerender_all(session, course_id, batch=batch_size, on_kind=progress)
    if as_json:
        click.echo(json.dumps([vars(c) for c in counts], indent=2))


# -- privacy ----------------------------------------------------------------------------------

privacy_cli = AppGroup("privacy", help="A member's data: export it, erase it, apply retention.")


def _member_options(func: Any) -> Any:
    options = [
        click.option(
            "--platform", "platform_ref", required=True, help="The platform's id, issuer or name."
        ),
        click.option("--member", "member_id", type=int, default=None, help="Bottega's member id."),
        click.option("--sub", default=None, help="The member's LMS user id (the sub claim)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _find_member(platform_ref: str, member_id: int | None, sub: str | None) -> Any:
    session = db.session()
    try:
        platform = privacy.find_platform(session, platform_ref)
        return privacy.find_member(session, platform.id, member_id=member_id, sub=sub)
    except privacy.PrivacyError as exc:
        raise CliError(str(exc)) from exc


@privacy_cli.command("export", cls=OneLineCommand)
@_member_options
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the JSON to this new file, readable by its owner only (default: standard output).",
)
@click.option("--force", is_flag=True, help="Replace the --output file if it exists.")
def privacy_export(
    platform_ref: str, member_id: int | None, sub: str | None, output: str | None, force: bool
) -> None:
    """Everything Bottega holds about one member of a platform, as JSON."""
    member = _find_member(platform_ref, member_id, sub)
    text = json.dumps(privacy.export_member(db.session(), member), indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
        return
    # Personal data: never over another export by mistake, never readable by other accounts.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        with open(os.open(output, flags, 0o600), "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except FileExistsError as exc:
        raise CliError(f"{output} exists: choose another file, or add --force") from exc
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror}") from exc
    click.echo(f"Exported member {member.id} to {output}.", err=True)


@privacy_cli.command("erase", cls=OneLineCommand)
@_member_options
@click.option("--yes", is_flag=True, help="Confirm: erasure cannot be undone.")
@json_option
def privacy_erase(
    as_json: bool, platform_ref: str, member_id: int | None, sub: str | None, yes: bool
) -> None:
    """Erase one member's personal data: posts stay as "Former member" (docs/privacy.md)."""
    member = _find_member(platform_ref, member_id, sub)
    if not yes:
        raise CliError("erasure cannot be undone: add --yes to confirm")
    already = privacy.is_erased(member)
    counts = privacy.erase_member(db.session(), member, route="cli")
    row = {"member_id": member.id, "already_erased": already, "counts": counts}
    text = (
        f"Member {member.id} was already erased."
        if already
        else f"Erased member {member.id}: "
        + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing else held")
    )
    _emit(as_json, row, text)


@privacy_cli.command("requests", cls=OneLineCommand)
@click.option("--platform", "platform_ref", default=None, help="Only this platform's requests.")
@json_option
def privacy_requests(as_json: bool, platform_ref: str | None) -> None:
    """Pending erasure requests, oldest first (erase with `privacy erase --member ID --yes`)."""
    session = db.session()
    platform_id = None
    if platform_ref:
        try:
            platform_id = privacy.find_platform(session, platform_ref).id
        except privacy.PrivacyError as exc:
            raise CliError(str(exc)) from exc
    rows = [
        {
            "id": r.id,
            "platform_id": r.platform_id,
            "member_id": r.member_id,
            "course_id": r.course_id,
            "requested_at": r.requested_at.isoformat(),
        }
        for r in privacy.pending_requests(session, platform_id)
    ]
    lines = [
        f"{r['id']:>5}  platform {r['platform_id']}  member {r['member_id']}  "
        f"requested {r['requested_at']}"
        for r in rows
    ]
    _emit(as_json, rows, "\n".join(lines) or "No pending erasure request.")


@privacy_cli.command("purge-events", cls=OneLineCommand)
@click.option(
    "--days",
    type=click.IntRange(min=28),
    default=None,
    help="Retention in days (default: EVENT_RETENTION_DAYS).",
)
@json_option
def privacy_purge_events(as_json: bool, days: int | None) -> None:
    """Delete participation events older than the retention now (what the scheduled job does)."""
    settings = current_app.extensions["bottega_settings"]
    days = days or settings.privacy.event_retention_days
    if not days:
        raise CliError("event retention is off: set EVENT_RETENTION_DAYS or give --days")
    result = privacy.purge_events(db.session(), days)
    _emit(
        as_json,
        result,
        f"{result['deleted']} events before {result['before']} deleted in {result['courses']} "
        f"courses ({result['graded_courses_skipped']} graded courses skipped)",
    )


def register_cli(app: Flask) -> None:
    app.cli.add_command(platform_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(roster_cli)
    app.cli.add_command(grades_cli)
    app.cli.add_command(badges_cli)
    app.cli.add_command(sentiment_cli)
    app.cli.add_command(privacy_cli)
    app.cli.add_command(content_cli)
