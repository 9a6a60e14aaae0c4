"""Dashboard benchmark: course overview, at-risk list and academy overview of a large academy.

Run from the repository root:
.venv/bin/python -m bench.dashboard [--quick] [--db sqlite|postgres|both] [--compare REF]
    [--profile] [--rollup]

For each database it seeds an academy (one LMS registration) of 50 courses, 20,000 students,
1,000,000 participation events over the last six months and 50,000 questions (bulk inserts;
COPY on PostgreSQL), starts the tool under gunicorn with the session of a community manager,
and measures with a few concurrent clients: a bare endpoint (/healthz), the course overview and
the at-risk list of the largest course, and the academy overview. It prints requests/s,
p50/p95 latency, the tool's CPU time per request (from /proc) and the SQL statements each page
runs, in the largest course and in the smallest one.

Targets (issue 8): course overview <= 200 ms p95, academy overview <= 1 s p95.

``--compare REF`` also serves git REF (say ``main``) from a ``git archive`` of it, on the same
data, and measures each page there just before this checkout, so both meet the same load; a
table of CPU per request and p95 side by side follows. It then prints the rollup cost of
``engagement_week``: the full build, one week again after a late event, and the chart's read.

``--profile`` also runs each page in-process: every SQL statement it sent is replayed alone on
the same database (fetching all rows) and timed, and cProfile shows the Python functions that
took the time. ``--rollup`` times a prototype daily rollup (bench-only SQL, in its own table):
a full build, the refresh of one day, and the academy's active counts read from it.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import math
import os
import pstats
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.launch import (
    BIN,
    ROOT,
    TOOL_ENV,
    BenchError,
    Phase,
    Server,
    free_port,
    markdown_table,
    measured,
    postgres_database,
    postgres_problem,
    run_flask,
    start_server,
    wait_until_up,
)

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TIMEOUT = 120.0  # a slow dashboard page must be measured, not cut off
TARGETS_P95_MS = {"course overview": 200.0, "academy overview": 1000.0}
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
DAYS = 183  # events and enrolments spread over the last six months
# What students do, as shares of their own actions (the dashboard reads every kind). A paired
# kind also writes the "received" event of the member who benefits.
STUDENT_KINDS = {
    "upvote": 34.0,
    "comment": 14.0,
    "group_post": 16.0,
    "answer": 9.0,
    "kudos_given": 6.0,
    "accept": 2.0,
    "group_joined": 1.5,
    "group_facilitator": 0.5,
}
STAFF_KINDS = {"answer": 40.0, "comment": 25.0, "endorse": 20.0, "kudos_given": 10.0, "upvote": 5}
PAIRED = {
    "upvote": "upvote_received",
    "kudos_given": "kudos_received",
    "accept": "answer_accepted",
    "endorse": "endorsement_received",
}
SUBJECT_TYPE = {
    "upvote": "qa_answer",
    "comment": "qa_comment",
    "answer": "qa_answer",
    "accept": "qa_answer",
    "endorse": "qa_answer",
    "kudos_given": "kudos",
    "group_post": "group",
    "group_joined": "group",
    "group_facilitator": "group",
}
GROUPS_PER_COURSE = 12
SQLITE_EVENT_INSERT = (
    "INSERT INTO engagement_event (id, course_id, member_id, kind, subject_type, subject_id, "
    "actor_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
EVENT_COLUMNS = (
    "id",
    "course_id",
    "member_id",
    "kind",
    "subject_type",
    "subject_id",
    "actor_id",
    "created_at",
)


# -- seeding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    courses: int
    students: int
    events: int
    questions: int
    staff_per_course: int = 3


@dataclass
class Student:
    member_id: int
    course: int  # index in the course list
    enrolled: float  # POSIX seconds
    first_launch: float | None
    last_launch: float | None
    active_from: float
    active_to: float
    weight: float  # how much they take part, relative to the others


@dataclass
class Seeded:
    platform_id: int
    course_ids: list[int]  # the largest course first, the smallest last
    course_sizes: list[int]
    manager_id: int
    manager_enrolments: list[int]  # one per course, same order
    never_launched: int
    events: int
    questions: int
    timings: dict[str, float] = field(default_factory=dict)


def course_sizes(size: Size) -> list[int]:
    """Students per course: a few large courses and a long tail (weights 1/sqrt(rank))."""
    weights = [1 / math.sqrt(rank + 1) for rank in range(size.courses)]
    total = sum(weights)
    sizes = [max(1, int(size.students * w / total)) for w in weights]
    sizes[0] += size.students - sum(sizes)
    return sizes


def make_students(size: Size, first_member: int, now: float, rng: random.Random) -> list[Student]:
    """Rolling enrolment; 15% never launch; heavy-tailed activity; 30% drift away."""
    students = []
    member_id = first_member
    for course, count in enumerate(course_sizes(size)):
        for _ in range(count):
            enrolled = now - rng.random() * DAYS * 86400
            if rng.random() < 0.15:
                students.append(Student(member_id, course, enrolled, None, None, 0, 0, 0.0))
            else:
                first = min(now - 60, enrolled + rng.expovariate(1 / (2 * 86400)))
                # Quitters stop somewhere in their time; the others are still around.
                end = first + rng.random() * (now - first) if rng.random() < 0.3 else now
                last = max(first, end - rng.random() * 3 * 86400)
                weight = rng.lognormvariate(0, 1.4)
                students.append(
                    Student(member_id, course, enrolled, first, last, first, end, weight)
                )
            member_id += 1
    return students


def _moment(rng: random.Random, low: float, high: float) -> datetime:
    return datetime.fromtimestamp(low + rng.random() * max(0.0, high - low), UTC)


def seed(database_url: str, size: Size, seed_value: int = 8) -> Seeded:
    """Bulk-insert the academy. Ids are given by the bench; sequences are moved past them."""
    from sqlalchemy import create_engine, insert, text
    from sqlalchemy.orm import Session

    from lti_tool.community.engagement.services import backfill_enrolment_activity
    from lti_tool.community.qa.models import Question
    from lti_tool.courses.models import Course, Deployment, Enrolment, Member, Platform

    rng = random.Random(seed_value)
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url)
    now_dt = datetime.now(UTC)
    now = now_dt.timestamp()
    timings: dict[str, float] = {}
    begin = time.perf_counter()

    students = make_students(size, 1, now, rng)
    sizes = course_sizes(size)
    first_staff = len(students) + 1
    staff = [
        (first_staff + course * size.staff_per_course + k, course)
        for course in range(size.courses)
        for k in range(size.staff_per_course)
    ]
    manager_id = first_staff + len(staff)
    by_course: list[list[Student]] = [[] for _ in range(size.courses)]
    for s in students:
        if s.first_launch is not None:
            by_course[s.course].append(s)
    course_cum = [list(itertools.accumulate(s.weight for s in group)) for group in by_course]
    staff_by_course: list[list[int]] = [[] for _ in range(size.courses)]
    for member_id, course in staff:
        staff_by_course[course].append(member_id)
    launched = [s for s in students if s.first_launch is not None]
    # Each student acts in proportion to their weight and to how long they were around.
    act = [s.weight * (s.active_to - s.active_from + 86400) for s in launched]

    questions: list[dict[str, Any]] = []
    events: list[tuple[Any, ...]] = []
    course_id = list(range(1, size.courses + 1))  # ids given in that order below
    for n, author in enumerate(rng.choices(launched, act, k=size.questions)):
        asked = _moment(rng, author.active_from, author.active_to)
        age_h = (now_dt - asked).total_seconds() / 3600
        wait_h = rng.lognormvariate(math.log(3), 1.3)
        answered = rng.random() < 0.88 and wait_h < age_h
        first = asked + timedelta(hours=wait_h) if answered else None
        staff_wait_h = wait_h + rng.lognormvariate(math.log(8), 1.0)
        staff_first = (
            asked + timedelta(hours=staff_wait_h)
            if answered and rng.random() < 0.45 and staff_wait_h < age_h
            else None
        )
        state = "unanswered"
        if answered:
            state = "resolved" if rng.random() < 0.35 else "answered"
        questions.append(
            {
                "id": n + 1,
                "course_id": course_id[author.course],
                "author_id": author.member_id,
                "anonymous": rng.random() < 0.05,
                "title": f"Question {n + 1}",
                "body": "",
                "body_html": "",
                "state": state,
                "endorsed": staff_first is not None and rng.random() < 0.3,
                "answer_count": 0 if first is None else 1 + int(rng.expovariate(0.7)),
                "helpful_count": int(rng.expovariate(0.5)),
                "created_at": asked,
                "updated_at": asked,
                "last_activity_at": max(d for d in (asked, first, staff_first) if d is not None),
                "first_answer_at": first,
                "first_staff_answer_at": staff_first,
                "deleted_at": asked + timedelta(hours=1) if rng.random() < 0.01 else None,
                "search_title": f"question {n + 1}",
                "search_body": "",
            }
        )
        events.append(
            (
                course_id[author.course],
                author.member_id,
                "ask",
                "qa_question",
                n + 1,
                None,
                asked,
            )
        )
    student_kinds = list(STUDENT_KINDS)
    student_w = list(itertools.accumulate(STUDENT_KINDS.values()))
    staff_kinds, staff_w = list(STAFF_KINDS), list(itertools.accumulate(STAFF_KINDS.values()))
    remaining = size.events - len(events)
    actors = rng.choices(launched, act, k=remaining)
    for actor in actors:
        if len(events) >= size.events:
            break
        course = actor.course
        when = _moment(rng, actor.active_from, actor.active_to)
        member = actor.member_id
        if rng.random() < 0.05:  # staff act in the same course, at the same moment
            member = rng.choice(staff_by_course[course])
            kind = rng.choices(staff_kinds, cum_weights=staff_w)[0]
        else:
            kind = rng.choices(student_kinds, cum_weights=student_w)[0]
        subject_type = SUBJECT_TYPE[kind]
        subject = (
            course * GROUPS_PER_COURSE + rng.randrange(GROUPS_PER_COURSE) + 1
            if subject_type == "group"
            else rng.randrange(1, 10 * size.questions)
        )
        cid = course_id[course]
        events.append((cid, member, kind, subject_type, subject, None, when))
        received = PAIRED.get(kind)
        if received and len(events) < size.events:
            peer = rng.choices(by_course[course], cum_weights=course_cum[course])[0].member_id
            events.append((cid, peer, received, subject_type, subject, member, when))
    # The table in service fills in time order: keep that physical order.
    events.sort(key=lambda e: e[6])
    timings["generate"] = time.perf_counter() - begin

    begin = time.perf_counter()
    with engine.begin() as conn:
        created = now_dt - timedelta(days=DAYS + 30)
        platform_id = conn.execute(
            insert(Platform.__table__).returning(Platform.__table__.c.id),
            {
                "issuer": "https://academy.example.org",
                "client_id": "bench-dashboard",
                "name": "Academy",
                "auth_login_url": "https://academy.example.org/auth",
                "auth_token_url": "https://academy.example.org/token",
                "key_set_url": "https://academy.example.org/jwks",
                "status": "active",
                "created_at": created,
            },
        ).scalar_one()
        deployment_id = conn.execute(
            insert(Deployment.__table__).returning(Deployment.__table__.c.id),
            {
                "platform_id": platform_id,
                "deployment_id": "1",
                "active": True,
                "created_at": now_dt,
            },
        ).scalar_one()
        conn.execute(
            insert(Course.__table__),
            [
                {
                    "id": course_id[c],
                    "platform_id": platform_id,
                    "deployment_id": deployment_id,
                    "lms_id": f"course-{c}",
                    "title": f"Course {c + 1:02d} ({sizes[c]} students)",
                    "label": f"C{c + 1}",
                    "services": {},
                    "created_at": created,
                }
                for c in range(size.courses)
            ],
        )

        def stamp(ts: float | None) -> datetime | None:
            return None if ts is None else datetime.fromtimestamp(ts, UTC)

        members: list[dict[str, Any]] = [
            {"id": s.member_id, "lms_id": f"s{s.member_id}", "name": f"Student {s.member_id}"}
            for s in students
        ]
        members += [{"id": m, "lms_id": f"t{m}", "name": f"Teacher {m}"} for m, _ in staff]
        members.append({"id": manager_id, "lms_id": "cm", "name": "Community Manager"})
        for person in members:
            person.update(platform_id=platform_id, created_at=created)
        for start in range(0, len(members), 10_000):
            conn.execute(insert(Member.__table__), members[start : start + 10_000])
        enrolments: list[dict[str, Any]] = [
            {
                "course_id": course_id[s.course],
                "member_id": s.member_id,
                "roles": [MEMBERSHIP + "Learner"],
                "community_manager": False,
                "created_at": stamp(s.enrolled),
                "first_launch_at": stamp(s.first_launch),
                "last_launch_at": stamp(s.last_launch),
            }
            for s in students
        ]
        enrolments += [
            {
                "course_id": course_id[c],
                "member_id": m,
                "roles": [MEMBERSHIP + "Instructor"],
                "community_manager": False,
                "created_at": created,
                "first_launch_at": created,
                "last_launch_at": now_dt - timedelta(hours=rng.random() * 48),
            }
            for m, c in staff
        ]
        # The community manager (a Mentor in the LMS, no staff role) is in every course.
        first_manager_enrolment = len(enrolments) + 1
        enrolments += [
            {
                "course_id": course_id[c],
                "member_id": manager_id,
                "roles": [MEMBERSHIP + "Mentor"],
                "community_manager": True,
                "created_at": created,
                "first_launch_at": created,
                "last_launch_at": now_dt,
            }
            for c in range(size.courses)
        ]
        for n, enrolment in enumerate(enrolments):
            enrolment.update(id=n + 1, status="active", updated_at=enrolment["created_at"])
        for start in range(0, len(enrolments), 10_000):
            conn.execute(insert(Enrolment.__table__), enrolments[start : start + 10_000])
        timings["people"] = time.perf_counter() - begin
        begin = time.perf_counter()
        for start in range(0, len(questions), 5_000):
            conn.execute(insert(Question.__table__), questions[start : start + 5_000])
        timings["questions"] = time.perf_counter() - begin
        begin = time.perf_counter()
        rows = [(n + 1, *e) for n, e in enumerate(events)]
        if conn.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
            assert raw is not None
            copy_sql = f"COPY engagement_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
            # Rows are consistent by construction: skip the three per-row foreign-key triggers
            # during the load (a superuser setting; without it the load takes twice as long).
            replica = conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
            if replica:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            if replica:
                conn.execute(text("SET LOCAL session_replication_role = DEFAULT"))
        else:
            # The DB-API directly, timestamps written the way SQLAlchemy stores them in SQLite
            # (UTC, no offset): five times faster than executemany through Core.
            raw_cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            raw_cursor.executemany(
                SQLITE_EVENT_INSERT,
                ((*r[:-1], r[-1].strftime("%Y-%m-%d %H:%M:%S.%f")) for r in rows),
            )
            raw_cursor.close()
        timings["events"] = time.perf_counter() - begin
        if conn.dialect.name == "postgresql":
            for name in ("course", "member", "enrolment", "qa_question", "engagement_event"):
                # Table names from the list just above, never from input.
                sql = "SELECT setval(pg_get_serial_sequence('%s', 'id'), max(id)) FROM %s"
                conn.execute(text(sql % (name, name)))
    # Events inserted in bulk bypass engagement.record(), which keeps each enrolment's last
    # activity and first recognition: fill them once, as the migration does for old events.
    begin = time.perf_counter()
    with Session(engine) as session:
        backfill_enrolment_activity(session)
        session.commit()
    timings["enrolment activity"] = time.perf_counter() - begin
    begin = time.perf_counter()
    # Planner statistics, as a database in service has them.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    timings["analyze"] = time.perf_counter() - begin
    engine.dispose()
    return Seeded(
        platform_id=platform_id,
        course_ids=course_id,
        course_sizes=sizes,
        manager_id=manager_id,
        manager_enrolments=[first_manager_enrolment + c for c in range(size.courses)],
        never_launched=sum(1 for s in students if s.first_launch is None),
        events=len(events),
        questions=len(questions),
        timings=timings,
    )


# -- sessions, pages, query counts ------------------------------------------------------------

LARGE, SMALL = "L1", "S1"  # the launch ids: the largest and the smallest course


def session_cookie(secret_key: str, seeded: Seeded) -> str:
    """The signed session of the community manager, launched into the largest and the smallest
    course (two LMS tabs)."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    app = Flask("bench", root_path=str(ROOT))
    app.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None

    def launch(index: int) -> dict[str, Any]:
        return {
            "p": seeded.platform_id,
            "m": seeded.manager_id,
            "c": seeded.course_ids[index],
            "e": seeded.manager_enrolments[index],
            "pl": None,
            "r": 20,  # Mentor: the dashboard is open to them as a community manager only
            "w": "dashboard",
            "l": "en",
        }

    data = {"_permanent": True, "launches": {LARGE: launch(0), SMALL: launch(-1)}}
    return str(serializer.dumps(data))


