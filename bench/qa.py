"""Q&A benchmark: list, question and search pages of a large course, under gunicorn.

Run from the repository root: .venv/bin/python -m bench.qa [--quick] [--db sqlite|postgres|both]

For each database it seeds one course with 20,000 questions and 100,000 answers and comments
(bulk inserts; one question has exactly 50 answers) plus a small course, starts the tool under
gunicorn, and measures with several concurrent clients: a bare endpoint (/healthz), the question
list, the question with 50 answers, and search. It prints requests/s, p50/p95 latency, the
tool's CPU time per request (from /proc: stable where throughput is noisy) and the number of SQL
queries each page runs, in the large course and in the small one (they must be equal: no N+1).
Each page is measured ``--rounds`` times (3), the rounds in turn (/healthz, list, question, ...,
then again), and the table shows each page's median round, with every round's p95 beside it: on
this shared machine a neighbour's burst of CPU spoils a round now and then, and a single round's
p95 moved by 20 ms from one run to the next with the same code.

Targets (issue 5): list and question pages <= 5 ms of server CPU and >= 20% of the bare
endpoint's throughput; search p95 <= 50 ms; a constant number of queries per page.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
TIMEOUT = 15.0
TARGET_CPU_MS = 5.0
TARGET_SHARE = 0.20
TARGET_SEARCH_P95_MS = 50.0
# What students type: a course word or two and something specific. The "common words" phase
# searches only the course's most frequent words (each in most questions): the worst case.
COMMON_SEARCHES = [
    "derivata funzione",
    "perche limite",
    "running simulation",
    "esercizi matrici",
    "integrale definito",
    "domande esame",
    "python error",
    "teorema",
]
_IT = (
    "derivata funzione limite integrale definito matrice vettore esercizio esame domanda "
    "risposta teorema dimostrazione serie convergenza equazione differenziale soluzione "
    "calcolare spiegare perché come quando lezione appunti capitolo pagina professore "
    "studente progetto consegna scadenza voto laboratorio codice errore compilare"
)
WORDS_IT = _IT.split()
_EN = (
    "derivative function limit integral matrix vector exercise exam question answer theorem "
    "proof series convergence equation solution compute explain why how lecture notes "
    "chapter page project deadline grade lab code error running simulation python test"
)
WORDS_EN = _EN.split()


# -- seeding ----------------------------------------------------------------------------------


def _vocabulary(language: list[str], rng: random.Random) -> tuple[list[str], list[float]]:
    """Course words first, then 3,000 made-up ones, weighted like real text (Zipf): a search
    word matches a share of the questions close to real courses, not all of them."""
    syllables = ["ba", "ce", "di", "fo", "gu", "la", "me", "ni", "po", "ru", "sa", "te", "vi"]
    made_up = {
        "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3500)
    }
    words = language + sorted(made_up)[:3000]
    return words, [1.0 / (rank + 1) for rank in range(len(words))]


_VOCABULARY: dict[str, tuple[list[str], list[float]]] = {}


def sentence(rng: random.Random, n: int) -> str:
    """Random words of an Italian or English course."""
    language = "it" if rng.random() < 0.6 else "en"
    if language not in _VOCABULARY:
        words = WORDS_IT if language == "it" else WORDS_EN
        _VOCABULARY[language] = _vocabulary(list(words), random.Random(language))
    words, weights = _VOCABULARY[language]
    return " ".join(rng.choices(words, weights, k=n)).capitalize()


@dataclass(frozen=True)
class Seeded:
    """What the pages need: a member to browse as, and the question with 50 answers."""

    platform_id: int
    course_id: int
    member_id: int
    enrolment_id: int
    big_question_id: int
    unanswered_question_id: int = 0  # the newest question nobody answered (0: none seeded)


def seed(
    database_url: str,
    *,
    questions: int,
    posts: int,
    course_lms_id: str,
    platform_id: int | None = None,
    seed_value: int = 5,
) -> Seeded:
    """Bulk-insert one course of ``questions`` questions and ``posts`` answers + comments."""
    from sqlalchemy import create_engine, func, insert, select, text

    from lti_tool.community.content import render_markdown
    from lti_tool.community.moderation.models import ConductAcceptance
    from lti_tool.community.qa.models import (
        Answer,
        Comment,
        Follower,
        Question,
        QuestionTag,
        Tag,
    )
    from lti_tool.community.qa.search import index_text
    from lti_tool.courses.models import Course, Deployment, Enrolment, Member, Platform

    rng = random.Random(seed_value)
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if platform_id is None:
            platform_id = conn.execute(
                insert(Platform.__table__).returning(Platform.__table__.c.id),
                {
                    "issuer": "https://bench.example.org",
                    "client_id": "bench-qa",
                    "name": "Bench",
                    "auth_login_url": "https://bench.example.org/auth",
                    "auth_token_url": "https://bench.example.org/token",
                    "key_set_url": "https://bench.example.org/jwks",
                    "status": "active",
                    "created_at": now,
                },
            ).scalar_one()
        deployment_id = conn.execute(
            select(Deployment.__table__.c.id).where(
                Deployment.__table__.c.platform_id == platform_id
            )
        ).scalar()
        if deployment_id is None:
            deployment_id = conn.execute(
                insert(Deployment.__table__).returning(Deployment.__table__.c.id),
                {
                    "platform_id": platform_id,
                    "deployment_id": "1",
                    "active": True,
                    "created_at": now,
                },
            ).scalar_one()
        course_id = conn.execute(
            insert(Course.__table__).returning(Course.__table__.c.id),
            {
                "platform_id": platform_id,
                "deployment_id": deployment_id,
                "lms_id": course_lms_id,
                "title": f"Bench {course_lms_id}",
                "label": "",
                "services": {},
                "created_at": now,
            },
        ).scalar_one()
        people = max(20, min(400, questions // 50))
        member_ids = []
        enrolment_ids = []
        for i in range(people):
            member_id = conn.execute(
                insert(Member.__table__).returning(Member.__table__.c.id),
                {
                    "platform_id": platform_id,
                    "lms_id": f"{course_lms_id}-m{i}",
                    "name": f"Student {i}",
                    "created_at": now,
                },
            ).scalar_one()
            member_ids.append(member_id)
            enrolment_ids.append(
                conn.execute(
                    insert(Enrolment.__table__).returning(Enrolment.__table__.c.id),
                    {
                        "course_id": course_id,
                        "member_id": member_id,
                        "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                        "status": "active",
                        "community_manager": False,
                        "created_at": now,
                        "updated_at": now,
                    },
                ).scalar_one()
            )
        # The benchmark's member accepted the code of conduct on their first launch (else the
        # list page would be the code-of-conduct page).
        conn.execute(
            insert(ConductAcceptance.__table__),
            {"course_id": course_id, "member_id": member_ids[0], "version": 1, "accepted_at": now},
        )
        tag_ids = [
            conn.execute(
                insert(Tag.__table__).returning(Tag.__table__.c.id),
                {"course_id": course_id, "name": name, "label": "", "created_at": now},
            ).scalar_one()
            for name in ("limiti", "derivate", "integrali", "matrici", "esame", "python")
        ]
        q_table, a_table, c_table = Question.__table__, Answer.__table__, Comment.__table__
        first_q = (conn.execute(select(func.max(q_table.c.id))).scalar() or 0) + 1
        first_a = (conn.execute(select(func.max(a_table.c.id))).scalar() or 0) + 1
        first_c = (conn.execute(select(func.max(c_table.c.id))).scalar() or 0) + 1
        # Answers: 60% of posts; the first (newest) question gets exactly 50 of them.
        answer_total = int(posts * 0.6)
        comment_total = posts - answer_total
        answered = [i for i in range(questions) if i == 0 or rng.random() < 0.7]
        per_question: dict[int, list[dict[str, Any]]] = {i: [] for i in range(questions)}
        answers: list[dict[str, Any]] = []
        q_created = [now - timedelta(minutes=5 + (questions - i) * 13) for i in range(questions)]
        big = questions - 1  # the newest question is the one with 50 answers
        for n in range(answer_total):
            i = big if n < 50 else rng.choice(answered)
            if i == big and n >= 50:
                i = answered[0] if answered[0] != big else answered[1]
            row = {
                "id": first_a + n,
                "course_id": course_id,
                "question_id": first_q + i,
                "author_id": rng.choice(member_ids),
                "anonymous": False,
                "body": (body := sentence(rng, rng.randint(12, 40))),
                "body_html": str(render_markdown(body)),
                "is_staff_answer": rng.random() < 0.1,
                "endorsed": rng.random() < 0.05,
                "helpful_count": rng.randint(0, 6),
                "created_at": q_created[i] + timedelta(minutes=rng.randint(1, 600)),
                "updated_at": q_created[i] + timedelta(minutes=rng.randint(1, 600)),
            }
            answers.append(row)
            per_question[i].append(row)
        question_rows = []
        for i in range(questions):
            title = sentence(rng, rng.randint(5, 11)) + "?"
            body = sentence(rng, rng.randint(15, 60))
            mine = per_question[i]
            question_rows.append(
                {
                    "id": first_q + i,
                    "course_id": course_id,
                    "author_id": rng.choice(member_ids),
                    "anonymous": rng.random() < 0.1,
                    "title": title[:200],
                    "body": body,
                    "body_html": str(render_markdown(body)),
                    "state": "answered" if mine else "unanswered",
                    "endorsed": rng.random() < 0.03,
                    "answer_count": len(mine),
                    "helpful_count": rng.randint(0, 10),
                    "created_at": q_created[i],
                    "updated_at": q_created[i],
                    "last_activity_at": max([q_created[i], *(a["created_at"] for a in mine)]),
                    "first_answer_at": min((a["created_at"] for a in mine), default=None),
                    "search_title": index_text(course_id, title),
                    "search_body": index_text(course_id, body, *(a["body"] for a in mine)),
                }
            )
        comments = []
        for n in range(comment_total):
            i = big if n < 20 else rng.randrange(questions)
            on_answer = per_question[i] and rng.random() < 0.6
            comments.append(
                {
                    "id": first_c + n,
                    "course_id": course_id,
                    "question_id": first_q + i,
                    "answer_id": rng.choice(per_question[i])["id"] if on_answer else None,
                    "parent_comment_id": None,
                    "author_id": rng.choice(member_ids),
                    "anonymous": False,
                    "body": (note := sentence(rng, rng.randint(5, 20))),
                    "body_html": str(render_markdown(note)),
                    "created_at": q_created[i] + timedelta(minutes=rng.randint(1, 900)),
                }
            )
        for start in range(0, len(question_rows), 2000):
            conn.execute(insert(q_table), question_rows[start : start + 2000])
        for start in range(0, len(answers), 5000):
            conn.execute(insert(a_table), answers[start : start + 5000])
        for start in range(0, len(comments), 5000):
            conn.execute(insert(c_table), comments[start : start + 5000])
        conn.execute(
            insert(QuestionTag.__table__),
            [
                {"question_id": q["id"], "tag_id": tag}
                for q in question_rows
                for tag in rng.sample(tag_ids, rng.randint(0, 2))
            ],
        )
        conn.execute(
            insert(Follower.__table__),
            [
                {"question_id": q["id"], "member_id": q["author_id"], "created_at": now}
                for q in question_rows
            ],
        )
        if conn.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for table in ("qa_question", "qa_answer", "qa_comment"):
                # Table names from the list just above, never from input.
                sql = "SELECT setval(pg_get_serial_sequence('%s', 'id'), max(id)) FROM %s"
                conn.execute(text(sql % (table, table)))
    # Statistics for the planner and, on PostgreSQL, the visibility map, as a database in
    # service has them from autovacuum (which would take a while to notice the bulk load: the
    # first phases would run on blind plans and visit the heap for every index entry).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))
    engine.dispose()
    waiting = max((i for i in range(questions) if not per_question[i]), default=None)
    return Seeded(
        platform_id,
        course_id,
        member_ids[0],
        enrolment_ids[0],
        first_q + big,
        0 if waiting is None else first_q + waiting,
    )


# -- sessions and query counts ----------------------------------------------------------------


def session_cookie(secret_key: str, seeded: Seeded, lid: str) -> str:
    """The signed session cookie a browser holds after an LTI launch into the course."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from lti_tool.community.moderation.views import PASSED_KEY

    app = Flask("bench", root_path=str(ROOT))
    app.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    data = {
        "_permanent": True,
        # The launch passed the code of conduct (the member accepted it): a browser keeps the
        # cookie the first page answered with, so later pages do not check it again.
        PASSED_KEY: [lid],
        # Flask-WTF's secret for this browser's form tokens, set by the first page with a form:
        # without it every page would store a new one and send a new session cookie.
        "csrf_token": secrets.token_hex(20),
        "launches": {
            lid: {
                "p": seeded.platform_id,
                "m": seeded.member_id,
                "c": seeded.course_id,
                "e": seeded.enrolment_id,
                "pl": None,
                "r": 10,
                "w": "qa",
                "l": "en",
            }
        },
    }
    return str(serializer.dumps(data))


