"""In-process launch micro-benchmark: the tool's own CPU per launch, without gunicorn or sockets.

A quick loop for working on the launch path, not the figure that counts (that is
``bench/launch.py``, under gunicorn). It builds the tool app in this process on a throw-away
SQLite file (or a new PostgreSQL database with ``--pg``), serves the demo LMS on a loopback socket
for its key set only, and drives complete launches through werkzeug's test client: tool login,
the LMS's authorisation (called directly), the id_token POST and, when the tool redirects, the
page it leads to. It reports the thread CPU spent inside the tool's WSGI app per launch, per
route, and the SQL statements per launch; ``--profile`` prints a cProfile of the measured phase.

    .venv/bin/python -m bench.launch_inproc -n 2000
    .venv/bin/python -m bench.launch_inproc --pg -n 1000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import secrets
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
CLIENT_ID = "bench-inproc"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


class Meter:
    """WSGI middleware adding each request's thread CPU to its route."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.count: Counter[str] = Counter()
        self.on = False
        # --calls: a profiler that runs only inside the app, to count the Python function calls
        # a launch makes there (the same on a busy machine as on an idle one).
        self.calls: cProfile.Profile | None = None
        self.sampler: Any = None  # PYINSTRUMENT=file: a sampling profile of the app only

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not self.on:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        path = environ["PATH_INFO"]
        key = "/w/<lid>/..." if path.startswith("/w/") else path
        started = time.thread_time()
        if self.calls is not None:
            self.calls.enable()
        if self.sampler is not None:
            self.sampler.start()
        try:
            body = b"".join(self.app(environ, start_response))
        finally:
            if self.calls is not None:
                self.calls.disable()
            if self.sampler is not None:
                self.sampler.stop()
        self.cpu[key] += time.thread_time() - started
        self.count[key] += 1
        return [body]