def page_paths(lid: str) -> dict[str, str]:
    return {
        "course overview": f"/w/{lid}/dashboard/",
        "at-risk list": f"/w/{lid}/dashboard/at-risk",
        "academy overview": f"/w/{lid}/dashboard/academy",
    }


@dataclass
class PageStats:
    statements: int
    page_kb: float
    # With --profile: (seconds, rows, SQL) of each statement replayed alone, and cProfile text.
    replayed: list[tuple[float, int, str]] = field(default_factory=list)
    functions: str = ""


def inspect_pages(
    env: dict[str, str], cookie: str, lid: str, profile: bool
) -> dict[str, PageStats]:
    """Per page, in-process: SQL statements (counted with an event listener), the page size,
    and with ``profile`` each statement replayed alone and timed, and cProfile's top functions."""
    from sqlalchemy import event

    from lti_tool import create_app
    from lti_tool.extensions import db

    app = create_app({**{k: env[k] for k in TOOL_ENV if k in env}, "JOBS_IN_PROCESS": "0"})
    client = app.test_client()
    client.set_cookie("bottega_session", cookie)
    with app.app_context():
        engine = db.engine
    me = threading.get_ident()
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if threading.get_ident() == me:
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    found: dict[str, PageStats] = {}
    try:
        for name, path in page_paths(lid).items():
            client.get(path)  # warm: caches and the first connection
            sent.clear()
            response = client.get(path)
            if response.status_code != 200:
                raise BenchError(f"{path}: {response.status_code} {response.text[:300]}")
            stats = PageStats(len(sent), len(response.data) / 1024)
            statements = list(sent)
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                client.get(path)
                profiler.disable()
                out = io.StringIO()
                report = pstats.Stats(profiler, stream=out)
                report.sort_stats("cumulative").print_stats(r"lti_tool|sqlalchemy/engine|jinja", 25)
                report.sort_stats("tottime").print_stats(12)
                stats.functions = out.getvalue()
                stats.replayed = replay(engine, statements)
            found[name] = stats
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        with app.app_context():
            db.engine.dispose()
    return found


