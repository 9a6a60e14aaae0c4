"""Instructions per request inside the tool's app, counted by valgrind: the same on a busy machine.

CPU time on this shared virtual machine drifts by up to two times from one hour to the next, so a
change worth 2 to 10% cannot be seen in it. Callgrind counts the instructions the tool's code
executes instead, and repeats to within a few tenths of a percent. It does not count the kernel
(sockets, database round trips), gunicorn, nor the database server: the figure is the app's own
work, in-process, and complements the CPU columns of ``bench.launch`` and ``bench.qa``.

    .venv/bin/python -m bench.callgrind                          # launch + Q&A pages, SQLite
    .venv/bin/python -m bench.callgrind --db postgres --only list,question
    .venv/bin/python -m bench.callgrind --tool-root /tmp/old     # compare with another checkout

How: the Q&A data is seeded once (``bench.qa``, smaller by default), then for each checkout and
scenario a child Python runs under ``valgrind --tool=callgrind`` with instrumentation off during
start-up and warm-up; a WSGI wrapper turns collection on around each call of the tool's app
only (a small C shim, compiled here with gcc against valgrind's ``callgrind.h``). The launch
scenario drives complete launches in-process as ``bench.launch_inproc`` does: the LMS's side
(signing id_tokens) is not counted. Needs valgrind, its headers and gcc (all on this kind of
machine); every checkout compared must have the same database schema.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SHIM_SOURCE = """
#include <valgrind/callgrind.h>
void bench_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void bench_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
"""
SHORT = {"list": "list", "question": "question (50 answers)", "search": "search"}
SHORT["common"] = "search (common words)"
SHORT["unanswered"] = "question (unanswered)"


# -- the child: runs under valgrind, imports the tool from its checkout ------------------------


def _child(options: argparse.Namespace) -> None:
    import ctypes

    shim = ctypes.CDLL(options.shim)
    state = json.loads(Path(options.state).read_text())
    os.environ.update(state["env"])
    sys.path.insert(0, options.root)
    os.chdir(options.root)
    started = [False]
    counted = [0]

    def metered(app: Any) -> Any:
        def call(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            if not started[0]:
                return [b"".join(app(environ, start_response))]
            shim.bench_toggle()
            try:
                body = b"".join(app(environ, start_response))
            finally:
                shim.bench_toggle()
            counted[0] += 1
            return [body]

        return call

    def begin() -> None:
        shim.bench_start()
        started[0] = True

    if options.scenario == "launch":
        _child_launches(options.n, state, metered, begin)
    else:
        _child_page(options.scenario, options.n, state, metered, begin)
    print(json.dumps({"requests": counted[0]}))


def _child_page(name: str, n: int, state: dict[str, Any], metered: Any, begin: Any) -> None:
    from werkzeug.test import Client

    from lti_tool import create_app

    app = create_app({"JOBS_IN_PROCESS": "0"})
    app.wsgi_app = metered(app.wsgi_app)  # type: ignore[method-assign]
    client = Client(app)
    client.set_cookie("bottega_session", state["cookie"], domain="127.0.0.1")
    urls = state["paths"][name]
    base = state["env"]["PUBLIC_URL"]

    def get(i: int) -> None:
        response = client.get(urls[i % len(urls)], base_url=base)
        if response.status_code != 200:
            raise SystemExit(f"{urls[i % len(urls)]}: {response.status_code}")

    for i in range(30):
        get(i)
    begin()
    for i in range(n):
        get(i)


def serve_in_process_lms(app: Any, public_url: str, client_id: str, name: str) -> Any:
    """Serve the demo LMS on a loopback port (for its key set), with the tool registered on
    both sides, for launches driven in-process (also used by ``bench.launch_inproc``)."""
    from lti_tool.demo.install import register_both_sides
    from lti_tool.demo.platform import serve_platform
    from lti_tool.extensions import db

    server = serve_platform()
    with app.app_context():
        register_both_sides(db.session(), server.platform, public_url, client_id, name=name)
    return server


def _child_launches(n: int, state: dict[str, Any], metered: Any, begin: Any) -> None:
    from urllib.parse import parse_qsl, urljoin, urlsplit

    from werkzeug.test import Client

    from lti_tool import create_app
    from lti_tool.extensions import db

    app = create_app({"JOBS_IN_PROCESS": "0"})
    public_url = state["env"]["PUBLIC_URL"]
    with app.app_context():
        db.create_all()
    server = serve_in_process_lms(app, public_url, "bench-callgrind", "Callgrind bench LMS")
    platform, client_id = server.platform, "bench-callgrind"
    app.wsgi_app = metered(app.wsgi_app)  # type: ignore[method-assign]
    learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
    instructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"

    def one(i: int) -> None:
        prepared = platform.prepare_launch(
            client_id,
            user={"sub": f"user-{i}", "name": f"Student {i}", "email": f"u{i}@example.org"},
            roles=[instructor if i % 20 == 0 else learner],
            context={"id": f"course-{i % 5}", "title": f"Course {i % 5}"},
            resource_link={"id": f"rl-{i % 5}", "title": "Community"},
            custom={"widget": "home"},
        )
        client = Client(app)
        url = urlsplit(prepared.login_url)
        login = client.get(url.path, query_string=url.query)
        if login.status_code != 302:
            raise SystemExit(f"login: {login.status_code}")
        auth = platform.authorize(dict(parse_qsl(urlsplit(login.headers["Location"]).query)))
        page = client.post("/lti/launch", data={"id_token": auth.id_token, "state": auth.state})
        if page.status_code in (302, 303):
            page = client.get(urljoin("/lti/launch", page.headers["Location"]))
        if page.status_code != 200 or f"Student {i}" not in page.get_data(as_text=True):
            raise SystemExit(f"launch {i}: {page.status_code}")

    for i in range(20):
        one(i)
    begin()
    for i in range(20, 20 + n):
        one(i)
    server.shutdown()


# -- the parent: prepares data, runs each child under valgrind, prints the table ---------------


def _shim(folder: Path) -> Path:
    if not shutil.which("valgrind") or not shutil.which("gcc"):
        raise SystemExit("bench.callgrind needs valgrind and gcc (Debian: valgrind, gcc)")
    source = folder / "shim.c"
    source.write_text(SHIM_SOURCE)
    library = folder / "libbenchshim.so"
    built = subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise SystemExit(f"could not build the callgrind shim (valgrind headers?):\n{built.stderr}")
    return library


def _prepare_pages(
    db: str, options: argparse.Namespace, stack: contextlib.ExitStack, folder: Path
) -> Path:
    from bench import qa

    prepared = qa.prepare(db, options, stack, "callgrind")
    print(f"[{db}] seeding {options.questions} questions, {options.posts} answers+comments ...")
    big = qa.seed(
        prepared.database_url,
        questions=options.questions,
        posts=options.posts,
        course_lms_id="big",
    )
    env = {k: prepared.env[k] for k in qa.TOOL_ENV if k in prepared.env}
    state = folder / f"pages-{db}.json"
    cookie = qa.session_cookie(env["SECRET_KEY"], big, "B1")
    state.write_text(json.dumps({"env": env, "cookie": cookie, "paths": qa.page_paths(big, "B1")}))
    return state


def _prepare_launches(
    db: str, options: argparse.Namespace, stack: contextlib.ExitStack, folder: Path
) -> Path:
    import secrets

    from bench.launch import postgres_database

    if db == "postgres":
        database_url = stack.enter_context(postgres_database(options.pg_url))
    else:
        database_url = f"sqlite:///{folder / 'launch.sqlite3'}"
    env = {
        "BOTTEGA_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PUBLIC_URL": "http://127.0.0.1:9",
        "KEYS_DIR": str(folder / "keys"),
        "INSTANCE_PATH": str(folder / "instance"),
        "DATABASE_URL": database_url,
        "JOBS_IN_PROCESS": "0",
    }
    state = folder / f"launch-{db}.json"
    state.write_text(json.dumps({"env": env}))
    return state


def _count(root: Path, scenario: str, state: Path, n: int, shim: Path, folder: Path) -> int:
    """Instructions per request of ``scenario`` in the checkout at ``root``."""
    out = folder / f"callgrind-{os.getpid()}-{abs(hash((str(root), scenario)))}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--collect-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(HERE),
        "--child",
        "--root",
        str(root),
        "--scenario",
        scenario,
        "--state",
        str(state),
        "--shim",
        str(shim),
        "-n",
        str(n),
    ]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    if done.returncode != 0:
        raise SystemExit(f"{scenario} in {root} failed:\n{done.stderr[-3000:]}")
    counted = json.loads(done.stdout.strip().splitlines()[-1])["requests"]
    totals = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.MULTILINE)
    if totals is None or not counted:
        raise SystemExit(f"{scenario} in {root}: no instruction count")
    # A launch is all its requests; a page is one.
    return int(totals.group(1)) // (n if scenario == "launch" else counted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--db", choices=("sqlite", "postgres", "both"), default="sqlite", help="(sqlite)")
    add(
        "--only",
        default="launch,list,question,search,common,unanswered",
        help="scenarios, comma-separated: launch, list, question, search, common, unanswered",
    )
    add("-n", type=int, default=100, help="measured requests per page, launches (100, 50)")
    add("--questions", type=int, default=2000, help="questions in the course (2000)")
    add("--posts", type=int, default=10000, help="answers + comments (10000)")
    add(
        "--pg-url",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    add(
        "--tool-root",
        action="append",
        type=Path,
        default=[],
        help="another checkout to count too (repeatable); the first row is this one",
    )
    add("--child", action="store_true", help=argparse.SUPPRESS)
    add("--root", help=argparse.SUPPRESS)
    add("--scenario", help=argparse.SUPPRESS)
    add("--state", help=argparse.SUPPRESS)
    add("--shim", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        _child(options)
        return 0
    from bench.launch import ROOT, markdown_table

    roots = [ROOT, *(root.resolve() for root in options.tool_root)]
    scenarios = [s.strip() for s in options.only.split(",") if s.strip()]
    unknown = [s for s in scenarios if s != "launch" and s not in SHORT]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    dbs = ["sqlite", "postgres"] if options.db == "both" else [options.db]
    rows: list[dict[str, Any]] = []
    for db in dbs:
        with contextlib.ExitStack() as stack:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bottega-cg-")))
            shim = _shim(folder)
            pages = None
            for scenario in scenarios:
                if scenario == "launch":
                    state = _prepare_launches(db, options, stack, folder)
                    name, n = "launch (all its requests)", max(10, options.n // 2)
                else:
                    pages = pages or _prepare_pages(db, options, stack, folder)
                    state, name, n = pages, SHORT[scenario], options.n
                first = None
                for root in roots:
                    print(f"[{db}] {name}: counting in {root} ...", flush=True)
                    count = _count(
                        root, "launch" if scenario == "launch" else name, state, n, shim, folder
                    )
                    first = first or count
                    rows.append(
                        {
                            "db": db,
                            "scenario": name,
                            "checkout": str(root),
                            "instructions per request": f"{count:,}",
                            "vs first": f"{count / first:.3f}",
                        }
                    )
    print()
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