def specific_searches() -> list[str]:
    """Queries of a course word and a rarer word of the same made-up vocabulary."""
    queries = []
    for n, common in enumerate(COMMON_SEARCHES):
        language = "it" if n % 2 == 0 else "en"
        if language not in _VOCABULARY:
            base = WORDS_IT if language == "it" else WORDS_EN
            _VOCABULARY[language] = _vocabulary(list(base), random.Random(language))
        words = _VOCABULARY[language][0]
        queries.append(f"{common.split()[0]} {words[80 + 37 * n]}")
    return queries


def page_paths(seeded: Seeded, lid: str) -> dict[str, list[str]]:
    def search(queries: list[str]) -> list[str]:
        return [f"/w/{lid}/qa/?q={q.replace(' ', '+')}" for q in queries]

    return {
        "list": [f"/w/{lid}/qa/"],
        "question (50 answers)": [f"/w/{lid}/qa/{seeded.big_question_id}"],
        "search": search(specific_searches()),
        "search (common words)": search(COMMON_SEARCHES),
        # Shows the course's typical time to a first answer (a median of the last 30 days).
        "question (unanswered)": [f"/w/{lid}/qa/{seeded.unanswered_question_id}"],
    }


def query_counts(
    env: dict[str, str],
    seeded: Seeded,
    lid: str,
    paths: dict[str, list[str]] | None = None,
) -> dict[str, int]:
    """SQL statements per page (``paths``, default the Q&A pages), counted in-process with a
    SQLAlchemy event listener."""
    from sqlalchemy import event

    from lti_tool import create_app
    from lti_tool.extensions import db

    # No background job thread here: only this thread's statements are counted anyway.
    app = create_app({**{k: env[k] for k in TOOL_ENV if k in env}, "JOBS_IN_PROCESS": "0"})
    client = app.test_client()
    client.set_cookie("bottega_session", session_cookie(env["SECRET_KEY"], seeded, lid))
    counts: dict[str, int] = {}
    with app.app_context():
        engine = db.engine
    statements = [0]
    me = threading.get_ident()

    def count(*args: Any) -> None:
        # Only this thread's: background threads (the in-process job worker) query too.
        if threading.get_ident() == me:
            statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        for name, urls in (paths or page_paths(seeded, lid)).items():
            client.get(urls[0])  # warm: caches and first connection
            statements[0] = 0
            response = client.get(urls[0])
            if response.status_code != 200:
                raise BenchError(f"{urls[0]}: {response.status_code} {response.text[:300]}")
            counts[name] = statements[0]
    finally:
        event.remove(engine, "before_cursor_execute", count)
        with app.app_context():
            db.engine.dispose()
    return counts