def replay(engine: Any, statements: list[tuple[str, Any]]) -> list[tuple[float, int, str]]:
    """Each statement run alone with its parameters, all rows fetched: (seconds, rows, SQL)."""
    timed = []
    raw = engine.raw_connection()
    try:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue  # writes (settling reach-outs) are not replayed
            cursor = raw.cursor()
            begin = time.perf_counter()
            cursor.execute(statement, parameters)
            rows = len(cursor.fetchall())
            timed.append((time.perf_counter() - begin, rows, " ".join(statement.split())))
            cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return timed


def rollup_cost(env: dict[str, str], seeded: Seeded) -> dict[str, tuple[float, int]]:
    """The tool's own rollup, ``engagement_week`` (finished weeks' figures, stored on first
    read, dropped for a week when an event is recorded into it late): (ms, rows) of a full build
    (every course, every finished week of the six months), of one week computed again after a
    late event (the largest course), and of the default 12-week chart read once built."""
    from sqlalchemy import delete, func, select

    from lti_tool import create_app
    from lti_tool.community.dashboard import metrics
    from lti_tool.community.engagement.models import WeekFigures
    from lti_tool.extensions import db, utcnow

    app = create_app({**{k: env[k] for k in TOOL_ENV if k in env}, "JOBS_IN_PROCESS": "0"})
    found: dict[str, tuple[float, int]] = {}
    with app.app_context():
        session = db.session
        today = utcnow().date()
        this_monday = metrics.monday(today)

        def rows() -> int:
            return int(session.scalar(select(func.count()).select_from(WeekFigures)) or 0)

        session.execute(delete(WeekFigures))
        session.commit()
        begin = time.perf_counter()
        for course_id in seeded.course_ids:
            metrics.weekly(session, course_id, today - timedelta(days=DAYS), today)
        found["full build: every course, every finished week"] = (
            (time.perf_counter() - begin) * 1000,
            rows(),
        )
        largest, last_week = seeded.course_ids[0], this_monday - timedelta(weeks=1)
        session.execute(
            delete(WeekFigures).where(
                WeekFigures.course_id == largest, WeekFigures.week_start == last_week
            )
        )
        session.commit()
        begin = time.perf_counter()
        weeks = metrics.weekly(session, largest, last_week, last_week + timedelta(days=6))
        found["one week again after a late event (largest course)"] = (
            (time.perf_counter() - begin) * 1000,
            len(weeks),
        )
        begin = time.perf_counter()
        weeks = metrics.weekly(session, largest, today - timedelta(weeks=12, days=-1), today)
        found["read: the 12-week chart (largest course)"] = (
            (time.perf_counter() - begin) * 1000,
            len(weeks),
        )
        session.remove()
        db.engine.dispose()
    return found


