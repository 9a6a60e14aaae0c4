"""Sync benchmark: roster sync of 10,000 members in pages of 100, and a grade push of 1,000
scores to an LMS answering in 50 ms, from the test LMS, through the job queue.

Run from the repository root: .venv/bin/python -m bench.sync [--members 10000] [--page 100]
[--database-url postgresql://...] [--quick] [--only roster|grades] [--scores 1000]
[--latency 0.05] [--concurrency 16]

The test LMS runs in a process of its own (so its memory and CPU are not the tool's). The tool
side runs here: a fresh database, the registration, a course whose launch carried an NRPS claim,
then ``roster.sync`` jobs run as a worker would (run_one). Reported per run:

* members/s of the tool's own processing: members / (sync time - time waiting for the LMS);
* peak memory: tracemalloc's peak of Python allocations during the sync (a second, traced run,
  since tracing slows Python down), and the process's VmHWM;
* three runs per size: first sync (inserts), second (nothing changed), third (100 members gone).

Grade push: the placement's learners (a roster sync of ``--scores`` members first), then three
``grades.push`` jobs: the first sends every score (``--concurrency`` in flight), the second has
nothing to send, the third follows a rubric change (every score again). The baseline is the same
push sent one by one (concurrency 1), measured in the same run on ``--baseline-scores`` learners
of another placement and scaled to ``--scores``.

Targets (issue 7): >= 5,000 members/s processed, memory flat in roster size; 1,000 scores in
<= 5 s (>= 10x sending one by one).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import json
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "bottega-bench-sync"
CONTEXT = "bench-course"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
TOOL_ENV = (
    "BOTTEGA_ENV",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "PUBLIC_URL",
    "KEYS_DIR",
    "INSTANCE_PATH",
    "BOTTEGA_DEMO",
    "JOBS_IN_PROCESS",
)


# -- the LMS process ----------------------------------------------------------------------------


def serve_platform(port: int) -> None:
    """The test LMS plus two control routes (loopback only): register the tool, set a roster."""
    from flask import jsonify, request
    from werkzeug.serving import make_server

    from lti_tool.demo.platform import create_platform_app, get_platform

    issuer = f"http://127.0.0.1:{port}"
    app = create_platform_app(issuer)
    platform = get_platform(app)

    @app.post("/bench/register", endpoint="bench_register")
    def register() -> Any:
        body = request.get_json(force=True)
        jwks = body["jwks"]
        platform.fetch_json = lambda url: jwks  # the tool serves no HTTP in this benchmark
        platform.register_tool(
            body["client_id"],
            login_url=issuer + "/unused",
            redirect_uris=[issuer + "/unused"],
            jwks_url=issuer + "/unused",
        )
        return jsonify(ok=True)

    @app.post("/bench/ags", endpoint="bench_ags")
    def ags() -> Any:
        """A line item for the tool in a context, and the grade service's latency."""
        body = request.get_json(force=True)
        with platform.lock:
            platform.ags_latency = float(body.get("latency", 0.0))
        item = platform.create_line_item(
            body["client_id"], body["context_id"], {"label": "Bench", "scoreMaximum": 100}
        )
        return jsonify(lineitem=item["id"], claim=platform.ags_claim(body["context_id"]))

    @app.get("/bench/ags/stats", endpoint="bench_ags_stats")
    def ags_stats() -> Any:
        lineitem = request.args["lineitem"]
        with platform.lock:
            requests_seen = platform.score_requests
        return jsonify(score_requests=requests_seen, users=len(platform.latest_scores(lineitem)))

    @app.post("/bench/roster", endpoint="bench_roster")
    def roster() -> Any:
        body = request.get_json(force=True)
        members = [
            {
                "user_id": f"user-{i:06d}",
                "name": f"Student {i}",
                "given_name": "Student",
                "family_name": str(i),
                "email": f"student{i}@example.org",
                "roles": [LEARNER],
                "status": "Active",
            }
            for i in range(body["count"])
            if i not in set(body.get("without", []))
        ]
        with platform.lock:
            platform.rosters[body["context_id"]] = members
        return jsonify(members=len(members))

    server = make_server("127.0.0.1", port, app, threaded=True)
    print("ready", flush=True)
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def platform_process() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.sync", "--serve-platform", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k not in TOOL_ENV},
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the test LMS did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