def _pg_database(url: str) -> tuple[str, Any]:
    import sqlalchemy as sa

    name = "bottega_inproc_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return url.rsplit("/", 1)[0] + "/" + name, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="measured launches (1000)")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--courses", type=int, default=5)
    parser.add_argument(
        "--pg", nargs="?", const=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG_URL)
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the measured phase")
    parser.add_argument(
        "--calls",
        action="store_true",
        help="count the Python function calls inside the app per launch (steady under load; "
        "the CPU figures are then inflated by the counting)",
    )
    parser.add_argument(
        "--engine", help='JSON of engine options to use instead, e.g. {"pool_pre_ping": false}'
    )
    parser.add_argument(
        "--app-profile",
        action="store_true",
        help="cProfile only inside the tool's app (not the LMS nor the client), thread CPU",
    )
    parser.add_argument("--dump", help="with --app-profile: also write the profile to this file")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--callers", help="with --profile: who calls the functions matching this")
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bottega-inproc-"))
    drop = None
    if options.pg:
        database_url, drop = _pg_database(options.pg)
    else:
        database_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    public_url = "http://127.0.0.1:9"
    os.environ.update(
        {
            "BOTTEGA_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PUBLIC_URL": public_url,
            "KEYS_DIR": str(tmp / "keys"),
            "INSTANCE_PATH": str(tmp / "instance"),
            "DATABASE_URL": database_url,
            "JOBS_IN_PROCESS": "0",
        }
    )
    import sqlalchemy as sa
    from werkzeug.test import Client

    from bench.callgrind import serve_in_process_lms
    from lti_tool import create_app
    from lti_tool.extensions import db

    app = create_app(
        {"SQLALCHEMY_ENGINE_OPTIONS": json.loads(options.engine)} if options.engine else None
    )
    statements = [0]
    with app.app_context():
        db.create_all()

        @sa.event.listens_for(db.engine, "before_cursor_execute")
        def _count(*_args: Any) -> None:
            statements[0] += 1

    server = serve_in_process_lms(app, public_url, CLIENT_ID, "In-process bench LMS")
    platform = server.platform
    meter = Meter(app.wsgi_app)
    app.wsgi_app = meter  # type: ignore[method-assign]
    run = uuid.uuid4().hex[:6]

    def one(i: int) -> None:
        course = i % options.courses
        sub = f"{run}-user-{i}"
        prepared = platform.prepare_launch(
            CLIENT_ID,
            user={
                "sub": sub,
                "name": f"Student {i}",
                "given_name": "Student",
                "family_name": str(i),
                "email": f"{sub}@example.org",
                "locale": "en",
            },
            roles=[INSTRUCTOR if i % 20 == 0 else LEARNER],
            context={"id": f"course-{course}", "title": f"Course {course}", "label": f"C{course}"},
            resource_link={"id": f"rl-{course}", "title": "Community"},
            custom={"widget": "home"},
        )
        client = Client(app)
        url = urlsplit(prepared.login_url)
        login = client.get(url.path, query_string=url.query)
        assert login.status_code == 302, (login.status_code, login.get_data(as_text=True)[:300])
        auth = platform.authorize(dict(parse_qsl(urlsplit(login.headers["Location"]).query)))
        posted = client.post(
            "/lti/launch", data={"id_token": auth.id_token, "state": auth.state or ""}
        )
        if posted.status_code in (302, 303):
            page = client.get(urljoin("/lti/launch", posted.headers["Location"]))
        else:
            page = posted
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and f"Student {i}" in text, (page.status_code, text[:400])

    for i in range(options.warmup):
        one(i)
    meter.on = True
    if options.calls or options.app_profile:
        meter.calls = (
            cProfile.Profile(time.thread_time_ns, 1e-9)
            if options.app_profile
            else cProfile.Profile()
        )
    if os.environ.get("PYINSTRUMENT"):
        from pyinstrument import Profiler

        meter.sampler = Profiler(interval=0.0002, async_mode="disabled")
    statements[0] = 0
    profiler = cProfile.Profile(time.thread_time_ns, 1e-9) if options.profile else None
    started = time.thread_time()
    if profiler:
        profiler.enable()
    chunks: list[float] = []  # app CPU per launch of each 50 launches: the least is steadiest
    mark = sum(meter.cpu.values())
    for i in range(options.warmup, options.warmup + options.n):
        one(i)
        if (i - options.warmup) % 50 == 49:
            chunks.append((sum(meter.cpu.values()) - mark) / 50)
            mark = sum(meter.cpu.values())
    if profiler:
        profiler.disable()
    total = time.thread_time() - started
    n = options.n
    inside = sum(meter.cpu.values())
    print(f"{'PostgreSQL' if options.pg else 'SQLite'}: {n} launches")
    for route, cpu in sorted(meter.cpu.items()):
        print(f"  {route:<24} {cpu / n * 1000:6.3f} ms/launch ({meter.count[route] / n:.1f} req)")
    print(f"  {'inside the tool app':<24} {inside / n * 1000:6.3f} ms/launch")
    print(f"  {'whole loop (+LMS, client)':<24} {total / n * 1000:6.3f} ms/launch")
    if chunks:
        chunks.sort()
        print(
            f"  app CPU per launch, by 50 launches: least {chunks[0] * 1000:.3f} ms, "
            f"median {chunks[len(chunks) // 2] * 1000:.3f} ms"
        )
    print(f"  SQL statements per launch: {statements[0] / n:.2f}")
    if meter.calls is not None:
        calls = pstats.Stats(meter.calls).total_calls  # type: ignore[attr-defined]
        print(f"  Python function calls inside the app per launch: {calls / n:,.0f}")
    if profiler or options.app_profile:
        stats = pstats.Stats(profiler or meter.calls)
        if options.dump:
            stats.dump_stats(options.dump)
        stats.sort_stats("cumulative").print_stats(options.top)
        stats.sort_stats("tottime").print_stats(options.top)
        if options.callers:
            stats.print_callers(options.callers)
    if meter.sampler is not None:
        Path(os.environ["PYINSTRUMENT"]).write_text(
            meter.sampler.output_text(unicode=False, show_all=False)
        )
    server.shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if drop:
        drop()


if __name__ == "__main__":
    main()