# -- the rollup prototype ---------------------------------------------------------------------


def rollup_prototype(database_url: str, course_id: int) -> dict[str, tuple[float, int]]:
    """Time pre-aggregated tables the dashboard could read instead of engagement_event, in
    scratch tables of the bench (the tool has none yet):

    - daily: (course, member, day) -> actions, recognitions; refreshed a day at a time by a job;
    - weekly: (course, week) -> active members, actions; built from daily;
    - member: (course, member) -> last activity, recognised; what two enrolment columns kept
      up to date by ``record()`` would hold.

    Each read is what a page would run instead of today's statements (``course_id``: the largest
    course), timed as the median of 5 runs."""
    from sqlalchemy import create_engine, text

    from lti_tool.community.dashboard.metrics import ACTIVITY_KINDS

    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    day = "(created_at AT TIME ZONE 'UTC')::date" if postgres else "date(created_at)"
    week = "date_trunc('week', day)::date" if postgres else "date(day, 'weekday 0', '-6 days')"
    # Every piece of SQL below is built from these constants only, never from input.
    parts = {"day": day, "week": week, "kinds": ", ".join(f"'{k}'" for k in ACTIVITY_KINDS)}

    def fill(template: str) -> str:
        return template % parts

    daily_sql = fill(
        "INSERT INTO bench_daily SELECT course_id, member_id, %(day)s, "
        "SUM(CASE WHEN kind IN (%(kinds)s) THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN kind IN (%(kinds)s) THEN 0 ELSE 1 END) "
        "FROM engagement_event WHERE created_at >= :low AND created_at < :high "
        "GROUP BY course_id, member_id, %(day)s"
    )
    weekly_sql = fill(
        "INSERT INTO bench_weekly SELECT course_id, %(week)s, "
        "COUNT(DISTINCT CASE WHEN actions > 0 THEN member_id END), SUM(actions) "
        "FROM bench_daily GROUP BY course_id, %(week)s"
    )
    member_sql = fill(
        "INSERT INTO bench_member SELECT course_id, member_id, "
        "MAX(CASE WHEN kind IN (%(kinds)s) THEN created_at END), "
        "MAX(CASE WHEN kind IN (%(kinds)s) THEN 0 ELSE 1 END) "
        "FROM engagement_event GROUP BY course_id, member_id"
    )
    tables = {
        "bench_daily": "course_id INTEGER NOT NULL, member_id INTEGER NOT NULL, day DATE NOT NULL, "
        "actions INTEGER NOT NULL, recognitions INTEGER NOT NULL, "
        "PRIMARY KEY (course_id, day, member_id)",
        "bench_weekly": "course_id INTEGER NOT NULL, week DATE NOT NULL, active INTEGER NOT NULL, "
        "actions INTEGER NOT NULL, PRIMARY KEY (course_id, week)",
        "bench_member": "course_id INTEGER NOT NULL, member_id INTEGER NOT NULL, "
        "last_active TIMESTAMP WITH TIME ZONE, recognised INTEGER NOT NULL, "
        "PRIMARY KEY (course_id, member_id)",
    }
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def moment(value: datetime) -> Any:
        # SQLite compares the text SQLAlchemy stored: UTC, no offset.
        return value if postgres else value.strftime("%Y-%m-%d %H:%M:%S.%f")

    def date_of(value: datetime) -> Any:
        return value.date() if postgres else value.date().isoformat()

    timings: dict[str, tuple[float, int]] = {}  # label -> (ms, rows written or read)

    def write(label: str, sql: str, params: dict[str, Any]) -> None:
        begin = time.perf_counter()
        with engine.begin() as conn:
            written = conn.execute(text(sql), params).rowcount
        timings[label] = ((time.perf_counter() - begin) * 1000, written)

    def read(label: str, sql: str, params: dict[str, Any]) -> None:
        with engine.connect() as conn:
            count = len(conn.execute(text(sql), params).all())  # warm
            runs = []
            for _ in range(5):
                begin = time.perf_counter()
                conn.execute(text(sql), params).all()
                runs.append(time.perf_counter() - begin)
        timings[label] = (statistics.median(runs) * 1000, count)

    with engine.begin() as conn:
        for name, columns in tables.items():
            conn.execute(text(f"CREATE TABLE {name} ({columns})"))
    try:
        everything = {"low": moment(today - timedelta(days=3650)), "high": moment(now)}
        write("build daily (course, member, day), all events", daily_sql, everything)
        yesterday = today - timedelta(days=1)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM bench_daily WHERE day = :d"), {"d": date_of(yesterday)})
        write(
            "refresh daily: one day",
            daily_sql,
            {"low": moment(yesterday), "high": moment(today)},
        )
        write("build weekly (course, week) from daily", weekly_sql, {})
        write("build member (course, member), all events", member_sql, {})
        read(
            "read: course weekly chart, 13 weeks",
            "SELECT week, active, actions FROM bench_weekly WHERE course_id = :c AND week >= :w",
            {"c": course_id, "w": date_of(today - timedelta(weeks=13))},
        )
        read(
            "read: at-risk this/last week counts",
            "SELECT member_id, SUM(CASE WHEN day >= :d7 THEN actions ELSE 0 END), "
            "SUM(CASE WHEN day < :d7 THEN actions ELSE 0 END) FROM bench_daily "
            "WHERE course_id = :c AND day >= :d14 GROUP BY member_id",
            {
                "c": course_id,
                "d7": date_of(today - timedelta(days=6)),
                "d14": date_of(today - timedelta(days=13)),
            },
        )
        read(
            "read: at-risk last activity, recognised",
            "SELECT member_id, last_active, recognised FROM bench_member WHERE course_id = :c",
            {"c": course_id},
        )
        read(
            "read: academy 7/30-day actives",
            "SELECT course_id, SUM(CASE WHEN last_active >= :w THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN last_active >= :m THEN 1 ELSE 0 END) FROM bench_member "
            "GROUP BY course_id",
            {"w": moment(now - timedelta(days=7)), "m": moment(now - timedelta(days=30))},
        )
    finally:
        with engine.begin() as conn:
            for name in tables:
                conn.execute(text(f"DROP TABLE {name}"))
        engine.dispose()
    return timings