# -- measuring --------------------------------------------------------------------------------


def page_jobs(
    base: str, paths: list[str], cookie: str, count: int, timeout: float = TIMEOUT
) -> list[Callable[[], float]]:
    """``count`` GETs cycling over ``paths``; each client thread keeps its connection.

    The clients run on the same two CPUs as the tool and PostgreSQL, so what they cost is taken
    from the server: ``requests`` spent 1.2 ms of CPU per GET (it builds a prepared request,
    merges settings and cookie jars, and wraps urllib3's response), a quarter of a list page's own
    CPU, while the GIL kept the 8 client threads waiting on one another. A bare ``http.client``
    connection per thread does the same keep-alive GET for about 0.3 ms; the table shows what the
    clients used ("client CPU ms/req").
    """
    local = threading.local()
    cycle = [paths[i % len(paths)] for i in range(count)]
    split = urlsplit(base)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    headers = {"Cookie": f"bottega_session={cookie}", "Accept-Encoding": "identity"}

    def get(path: str) -> tuple[int, bytes]:
        # A kept connection the server has closed meanwhile fails at once: that one is
        # retried on a new connection (as requests does); a new connection's failure is not.
        for retry in (True, False):
            connection = getattr(local, "connection", None)
            kept = connection is not None
            if connection is None:
                connection = http.client.HTTPConnection(host, port, timeout=timeout)
                local.connection = connection
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                local.connection = None
                closed = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
                if not (retry and kept and isinstance(exc, closed)):
                    raise ValueError(f"{path}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def job(path: str) -> Callable[[], float]:
        def one() -> float:
            begin = time.perf_counter()
            status, body = get(path)
            elapsed = time.perf_counter() - begin
            if status != 200:
                raise ValueError(f"{path}: {status} {body[:200]!r}")
            return elapsed

        return one

    return [job(p) for p in cycle]


@dataclass
class DbResult:
    db: str
    seed_s: float
    phases: dict[str, Phase]  # per page, its median round (by p95)
    queries_big: dict[str, int]
    queries_small: dict[str, int]
    rounds: dict[str, list[Phase]] = field(default_factory=dict)  # per page, every round


def medians(rounds: dict[str, list[Phase]]) -> dict[str, Phase]:
    """Each page's median round."""
    return {name: median_round(phases) for name, phases in rounds.items()}


def median_round(rounds: list[Phase]) -> Phase:
    """The round whose p95 is the median of the rounds' (the higher middle one of an even
    number): a neighbour's burst of CPU on this shared machine spoils one round, not the
    figure."""
    return sorted(rounds, key=lambda p: p.percentile_ms(95))[len(rounds) // 2]


@dataclass(frozen=True)
class Prepared:
    """A migrated, empty database and the environment the tool will run with."""

    env: dict[str, str]
    database_url: str
    tmp: Path
    port: int

    @property
    def tool_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def prepare(
    db: str, options: argparse.Namespace, stack: contextlib.ExitStack, name: str
) -> Prepared:
    """A temporary folder, a fresh database (SQLite file or throw-away PostgreSQL), migrated."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bottega-{name}-{db}-")))
    if db == "postgres":
        database_url = stack.enter_context(postgres_database(options.pg_url))
    else:
        database_url = f"sqlite:///{tmp / 'instance' / 'bottega.sqlite3'}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "BOTTEGA_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "KEYS_DIR": str(tmp / "keys"),
            "INSTANCE_PATH": str(tmp / "instance"),
            "DATABASE_URL": database_url,
            # As in production (Redis): no job worker thread inside the web workers.
            "JOBS_IN_PROCESS": "0",
        }
    )
    run_flask(env, ROOT, "db", "upgrade")
    return Prepared(env, database_url, tmp, port)


def database_server_pid(database_url: str) -> int | None:
    """The PostgreSQL server's main process when it runs on this machine (its CPU and its
    connections' then count as the database's), else None."""
    import psycopg

    # Read while connected: the backend process exits with its connection.
    with psycopg.connect(database_url.replace("+psycopg", ""), connect_timeout=5) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        stat = Path(f"/proc/{backend[0] if backend else 0}/stat")
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # another machine or container: not measurable here
            return None
    return int(fields[1])  # the backend's parent: the postmaster


def serve_and_measure(
    db: str,
    prepared: Prepared,
    options: argparse.Namespace,
    stack: contextlib.ExitStack,
    seeded: Seeded,
    pages: dict[str, list[str]],
) -> dict[str, list[Phase]]:
    """Start the tool under gunicorn, warm it up, then measure /healthz and each page,
    ``options.rounds`` times in turn (1 when the options have none): every round of every page
    (``medians`` keeps each page's median round)."""
    workers = ["-w", str(options.workers), "-k", "gthread", "--threads", str(options.threads)]
    tool: Server = start_server(
        "tool (gunicorn)",
        [str(BIN / "gunicorn"), *workers, "-b", f"127.0.0.1:{prepared.port}", "wsgi:app"],
        prepared.env,
        prepared.tmp / "tool.log",
        ROOT,
    )
    stack.callback(tool.stop)
    wait_until_up(tool, prepared.tool_url + "/healthz")
    cookie = session_cookie(prepared.env["SECRET_KEY"], seeded, "B1")
    pid = tool.proc.pid
    server = database_server_pid(prepared.database_url) if db == "postgres" else None
    phases: dict[str, list[Phase]] = {}

    def phase(paths: list[str], count: int, timeout: float = TIMEOUT) -> Phase:
        jobs = page_jobs(prepared.tool_url, paths, cookie, count, timeout)
        # No LMS here: the "platform" CPU is PostgreSQL's when it runs on this machine (None
        # for SQLite, whose work is the tool's own CPU).
        return measured(jobs, options.concurrency, pid, server)

    # Warm-up: every worker thread loads templates, simplemma's dictionaries and connections.
    # The first search of a worker loads the dictionaries (seconds, or tens of seconds on a
    # busy machine): a long timeout here.
    warm = options.workers * options.threads * 4
    for paths in [["/healthz"], *pages.values()]:
        done = phase(paths, warm, timeout=180.0)
        if done.failed:
            raise BenchError(f"warm-up failed: {done.errors}\n{tool.log_tail()}")
    rounds = getattr(options, "rounds", 1)
    for n in range(rounds):
        bare = phase(["/healthz"], options.requests * 2)
        phases.setdefault("bare endpoint (/healthz)", []).append(bare)
        for name, paths in pages.items():
            print(f"[{db}] round {n + 1}/{rounds}: measuring {name} ...", flush=True)
            phases.setdefault(name, []).append(phase(paths, options.requests))
    return phases


def run_db(db: str, options: argparse.Namespace, stack: contextlib.ExitStack) -> DbResult:
    prepared = prepare(db, options, stack, "qa")
    database_url, env = prepared.database_url, prepared.env
    print(f"[{db}] seeding {options.questions} questions, {options.posts} answers+comments ...")
    begin = time.perf_counter()
    big = seed(database_url, questions=options.questions, posts=options.posts, course_lms_id="big")
    small = seed(
        database_url, questions=30, posts=80, course_lms_id="small", platform_id=big.platform_id
    )
    seed_s = time.perf_counter() - begin
    print(f"[{db}] seeded in {seed_s:.1f} s; counting queries ...", flush=True)
    queries_big = query_counts(env, big, "B1")
    queries_small = query_counts(env, small, "S1")
    rounds = serve_and_measure(db, prepared, options, stack, big, page_paths(big, "B1"))
    return DbResult(db, seed_s, medians(rounds), queries_big, queries_small, rounds)


def rows(result: DbResult) -> list[dict[str, Any]]:
    base = result.phases["bare endpoint (/healthz)"]
    base_rate = base.per_second()
    table = []
    for name, p in result.phases.items():
        cpu = p.cpu_ms(p.tool_cpu_s)
        table.append(
            {
                "db": result.db,
                "page": name,
                "ok": f"{p.ok}/{p.requests}",
                "req/s": f"{p.per_second():.0f}",
                "vs bare": f"{p.per_second() / base_rate:.0%}" if base_rate else "-",
                "p50 ms": f"{p.percentile_ms(50):.1f}",
                "p95 ms": f"{p.percentile_ms(95):.1f}",
                "p95 of each round": " / ".join(
                    f"{r.percentile_ms(95):.0f}" for r in result.rounds.get(name, [p])
                ),
                "tool CPU ms/req": f"{cpu:.2f}",
                "PostgreSQL CPU ms/req": f"{p.cpu_ms(p.platform_cpu_s):.2f}"
                if result.db == "postgres"
                else "-",
                # The load generator shares the machine: what it takes, the server lacks.
                "client CPU ms/req": f"{p.cpu_ms(p.client_cpu_s):.2f}",
                # What the rest of the machine used meanwhile (a shared machine's noise).
                "other CPUs": f"{p.others_cpu_s / p.wall_s:.1f}" if p.wall_s else "-",
                "SQL (20k course)": str(result.queries_big.get(name, "-")),
                "SQL (small course)": str(result.queries_small.get(name, "-")),
            }
        )
    return table


def verdicts(result: DbResult) -> list[str]:
    base_rate = result.phases["bare endpoint (/healthz)"].per_second()
    lines = []
    for name in ("list", "question (50 answers)"):
        p = result.phases[name]
        cpu = p.cpu_ms(p.tool_cpu_s)
        share = p.per_second() / base_rate if base_rate else 0.0
        ok = cpu <= TARGET_CPU_MS and share >= TARGET_SHARE
        lines.append(
            f"{result.db}: {name}: {cpu:.2f} ms CPU, {share:.0%} of bare throughput: "
            f"{'within' if ok else 'ABOVE'} targets (<= {TARGET_CPU_MS:.0f} ms, "
            f">= {TARGET_SHARE:.0%})"
        )
    for name in ("search", "search (common words)"):
        p95 = result.phases[name].percentile_ms(95)
        lines.append(
            f"{result.db}: {name} p95 {p95:.1f} ms: "
            f"{'within' if p95 <= TARGET_SEARCH_P95_MS else 'ABOVE'} the "
            f"{TARGET_SEARCH_P95_MS:.0f} ms target"
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
    parser = argparse.ArgumentParser(prog="python -m bench.qa", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="2,000 questions, 10,000 posts, 300 requests")
    add("--questions", type=int, default=None, help="questions in the large course (20000)")
    add("--posts", type=int, default=None, help="answers + comments in it (100000)")
    add("-n", "--requests", type=int, default=None, help="measured requests per page (1000)")
    add("-c", "--concurrency", type=int, default=8, help="concurrent clients (8)")
    add("--workers", type=int, default=2, help="gunicorn workers (2)")
    add("--threads", type=int, default=4, help="threads per gunicorn worker (4)")
    add(
        "--rounds",
        type=int,
        default=3,
        help="times each page is measured, in turn; the table shows each page's median round (3)",
    )
    add("--db", choices=("sqlite", "postgres", "both"), default="both", help="(both)")
    add("--pg-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG_URL))
    options = parser.parse_args(argv)
    options.questions = options.questions or (2_000 if options.quick else 20_000)
    options.posts = options.posts or (10_000 if options.quick else 100_000)
    options.requests = options.requests or (300 if options.quick else 1_000)
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    if options.questions < 2 or options.posts < 70:
        parser.error("need at least 2 questions and 70 posts (50 answers on one question)")
    dbs = ["sqlite", "postgres"] if options.db == "both" else [options.db]
    if "postgres" in dbs:
        problem = postgres_problem(options.pg_url)
        if problem:
            print(f"skipping PostgreSQL: {problem}", file=sys.stderr)
            dbs.remove("postgres")
    return options, dbs


@contextlib.contextmanager
def _stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


def main(argv: Sequence[str] | None = None) -> int:
    options, dbs = parse(argv)
    results = []
    for db in dbs:
        try:
            with _stack() as stack:
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
        f"{options.questions} questions + {options.posts} answers/comments, "
        f"{options.requests} requests per page, {options.rounds} rounds (each page's median "
        f"round shown), {options.concurrency} concurrent clients, "
        f"gunicorn -w {options.workers} -k gthread --threads {options.threads}, "
        f"{os.cpu_count()} CPUs"
    )
    print(markdown_table([row for r in results for row in rows(r)]))
    for result in results:
        for line in verdicts(result):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