# -- the tool side --------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(server_url: str | None, tmp: Path) -> Iterator[str]:
    """A fresh SQLite file, or a throw-away database created on the given PostgreSQL server."""
    if not server_url:
        yield f"sqlite:///{tmp / 'bench.sqlite3'}"
        return
    import psycopg

    name = f"bottega_bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    for name in TOOL_ENV:
        os.environ.pop(name, None)
    from flask_migrate import upgrade

    from lti_tool import create_app
    from lti_tool.courses.services import CourseInfo, upsert_course
    from lti_tool.extensions import db
    from lti_tool.jobs.queue import run_one
    from lti_tool.jobs.runtime import new_worker_id, runtime_of
    from lti_tool.lti.registration import PlatformInput, add_platform
    from lti_tool.sync import roster

    tmp = Path(tempfile.mkdtemp(prefix="bottega-bench-sync-"))
    rows: list[dict[str, Any]] = []
    grade_rows: list[dict[str, Any]] = []
    with platform_process() as issuer, scratch_database(args.database_url, tmp) as database_url:
        app = create_app(
            {
                "BOTTEGA_ENV": "test",
                "SECRET_KEY": "bench",
                "INSTANCE_PATH": str(tmp / "instance"),
                "KEYS_DIR": str(tmp / "keys"),
                "DATABASE_URL": database_url,
                "ROSTER_PAGE_SIZE": str(args.page),
                "JOBS_TIMEOUT": "3600",
                "GRADES_CONCURRENCY": str(args.concurrency),
                "GRADES_SCHEDULE_INTERVAL": "0",
            }
        )
        runtime = runtime_of(app)
        worker = new_worker_id("bench")
        with app.app_context():
            upgrade()
            keys = app.extensions["bottega_keys"]
            requests.post(
                issuer + "/bench/register",
                json={"client_id": CLIENT_ID, "jwks": keys.jwks()},
                timeout=10,
            ).raise_for_status()
            platform = add_platform(
                db.session(),
                PlatformInput(
                    issuer=issuer,
                    client_id=CLIENT_ID,
                    auth_login_url=issuer + "/auth",
                    auth_token_url=issuer + "/token",
                    key_set_url=issuer + "/jwks",
                    deployment_ids=("1",),
                ),
            )
            sizes = (
                []
                if args.only == "grades"
                else [args.members]
                if args.quick
                else sorted({1000, args.members // 2, args.members})
            )
            for size in sizes:
                context = f"{CONTEXT}-{size}"
                course_id = upsert_course(
                    db.session(),
                    platform.id,
                    platform.deployments[0].id,
                    CourseInfo(
                        lms_id=context,
                        title="Bench",
                        services={
                            "nrps": {
                                "context_memberships_url": f"{issuer}/nrps/{context}",
                                "service_versions": ["2.0"],
                            }
                        },
                    ),
                )
                db.session.commit()
                gone = list(range(0, size, max(1, size // 100)))[:100]
                plan = [
                    ("first sync (inserts)", [], False),
                    ("second sync (no change)", [], False),
                    (f"{len(gone)} members gone", gone, False),
                    ("traced: memory", [], True),
                ]
                for label, without, traced in plan:
                    requests.post(
                        issuer + "/bench/roster",
                        json={"context_id": context, "count": size, "without": without},
                        timeout=60,
                    ).raise_for_status()
                    job = roster.request_sync(db.session(), course_id, full=True, trigger="bench")
                    db.session.commit()
                    if traced:
                        tracemalloc.start()
                    profiler = cProfile.Profile() if args.profile and not traced else None
                    started = time.perf_counter()
                    cpu_started = time.process_time()
                    if profiler:
                        profiler.enable()
                    outcome = run_one(runtime.session_factory, worker, job, runtime.settings.jobs)
                    wall = time.perf_counter() - started
                    cpu = time.process_time() - cpu_started
                    if profiler:
                        profiler.disable()
                        pstats.Stats(profiler, stream=sys.stderr).sort_stats(
                            os.environ.get("BENCH_SORT", "cumulative")
                        ).print_stats(40)
                    peak = tracemalloc.get_traced_memory()[1] if traced else None
                    if traced:
                        tracemalloc.stop()
                    assert outcome is not None and outcome.status == "done", outcome
                    result = outcome.result or {}
                    own = result["seconds"] - result["lms_seconds"]
                    row = {
                        "size": size,
                        "run": label,
                        "members": result["members"],
                        "added": result["added"],
                        "deactivated": result["deactivated"],
                        "reactivated": result["reactivated"],
                        "pages": result["pages"],
                        "wall_s": round(wall, 3),
                        "lms_s": result["lms_seconds"],
                        "tool_s": round(own, 3),
                        "members_per_s": round(result["members"] / own) if own > 0 else None,
                        "cpu_s": round(cpu, 3),
                        "members_per_cpu_s": round(result["members"] / cpu) if cpu > 0 else None,
                        "peak_traced_mib": round(peak / 2**20, 2) if peak is not None else None,
                        "vm_hwm_mib": round(vm_hwm_kib() / 1024, 1),
                    }
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
            if args.only != "roster":
                grade_rows = run_grades(args, app, issuer, platform.id, platform.deployments[0].id)
            db.engine.dispose()
    return rows, grade_rows


def _graded_placement(
    app: Any, issuer: str, platform_id: int, deployment_pk: int, context: str, learners: int
) -> tuple[int, str]:
    """A course of ``learners`` (synced from the LMS) with one graded placement."""
    from lti_tool.courses.services import CourseInfo, upsert_course, upsert_placement
    from lti_tool.extensions import db
    from lti_tool.jobs.queue import run_one
    from lti_tool.jobs.runtime import new_worker_id, runtime_of
    from lti_tool.sync import roster

    runtime = runtime_of(app)
    requests.post(
        issuer + "/bench/roster", json={"context_id": context, "count": learners}, timeout=60
    ).raise_for_status()
    course_id = upsert_course(
        db.session(),
        platform_id,
        deployment_pk,
        CourseInfo(
            lms_id=context,
            title="Bench",
            services={"nrps": {"context_memberships_url": f"{issuer}/nrps/{context}"}},
        ),
    )
    db.session.commit()
    job = roster.request_sync(db.session(), course_id, full=True, trigger="bench")
    db.session.commit()
    outcome = run_one(runtime.session_factory, new_worker_id("bench"), job, runtime.settings.jobs)
    assert outcome is not None and outcome.status == "done", outcome
    made = requests.post(
        issuer + "/bench/ags",
        json={"client_id": CLIENT_ID, "context_id": context, "latency": 0.0},
        timeout=10,
    ).json()
    claim = {**made["claim"], "lineitem": made["lineitem"]}
    placement_id = upsert_placement(
        db.session(), course_id, f"{context}-link", "qa", "Bench", {"ags": claim}
    )
    db.session.commit()
    return placement_id, str(made["lineitem"])


def run_grades(
    args: argparse.Namespace, app: Any, issuer: str, platform_id: int, deployment_pk: int
) -> list[dict[str, Any]]:
    """Grade pushes of ``--scores`` learners, and the one-by-one baseline, timed."""
    from lti_tool.community.grades.services import Rubric, save_rubric
    from lti_tool.extensions import db
    from lti_tool.jobs.queue import run_one
    from lti_tool.jobs.runtime import new_worker_id, runtime_of
    from lti_tool.lti.services import Deadline, ServiceHttp
    from lti_tool.sync import grades

    runtime = runtime_of(app)
    settings = runtime.settings
    worker = new_worker_id("bench")
    rows: list[dict[str, Any]] = []

    def set_latency() -> None:
        requests.post(
            issuer + "/bench/ags",
            json={"client_id": CLIENT_ID, "context_id": "latency-only", "latency": args.latency},
            timeout=10,
        ).raise_for_status()

    def requests_so_far(lineitem: str) -> int:
        stats = requests.get(issuer + "/bench/ags/stats", params={"lineitem": lineitem}, timeout=10)
        return int(stats.json()["score_requests"])

    # The baseline: the same push, one score at a time, on a smaller course, scaled.
    sample = min(args.baseline_scores, args.scores)
    base_pid, _ = _graded_placement(
        app, issuer, platform_id, deployment_pk, "bench-grades-baseline", sample
    )
    set_latency()
    http = ServiceHttp(settings.services, deadline=Deadline(3600))
    started = time.perf_counter()
    result = grades.push_grades(
        db.session(), base_pid, grades.ags_client_factory(http, settings), concurrency=1
    )
    wall = time.perf_counter() - started
    http.close()
    assert result.sent == sample, result
    rows.append(
        {
            "run": f"one by one ({sample} measured, x{args.scores / sample:g})",
            "scores": args.scores,
            "sent": result.sent,
            "requests": result.sent,
            "wall_s": round(wall * args.scores / sample, 3),
        }
    )

    pid, lineitem = _graded_placement(
        app, issuer, platform_id, deployment_pk, "bench-grades", args.scores
    )
    set_latency()
    plan = [("first push", None), ("second push (no change)", None), ("rubric changed", True)]
    for label, change in plan:
        if change:
            save_rubric(db.session(), pid, Rubric(score_maximum=50), None)
        before = requests_so_far(lineitem)
        job = grades.request_push(db.session(), pid, trigger="bench")
        db.session.commit()
        started = time.perf_counter()
        cpu_started = time.process_time()
        outcome = run_one(runtime.session_factory, worker, job, settings.jobs)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        assert outcome is not None and outcome.status == "done", outcome
        result_row = outcome.result or {}
        row = {
            "run": f"{label}, {args.concurrency} at a time",
            "scores": args.scores,
            "sent": result_row["sent"] + result_row["settled"],
            "requests": requests_so_far(lineitem) - before,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def print_table(rows: list[dict[str, Any]], database: str, page: int) -> None:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nRoster sync benchmark, {today}, {database}, pages of {page}")
    header = (
        f"{'members':>8} {'run':<26} {'pages':>5} {'wall s':>7} {'LMS s':>7} {'tool s':>7} "
        f"{'tool members/s':>14} {'CPU s':>6} {'members/CPU s':>13} {'traced peak MiB':>15} "
        f"{'VmHWM MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        traced = "" if r["peak_traced_mib"] is None else f"{r['peak_traced_mib']:.2f}"
        untraced = r["peak_traced_mib"] is None
        rate = f"{r['members_per_s']:,}" if untraced else ""
        cpu_rate = f"{r['members_per_cpu_s']:,}" if untraced else ""
        print(
            f"{r['size']:>8,} {r['run']:<26} {r['pages']:>5} {r['wall_s']:>7.2f} "
            f"{r['lms_s']:>7.2f} {r['tool_s']:>7.2f} {rate:>14} {r['cpu_s']:>6.2f} "
            f"{cpu_rate:>13} {traced:>15} {r['vm_hwm_mib']:>9.1f}"
        )
    print(
        "tool s = sync time less the time waiting for the LMS; CPU s = this process's CPU time\n"
        "target: >= 5,000 members/s of tool processing; traced peak flat in roster size"
    )


def print_grades_table(rows: list[dict[str, Any]], database: str, latency: float) -> None:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nGrade push benchmark, {today}, {database}, LMS latency {latency * 1000:g} ms")
    header = (
        f"{'run':<38} {'learners':>8} {'sent':>6} {'requests':>8} {'total s':>8} "
        f"{'vs one by one':>13}"
    )
    print(header)
    print("-" * len(header))
    baseline = rows[0]["wall_s"] if rows else 0.0
    for r in rows:
        speedup = f"{baseline / r['wall_s']:.1f}x" if r["wall_s"] and r["sent"] else "-"
        print(
            f"{r['run']:<38} {r['scores']:>8,} {r['sent']:>6,} {r['requests']:>8,} "
            f"{r['wall_s']:>8.2f} {speedup:>13}"
        )
    print("target: 1,000 scores in <= 5 s (>= 10x one by one); an unchanged push sends nothing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server to create a scratch database on (default: a SQLite file)",
    )
    parser.add_argument("--quick", action="store_true", help="only the --members size")
    parser.add_argument("--profile", action="store_true", help="cProfile each untraced run")
    parser.add_argument("--only", choices=("roster", "grades"), default=None)
    parser.add_argument("--scores", type=int, default=1000, help="learners in the grade push")
    parser.add_argument("--latency", type=float, default=0.05, help="LMS seconds per score")
    parser.add_argument("--concurrency", type=int, default=16, help="score POSTs in flight")
    parser.add_argument(
        "--baseline-scores", type=int, default=200, help="learners pushed one by one (scaled)"
    )
    parser.add_argument("--serve-platform", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_platform:
        serve_platform(args.serve_platform)
        return
    rows, grade_rows = run(args)
    database = "PostgreSQL" if args.database_url else "SQLite"
    if rows:
        print_table(rows, database, args.page)
    if grade_rows:
        print_grades_table(grade_rows, database, args.latency)


if __name__ == "__main__":
    main()