# -- measuring --------------------------------------------------------------------------------


def page_jobs(base: str, path: str, cookie: str, count: int) -> list[Callable[[], float]]:
    """``count`` GETs of ``path``; each client thread keeps its connection."""
    local = threading.local()

    def one() -> float:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Cookie"] = f"bottega_session={cookie}"
        begin = time.perf_counter()
        response = session.get(base + path, timeout=TIMEOUT)
        elapsed = time.perf_counter() - begin
        if response.status_code != 200:
            raise ValueError(f"{path}: {response.status_code} {response.text[:200]!r}")
        return elapsed

    return [one] * count


@dataclass
class DbResult:
    db: str
    seeded: Seeded
    seed_s: float
    phases: dict[str, Phase]
    large: dict[str, PageStats]
    small: dict[str, PageStats]
    rollup: dict[str, tuple[float, int]]
    cost: dict[str, tuple[float, int]]  # engagement_week's build and refresh (rollup_cost)
    # With --compare REF: the same phases served by that checkout, measured just before.
    compared: dict[str, Phase] = field(default_factory=dict)


def run_db(db: str, options: argparse.Namespace, stack: contextlib.ExitStack) -> DbResult:
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bottega-dash-{db}-")))
    if db == "postgres":
        database_url = stack.enter_context(postgres_database(options.pg_url))
    else:
        database_url = f"sqlite:///{tmp / 'instance' / 'bottega.sqlite3'}"
    port = free_port()
    tool_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "BOTTEGA_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PUBLIC_URL": tool_url,
            "KEYS_DIR": str(tmp / "keys"),
            "INSTANCE_PATH": str(tmp / "instance"),
            "DATABASE_URL": database_url,
            "JOBS_IN_PROCESS": "0",  # as in production (Redis): no job thread in web workers
        }
    )
    run_flask(env, ROOT, "db", "upgrade")
    size: Size = options.size
    print(
        f"[{db}] seeding {size.courses} courses, {size.students} students, "
        f"{size.events} events, {size.questions} questions ...",
        flush=True,
    )
    begin = time.perf_counter()
    seeded = seed(database_url, size)
    seed_s = time.perf_counter() - begin
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in seeded.timings.items())
    print(f"[{db}] seeded in {seed_s:.1f} s ({parts}); inspecting pages ...", flush=True)
    cookie = session_cookie(env["SECRET_KEY"], seeded)
    large = inspect_pages(env, cookie, LARGE, options.profile)
    small = inspect_pages(env, cookie, SMALL, False)
    workers = ["-w", str(options.workers), "-k", "gthread", "--threads", str(options.threads)]

    def serve(name: str, root: Path) -> tuple[str, Server]:
        port = free_port()
        server = start_server(
            name,
            [str(BIN / "gunicorn"), *workers, "-t", "300", "-b", f"127.0.0.1:{port}", "wsgi:app"],
            {**env, "PYTHONPATH": str(root)},
            tmp / f"{name.split()[0]}.log",
            root,
        )
        stack.callback(server.stop)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(server, url + "/healthz")
        return url, server

    servers = {"": serve("tool (gunicorn)", ROOT)}
    if options.compare:
        servers["compared"] = serve(f"{options.compare.ref} (gunicorn)", options.compare.root)

    def phase(server: str, path: str, count: int) -> Phase:
        url, tool = servers[server]
        pid = tool.proc.pid
        done = measured(page_jobs(url, path, cookie, count), options.concurrency, pid, pid)
        if done.ok == 0:
            raise BenchError(f"{path}: every request failed: {done.errors}\n{tool.log_tail()}")
        return done

    paths = {"bare endpoint (/healthz)": "/healthz", **page_paths(LARGE)}
    phases: dict[str, Phase] = {}
    compared: dict[str, Phase] = {}
    for name, path in paths.items():
        # The other checkout first, then this one, page by page: both see the same load.
        for server, into in (("compared", compared), ("", phases)):
            if server not in servers:
                continue
            # Warm-up: every worker thread loads templates and opens its connection.
            phase(server, path, options.workers * options.threads)
            # As many requests as fit in the time budget (between 20 and -n): slow pages get
            # fewer.
            probe = statistics.median(phase(server, path, 3).latencies_s)
            count = int(options.seconds * options.concurrency / max(probe, 1e-3))
            count = max(20, min(options.requests * (4 if path == "/healthz" else 1), count))
            label = f" ({options.compare.ref})" if server else ""
            print(f"[{db}] measuring {name}{label}: {count} requests ...", flush=True)
            into[name] = phase(server, path, count)
    for _, tool in servers.values():
        tool.stop()
    print(f"[{db}] timing engagement_week's build and refresh ...", flush=True)
    cost = rollup_cost(env, seeded)
    rollup = {}
    if options.rollup:
        print(f"[{db}] timing the rollup prototype ...", flush=True)
        rollup = rollup_prototype(database_url, seeded.course_ids[0])
    return DbResult(db, seeded, seed_s, phases, large, small, rollup, cost, compared)


