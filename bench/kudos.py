"""Kudos benchmark: the kudos wall of a course with 50,000 kudos, under gunicorn.

Run from the repository root: .venv/bin/python -m bench.kudos [--quick] [--db sqlite|postgres|both]

For each database it seeds one course with 50,000 kudos (bulk inserts, 10% of them linked to a
question) and a small course with 30, starts the tool under gunicorn and measures, with several
concurrent clients, a bare endpoint (/healthz) and three wall pages: the newest kudos, one
category, and a page deep in the middle (keyset cursor). It prints requests/s, p50/p95 latency,
the tool's CPU time per request (from /proc, as bench/qa.py) and the SQL statements each page
runs in the large course and in the small one (they must be equal).

Targets (issue 6): a constant number of queries and <= 5 ms of server CPU per wall page.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.launch import BenchError, markdown_table, postgres_problem
from bench.qa import (
    DEFAULT_PG_URL,
    DbResult,
    Seeded,
    medians,
    prepare,
    query_counts,
    sentence,
    serve_and_measure,
)

TARGET_CPU_MS = 5.0
CATEGORIES = ("helpful_answer", "great_question", "team_player", "leadership", "creativity")


@dataclass(frozen=True)
class KudosCourse:
    """What the pages need: who browses, a category to filter by, a cursor half-way down."""

    seeded: Seeded
    category_id: int
    middle_cursor: str


def seed(
    database_url: str,
    *,
    kudos: int,
    course_lms_id: str,
    platform_id: int | None = None,
    seed_value: int = 6,
) -> KudosCourse:
    """Bulk-insert one course with ``kudos`` kudos among its members."""
    from sqlalchemy import create_engine, func, insert, select, text

    from lti_tool.community.kudos.models import Kudos, KudosCategory
    from lti_tool.community.kudos.services import encode_cursor
    from lti_tool.community.qa.models import Question
    from lti_tool.courses.models import Course, Deployment, Enrolment, Member, Platform

    rng = random.Random(seed_value)
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:

        def new_id(table: Any, row: dict[str, Any]) -> int:
            return int(conn.execute(insert(table).returning(table.c.id), row).scalar_one())

        if platform_id is None:
            platform_id = new_id(
                Platform.__table__,
                {
                    "issuer": "https://bench.example.org",
                    "client_id": "bench-kudos",
                    "name": "Bench",
                    "auth_login_url": "https://bench.example.org/auth",
                    "auth_token_url": "https://bench.example.org/token",
                    "key_set_url": "https://bench.example.org/jwks",
                    "status": "active",
                    "created_at": now,
                },
            )
        deployment_id = conn.execute(
            select(Deployment.__table__.c.id).where(
                Deployment.__table__.c.platform_id == platform_id
            )
        ).scalar() or new_id(
            Deployment.__table__,
            {"platform_id": platform_id, "deployment_id": "1", "active": True, "created_at": now},
        )
        course_id = new_id(
            Course.__table__,
            {
                "platform_id": platform_id,
                "deployment_id": deployment_id,
                "lms_id": course_lms_id,
                "title": f"Bench {course_lms_id}",
                "label": "",
                "services": {},
                "created_at": now,
            },
        )
        people = max(10, min(300, kudos // 100))
        members, enrolments = [], []
        for i in range(people):
            member_id = new_id(
                Member.__table__,
                {
                    "platform_id": platform_id,
                    "lms_id": f"{course_lms_id}-m{i}",
                    "name": f"Student {i}",
                    "created_at": now,
                },
            )
            members.append(member_id)
            enrolments.append(
                new_id(
                    Enrolment.__table__,
                    {
                        "course_id": course_id,
                        "member_id": member_id,
                        "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                        "status": "active",
                        "community_manager": False,
                        "peer_mentor": i % 25 == 1,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            )
        categories = [
            new_id(
                KudosCategory.__table__,
                {
                    "course_id": course_id,
                    "code": code,
                    "name": "",
                    "position": n,
                    "retired": False,
                    "created_at": now,
                },
            )
            for n, code in enumerate(CATEGORIES)
        ]
        questions = [
            new_id(
                Question.__table__,
                {
                    "course_id": course_id,
                    "author_id": rng.choice(members),
                    "anonymous": False,
                    "title": sentence(rng, 8)[:200] + "?",
                    "body": "",
                    "body_html": "",
                    "state": "unanswered",
                    "endorsed": False,
                    "answer_count": 0,
                    "helpful_count": 0,
                    "created_at": now,
                    "updated_at": now,
                    "last_activity_at": now,
                    "search_title": "",
                    "search_body": "",
                },
            )
            for _ in range(max(5, kudos // 500))
        ]
        table = Kudos.__table__
        first = (conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1
        rows = []
        for n in range(kudos):
            giver, receiver = rng.sample(members, 2)
            linked = rng.random() < 0.1
            rows.append(
                {
                    "id": first + n,
                    "course_id": course_id,
                    "giver_id": giver,
                    "receiver_id": receiver,
                    "category_id": rng.choice(categories),
                    "message": sentence(rng, rng.randint(6, 30))[:280],
                    "subject_type": "qa_question" if linked else None,
                    "subject_id": (question := rng.choice(questions)) if linked else None,
                    "question_id": question if linked else None,
                    # Oldest first, a few minutes apart; some share a timestamp.
                    "created_at": now - timedelta(minutes=3 * (kudos - n // 2 * 2)),
                }
            )
        for start in range(0, len(rows), 5000):
            conn.execute(insert(table), rows[start : start + 5000])
        if conn.dialect.name == "postgresql":  # ids were given: move the sequence past them
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('kudos_award', 'id'), max(id)) "
                    "FROM kudos_award"
                )
            )
        middle = rows[len(rows) // 2]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    seeded = Seeded(platform_id, course_id, members[0], enrolments[0], big_question_id=0)
    return KudosCourse(seeded, categories[0], encode_cursor(middle["created_at"], middle["id"]))


def page_paths(course: KudosCourse, lid: str) -> dict[str, list[str]]:
    return {
        "wall (newest)": [f"/w/{lid}/kudos/"],
        "wall (one category)": [f"/w/{lid}/kudos/?category={course.category_id}"],
        "wall (deep page)": [f"/w/{lid}/kudos/?after={course.middle_cursor}"],
    }


def run_db(db: str, options: argparse.Namespace, stack: contextlib.ExitStack) -> DbResult:
    prepared = prepare(db, options, stack, "kudos")
    print(f"[{db}] seeding {options.kudos} kudos ...", flush=True)
    begin = time.perf_counter()
    big = seed(prepared.database_url, kudos=options.kudos, course_lms_id="big")
    small = seed(
        prepared.database_url, kudos=30, course_lms_id="small", platform_id=big.seeded.platform_id
    )
    seed_s = time.perf_counter() - begin
    print(f"[{db}] seeded in {seed_s:.1f} s; counting queries ...", flush=True)
    queries_big = query_counts(prepared.env, big.seeded, "B1", page_paths(big, "B1"))
    queries_small = query_counts(prepared.env, small.seeded, "S1", page_paths(small, "S1"))
    rounds = serve_and_measure(db, prepared, options, stack, big.seeded, page_paths(big, "B1"))
    phases = medians(rounds)
    return DbResult(db, seed_s, phases, queries_big, queries_small)


def rows(result: DbResult) -> list[dict[str, Any]]:
    base_rate = result.phases["bare endpoint (/healthz)"].per_second()
    table = []
    for name, p in result.phases.items():
        table.append(
            {
                "db": result.db,
                "page": name,
                "ok": f"{p.ok}/{p.requests}",
                "req/s": f"{p.per_second():.0f}",
                "vs bare": f"{p.per_second() / base_rate:.0%}" if base_rate else "-",
                "p50 ms": f"{p.percentile_ms(50):.1f}",
                "p95 ms": f"{p.percentile_ms(95):.1f}",
                "tool CPU ms/req": f"{p.cpu_ms(p.tool_cpu_s):.2f}",
                "SQL (50k course)": str(result.queries_big.get(name, "-")),
                "SQL (small course)": str(result.queries_small.get(name, "-")),
            }
        )
    return table


def verdicts(result: DbResult) -> list[str]:
    bare = result.phases["bare endpoint (/healthz)"]
    bare_cpu = bare.cpu_ms(bare.tool_cpu_s)
    lines = []
    for name, p in result.phases.items():
        if name.startswith("bare"):
            continue
        cpu = p.cpu_ms(p.tool_cpu_s)
        lines.append(
            f"{result.db}: {name}: {cpu:.2f} ms CPU ({cpu - bare_cpu:+.2f} ms over /healthz): "
            f"{'within' if cpu <= TARGET_CPU_MS else 'ABOVE'} the {TARGET_CPU_MS:.0f} ms target"
        )
    same = result.queries_big == result.queries_small
    lines.append(
        f"{result.db}: SQL queries per page {'constant' if same else 'NOT constant'} "
        f"across course sizes: {result.queries_big}"
    )
    for name, p in result.phases.items():
        if p.failed:
            lines.append(f"{result.db}: {p.failed} {name} requests failed, e.g. {p.errors[0]}")
        if p.workers_changed:
            lines.append(f"{result.db}: a gunicorn worker was replaced during {name}")
    return lines


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kudos", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="5,000 kudos, 300 requests per page")
    add("--kudos", type=int, default=None, help="kudos in the large course (50000)")
    add("-n", "--requests", type=int, default=None, help="measured requests per page (1000)")
    add("-c", "--concurrency", type=int, default=8, help="concurrent clients (8)")
    add("--workers", type=int, default=2, help="gunicorn workers (2)")
    add("--threads", type=int, default=4, help="threads per gunicorn worker (4)")
    add("--db", choices=("sqlite", "postgres", "both"), default="both", help="(both)")
    add("--pg-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG_URL))
    options = parser.parse_args(argv)
    options.kudos = options.kudos or (5_000 if options.quick else 50_000)
    options.requests = options.requests or (300 if options.quick else 1_000)
    if options.kudos < 100:
        parser.error("need at least 100 kudos")
    dbs = ["sqlite", "postgres"] if options.db == "both" else [options.db]
    if "postgres" in dbs:
        problem = postgres_problem(options.pg_url)
        if problem:
            print(f"skipping PostgreSQL: {problem}", file=sys.stderr)
            dbs.remove("postgres")
    return options, dbs


def main(argv: Sequence[str] | None = None) -> int:
    options, dbs = parse(argv)
    results = []
    for db in dbs:
        try:
            with contextlib.ExitStack() as stack:
                results.append(run_db(db, options, stack))
        except BenchError as exc:
            print(f"[{db}] failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    if not results:
        return 0
    print()
    print(
        f"{options.kudos} kudos in the large course, {options.requests} requests per page, "
        f"{options.concurrency} concurrent clients, gunicorn -w {options.workers} -k gthread "
        f"--threads {options.threads}, {os.cpu_count()} CPUs"
    )
    print(markdown_table([row for r in results for row in rows(r)]))
    for result in results:
        for line in verdicts(result):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