# -- output -----------------------------------------------------------------------------------


def other_load(p: Phase) -> float:
    """CPUs used by other programs during the phase. measured() was given the tool's pid as the
    "platform" too (there is no LMS here), so it subtracted the tool's CPU twice: add it back."""
    return (p.others_cpu_s + p.platform_cpu_s) / p.wall_s if p.wall_s else 0.0


def rows(result: DbResult, ref: str = "") -> list[dict[str, Any]]:
    """This checkout's phases, then with --compare the other checkout's (named ``ref``)."""
    table = []
    bare = "bare endpoint (/healthz)"
    for phases, label in ((result.phases, ""), (result.compared, f" [{ref}]")):
        base_rate = phases.get(bare, result.phases[bare]).per_second()
        for name, p in phases.items():
            # SQL counts and page sizes are this checkout's (inspected in-process).
            large = None if label else result.large.get(name)
            small = None if label else result.small.get(name)
            table.append(
                {
                    "db": result.db,
                    "page": name + label,
                    "ok": f"{p.ok}/{p.requests}",
                    "req/s": f"{p.per_second():.1f}",
                    "vs bare": f"{p.per_second() / base_rate:.1%}" if base_rate else "-",
                    "p50 ms": f"{p.percentile_ms(50):.0f}",
                    "p95 ms": f"{p.percentile_ms(95):.0f}",
                    "tool CPU ms/req": f"{p.cpu_ms(p.tool_cpu_s):.1f}",
                    "SQL (largest course)": str(large.statements) if large else "-",
                    "SQL (smallest)": str(small.statements) if small else "-",
                    "page KB": f"{large.page_kb:.0f}" if large else "-",
                    "other load": f"{other_load(p):.2f} CPUs",
                }
            )
    return table


def comparison_rows(result: DbResult, ref: str) -> list[dict[str, Any]]:
    """Per page: the other checkout against this one, measured one after the other."""
    table = []
    for name, p in result.phases.items():
        other = result.compared.get(name)
        if other is None:
            continue
        cpu, other_cpu = p.cpu_ms(p.tool_cpu_s), other.cpu_ms(other.tool_cpu_s)
        table.append(
            {
                "db": result.db,
                "page": name,
                f"CPU ms/req {ref}": f"{other_cpu:.1f}",
                "CPU ms/req this": f"{cpu:.1f}",
                "CPU ratio": f"{cpu / other_cpu:.2f}" if other_cpu else "-",
                f"p95 ms {ref}": f"{other.percentile_ms(95):.0f}",
                "p95 ms this": f"{p.percentile_ms(95):.0f}",
            }
        )
    return table


def verdicts(result: DbResult) -> list[str]:
    lines = []
    for name, target in TARGETS_P95_MS.items():
        p95 = result.phases[name].percentile_ms(95)
        verdict = "within" if p95 <= target else "ABOVE"
        lines.append(f"{result.db}: {name} p95 {p95:.0f} ms: {verdict} the {target:.0f} ms target")
    for name, p in result.phases.items():
        if p.failed:
            lines.append(f"{result.db}: {p.failed} {name} requests failed, e.g. {p.errors[0]}")
        if p.workers_changed:
            lines.append(f"{result.db}: a gunicorn worker was replaced during {name}")
    for step, (ms, count) in result.cost.items():
        lines.append(
            f"{result.db}: rollup cost (engagement_week): {step}: {ms:,.0f} ms, {count:,} rows"
        )
    return lines


def rollup_rows(results: list[DbResult]) -> list[dict[str, Any]]:
    return [
        {"db": r.db, "rollup prototype step": step, "ms": f"{ms:,.1f}", "rows": f"{rows:,}"}
        for r in results
        for step, (ms, rows) in r.rollup.items()
    ]


def profile_report(result: DbResult, top: int) -> str:
    out = [f"## {result.db}: statements replayed alone (largest course), slowest first"]
    for name, stats in result.large.items():
        total = sum(t for t, _, _ in stats.replayed)
        out.append(f"\n### {name}: {len(stats.replayed)} SELECTs, {total * 1000:.0f} ms in all")
        for seconds, count, sql in sorted(stats.replayed, reverse=True)[:top]:
            out.append(f"- {seconds * 1000:8.1f} ms {count:7d} rows  {sql[:300]}")
    for name, stats in result.large.items():
        out.append(f"\n## {result.db}: cProfile of {name} (one request, in-process)\n")
        out.append(stats.functions)
    return "\n".join(out)


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dashboard", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="a tenth of the data and of the requests")
    add("--courses", type=int, default=50, help="courses in the academy (50)")
    add("--students", type=int, help="students (20000; --quick 2000)")
    add("--events", type=int, help="participation events (1000000; --quick 100000)")
    add("--questions", type=int, help="questions (50000; --quick 5000)")
    add("-n", "--requests", type=int, help="most measured requests per page (300; --quick 60)")
    add("--seconds", type=float, help="time budget per page, sizes slow phases (30; --quick 10)")
    add("-c", "--concurrency", type=int, default=4, help="concurrent clients (4)")
    add("--workers", type=int, default=2, help="gunicorn workers (2)")
    add("--threads", type=int, default=4, help="threads per gunicorn worker (4)")
    add("--db", choices=("sqlite", "postgres", "both"), default="both", help="(both)")
    add("--pg-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG_URL))
    add("--profile", action="store_true", help="replay and time each SQL statement; cProfile")
    add("--rollup", action="store_true", help="time a prototype daily rollup table")
    add("--top", type=int, default=6, help="statements listed per page with --profile (6)")
    add(
        "--compare",
        metavar="REF",
        help="also serve the git REF (e.g. main), or the checkout in directory REF, on the same "
        "data, measured page by page just before this checkout (same migrations needed)",
    )
    options = parser.parse_args(argv)
    tenth = 10 if options.quick else 1
    options.size = Size(
        courses=options.courses,
        students=options.students or 20_000 // tenth,
        events=options.events or 1_000_000 // tenth,
        questions=options.questions or 50_000 // tenth,
    )
    if options.size.students < 2 * options.courses or options.size.courses < 1:
        parser.error("need at least one course and two students per course")
    if options.size.events <= options.size.questions:
        parser.error("need more events than questions (each question is an 'ask' event)")
    options.requests = options.requests or (60 if options.quick else 300)
    options.seconds = options.seconds or (10.0 if options.quick else 30.0)
    dbs = ["sqlite", "postgres"] if options.db == "both" else [options.db]
    if "postgres" in dbs:
        problem = postgres_problem(options.pg_url)
        if problem:
            print(f"skipping PostgreSQL: {problem}", file=sys.stderr)
            dbs.remove("postgres")
    return options, dbs


@dataclass(frozen=True)
class Checkout:
    ref: str  # as given, with the commit it named
    root: Path


def export_checkout(ref: str, stack: contextlib.ExitStack) -> Checkout:
    """The tree of git ``ref`` in a temporary directory (``git archive``: the repository is
    left alone), with this checkout's compiled translations (not in git); or ``ref`` itself
    when it is the directory of a checkout."""
    if (Path(ref) / "wsgi.py").is_file():
        return Checkout(Path(ref).resolve().name, Path(ref).resolve())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", f"{ref}^{{commit}}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except subprocess.CalledProcessError as exc:
        raise BenchError(f"--compare {ref}: {exc.stderr.strip()}") from exc
    root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bottega-compare-")))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    for compiled in (ROOT / "lti_tool" / "translations").glob("*/LC_MESSAGES/*.mo"):
        target = root / compiled.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(compiled, target)
    print(f"comparing with {ref} ({commit}), exported to {root}", flush=True)
    return Checkout(f"{ref} {commit}", root)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: servers stopped, database dropped


def main(argv: Sequence[str] | None = None) -> int:
    options, dbs = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    results: list[DbResult] = []
    try:
        with contextlib.ExitStack() as checkout:
            options.compare = options.compare and export_checkout(options.compare, checkout)
            for db in dbs:
                with contextlib.ExitStack() as stack:
                    results.append(run_db(db, options, stack))
    except BenchError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: servers stopped, databases removed", file=sys.stderr)
        return 130
    if not results:
        return 0
    size: Size = options.size
    print()
    if options.profile:
        for result in results:
            print(profile_report(result, options.top))
            print()
    first = results[0].seeded
    print(
        f"{size.courses} courses (largest {first.course_sizes[0]} students, smallest "
        f"{first.course_sizes[-1]}), {size.students} students ({first.never_launched} never "
        f"launched), {first.events} events, {first.questions} questions; "
        f"{options.concurrency} concurrent clients, gunicorn -w {options.workers} -k gthread "
        f"--threads {options.threads}, {os.cpu_count()} CPUs"
    )
    for result in results:
        print(f"{result.db}: seeded in {result.seed_s:.1f} s")
    ref = options.compare.ref if options.compare else ""
    print(markdown_table([row for r in results for row in rows(r, ref)]))
    for result in results:
        for line in verdicts(result):
            print(line)
    if options.compare:
        print()
        print(f"This checkout against {ref}, the same data and load, page by page:")
        print(markdown_table([row for r in results for row in comparison_rows(r, ref)]))
    if options.rollup:
        print()
        print(markdown_table(rollup_rows(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
