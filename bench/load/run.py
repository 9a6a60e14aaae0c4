"""Load test: 200 simulated users of 20 LMS tenants for 5 minutes, gunicorn + PostgreSQL + Redis.

Run from the repository root: .venv/bin/python -m bench.load.run [--quick] [--nice -10 ...]

It starts, on loopback and in a temporary folder: the test LMS (``bench/_platform.py``) with
``--tenants`` registrations of the tool (one client id each), a fresh PostgreSQL database
(``bottega_load`` on the server of ``--pg-url``, dropped and made again; never another one; or,
with ``--own-postgres``, on a server of the run's own), Redis database ``/6`` (flushed), the tool
under gunicorn (``-w 4 -k gthread --threads 4``) with ``BOTTEGA_ENV=production``, and one
``flask jobs work`` process. It registers every tenant with ``flask platform add``, then runs
``bench/load/locustfile.py`` headless and prints the p95 and the errors of every endpoint, the
bare endpoints of the same run, and where the machine's CPU went. ``--quick``: 30 s, 40 users of
4 tenants. Exit status 1 when any request failed or the tool logged a traceback or a worker
timeout.

On a machine shared with other programs, ``--nice -10`` (as root) raises the priority of the
run's processes and of their sessions: Linux shares CPU time between sessions (autogroups), so
without it the tool gets one session's share, whatever the niceness of its processes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.launch import (
    BIN,
    ROOT,
    TOOL_ENV,
    BenchError,
    Lms,
    Server,
    free_port,
    machine_busy,
    markdown_table,
    run_flask,
    start_server,
    tree_cpu,
    wait_until_up,
)

DEFAULT_PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
DATABASE = "bottega_load"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
BASELINE_USERS = 2  # BaselineUser.fixed_count in the locustfile


@dataclass(frozen=True)
class Options:
    users: int
    tenants: int
    duration: int
    spawn_rate: float
    workers: int
    threads: int
    job_workers: int
    pg_url: str
    redis_url: str
    json_out: Path | None
    keep_db: bool
    nice: int
    logs: Path | None
    own_postgres: bool
    keep_alive: int


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s, 40 users of 4 tenants")
    parser.add_argument("--users", type=int, help="simulated LMS users (default 200; quick 40)")
    parser.add_argument("--tenants", type=int, help="LMS registrations (default 20; quick 4)")
    parser.add_argument("--duration", type=int, help="seconds (default 300; quick 30)")
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="users started per s")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument(
        "--keep-alive",
        type=int,
        default=10,
        help="gunicorn's keep-alive, s (10): longer than the users' 8 s between actions",
    )
    parser.add_argument("--job-workers", type=int, default=1, help="flask jobs work processes")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="any database of the server")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis database != 0")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep-db", action="store_true", help=f"keep {DATABASE} afterwards")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the tool, job worker, LMS and locust at this niceness (negative: as root, "
        "to measure the stack as on a server of its own while other programs load the machine)",
    )
    parser.add_argument("--logs", type=Path, help="copy the servers' and locust's logs here")
    parser.add_argument(
        "--own-postgres",
        action="store_true",
        help="start a PostgreSQL server of the run's own in the temporary folder (at --nice), "
        "instead of using --pg-url's",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    return Options(
        users=args.users or (40 if quick else 200),
        tenants=args.tenants or (4 if quick else 20),
        duration=args.duration or (30 if quick else 300),
        spawn_rate=args.spawn_rate,
        workers=args.workers,
        threads=args.threads,
        job_workers=args.job_workers,
        pg_url=args.pg_url,
        redis_url=args.redis_url,
        json_out=args.json,
        keep_db=args.keep_db,
        nice=args.nice,
        logs=args.logs,
        own_postgres=args.own_postgres,
        keep_alive=args.keep_alive,
    )


# -- the services -------------------------------------------------------------------------------


@contextlib.contextmanager
def load_database(base_url: str, keep: bool) -> Iterator[str]:
    """A new ``bottega_load`` database on ``base_url``'s server (only that name is dropped)."""
    import psycopg

    with psycopg.connect(base_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    try:
        yield base_url.rsplit("/", 1)[0] + "/" + DATABASE
    finally:
        if not keep:
            with psycopg.connect(base_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def prioritise(pid: int, nice: int) -> None:
    """Give the session of ``pid`` this niceness too (Linux autogroups share CPU per session,
    so a process's own niceness counts only against its session's other processes)."""
    if nice:
        try:
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))
        except OSError as exc:
            print(f"warning: could not set the autogroup niceness of {pid}: {exc}", flush=True)


def own_postgres(tmp: Path, niced: list[str], stack: contextlib.ExitStack) -> str:
    """A PostgreSQL server of this run in ``tmp`` (run as the ``postgres`` user); its URL."""
    import shutil

    data = tmp / "pgdata"
    data.mkdir()
    shutil.chown(tmp, user="postgres")
    shutil.chown(data, user="postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    initdb = subprocess.run(
        [*as_postgres, "initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        capture_output=True,
        text=True,
        check=False,
    )
    if initdb.returncode != 0:
        raise BenchError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
    port = free_port()
    server = start_server(
        "PostgreSQL (own)",
        [
            *niced,
            *as_postgres,
            "postgres",
            *("-D", str(data), "-p", str(port), "-k", str(data)),
            *("-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"),
        ],
        dict(os.environ),
        tmp / "postgres.log",
    )
    stack.callback(server.stop)
    prioritise(server.proc.pid, int(niced[-1]) if niced else 0)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 60
    while subprocess.run(
        ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)], check=False
    ).returncode:
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"PostgreSQL did not start:\n{server.log_tail()}")
        time.sleep(0.2)
    return url


def flush_redis(url: str) -> None:
    """Empty the run's own Redis database (never database 0, which others may use)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    number = client.connection_pool.connection_kwargs.get("db", 0)
    if not number:
        raise BenchError(f"--redis-url must name a database other than 0 (got {url})")
    client.flushdb()
    client.close()


def flask(niced: list[str], env: dict[str, str], *args: str) -> None:
    """``flask --app wsgi ARGS`` as an admin types it (at the run's niceness), or BenchError."""
    run_flask(env, ROOT, *args, prefix=niced, timeout=300)


def register_tenants(
    lms: Lms, env: dict[str, str], tool_url: str, tenants: int, run: str, niced: list[str]
) -> list[str]:
    """Register the tool ``tenants`` times in the LMS, and each registration in the tool."""
    client_ids = [f"load-{run}-{n:02d}" for n in range(tenants)]

    def both_sides(client_id: str) -> None:
        lms.post(
            "/bench/register",
            {
                "client_id": client_id,
                "login_url": tool_url + "/lti/login",
                "redirect_uris": [tool_url + "/lti/launch"],
                "jwks_url": tool_url + "/.well-known/jwks.json",
                "deployment_ids": ["1"],
            },
        )
        flask(
            niced,
            env,
            *("platform", "add", "--issuer", lms.url, "--client-id", client_id),
            *("--auth-login-url", lms.url + "/auth", "--auth-token-url", lms.url + "/token"),
            *("--key-set-url", lms.url + "/jwks", "--deployment-id", "1"),
            *("--name", f"Tenant {client_id}"),
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(both_sides, client_ids))
    return client_ids


# -- results ------------------------------------------------------------------------------------


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with (prefix.parent / (prefix.name + "_stats.csv")).open() as f:
        return list(csv.DictReader(f))


def read_failures(prefix: Path) -> list[dict[str, str]]:
    path = prefix.parent / (prefix.name + "_failures.csv")
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _ms(value: str) -> str:
    try:
        return f"{float(value):.0f}"
    except ValueError:
        return "-"


def stats_rows(stats: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One row per endpoint: the baseline first, then the scenario's, then the total."""

    def order(row: dict[str, str]) -> tuple[int, str]:
        name = row["Name"]
        return (0 if name.startswith("baseline") else 2 if name == "Aggregated" else 1, name)

    rows = []
    for row in sorted(stats, key=order):
        rows.append(
            {
                "endpoint": row["Name"] if row["Name"] != "Aggregated" else "all requests",
                "requests": row["Request Count"],
                "errors": row["Failure Count"],
                "req/s": f"{float(row['Requests/s']):.1f}",
                "p50 ms": _ms(row["50%"]),
                "p95 ms": _ms(row["95%"]),
                "p99 ms": _ms(row["99%"]),
                "max ms": _ms(row["Max Response Time"]),
            }
        )
    return rows


def crashes_in(*logs: Path) -> int:
    """Tracebacks, and gunicorn workers killed for hanging, in these logs."""
    found = 0
    for log in logs:
        with contextlib.suppress(OSError):
            text = log.read_text(errors="replace")
            found += text.count("Traceback (most recent call last)") + text.count("WORKER TIMEOUT")
    return found


# -- the run ------------------------------------------------------------------------------------


@contextlib.contextmanager
def only_run() -> Iterator[None]:
    """One load test at a time on this machine: they would share the database and Redis."""
    import fcntl

    with open(Path(tempfile.gettempdir()) / "bottega-load.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BenchError("another load test is running on this machine") from exc
        yield


def run(options: Options) -> int:
    with contextlib.ExitStack() as stack:
        stack.enter_context(only_run())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bottega-load-")))
        niced = ["nice", "-n", str(options.nice)] if options.nice else []
        prioritise(os.getpid(), options.nice)  # the flask commands run in this session
        pg_url = own_postgres(tmp, niced, stack) if options.own_postgres else options.pg_url
        database_url = stack.enter_context(load_database(pg_url, options.keep_db))
        flush_redis(options.redis_url)
        lms_port, tool_port = free_port(), free_port()
        lms_url, tool_url = f"http://127.0.0.1:{lms_port}", f"http://127.0.0.1:{tool_port}"
        base_env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
        base_env["PYTHONPATH"] = str(ROOT)
        lms_server = start_server(
            "LMS",
            [*niced, sys.executable, str(ROOT / "bench" / "_platform.py"), "--port", str(lms_port)],
            base_env,
            tmp / "lms.log",
        )
        stack.callback(lms_server.stop)
        prioritise(lms_server.proc.pid, options.nice)
        env = {
            **base_env,
            "BOTTEGA_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PUBLIC_URL": tool_url,
            "KEYS_DIR": str(tmp / "keys"),
            "INSTANCE_PATH": str(tmp / "instance"),
            "DATABASE_URL": database_url,
            "REDIS_URL": options.redis_url,
        }
        print(f"migrating {DATABASE} ...", flush=True)
        flask(niced, env, "db", "upgrade")
        gunicorn = [
            *niced,
            str(BIN / "gunicorn"),
            *("-w", str(options.workers), "-k", "gthread", "--threads", str(options.threads)),
            *("-b", f"127.0.0.1:{tool_port}", "--timeout", "60"),
            # The users talk to gunicorn directly (in production nginx holds their connections).
            # gunicorn closes a connection idle for --keep-alive seconds (default 2), which races
            # with a user reusing it after a pause: browsers send such a request again, the
            # load test's client reports it as an error. So keep connections longer than a pause.
            *("--keep-alive", str(options.keep_alive), "wsgi:app"),
        ]
        tool = start_server("tool (gunicorn)", gunicorn, env, tmp / "tool.log")
        stack.callback(tool.stop)
        prioritise(tool.proc.pid, options.nice)
        job_workers: list[Server] = []
        for n in range(options.job_workers):
            worker = start_server(
                f"job worker {n}",
                [*niced, str(BIN / "flask"), "--app", "wsgi", "jobs", "work"],
                env,
                tmp / f"jobs-{n}.log",
            )
            stack.callback(worker.stop)
            prioritise(worker.proc.pid, options.nice)
            job_workers.append(worker)
        wait_until_up(lms_server, lms_url + "/bench/stats")
        wait_until_up(tool, tool_url + "/healthz")
        lms = Lms(lms_server, lms_url)
        run_id = uuid.uuid4().hex[:6]
        print(f"registering {options.tenants} tenants ...", flush=True)
        client_ids = register_tenants(lms, env, tool_url, options.tenants, run_id, niced)

        prefix = tmp / "locust"
        total_users = options.users + BASELINE_USERS
        locust_env = {
            **base_env,
            "LOAD_LMS_URL": lms_url,
            "LOAD_TENANTS": ",".join(client_ids),
            "LOAD_RUN": run_id,
        }
        command = [
            *niced,
            str(BIN / "locust"),
            *("-f", str(LOCUSTFILE), "--headless", "--host", tool_url),
            *("-u", str(total_users), "-r", str(options.spawn_rate)),
            *("-t", f"{options.duration}s", "--stop-timeout", "30"),
            *("--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"),
        ]
        print(
            f"locust: {options.users} users of {options.tenants} tenants (+{BASELINE_USERS} "
            f"baseline) for {options.duration} s against gunicorn -w {options.workers} "
            f"--threads {options.threads}, PostgreSQL {DATABASE}"
            f"{' (own server)' if options.own_postgres else ''}, Redis {options.redis_url}"
            f"{f', nice {options.nice}' if options.nice else ''}",
            flush=True,
        )
        busy0, wall0 = machine_busy(), time.monotonic()
        load0 = os.getloadavg()
        tool0, lms0 = tree_cpu(tool.proc.pid).seconds, tree_cpu(lms_server.proc.pid).seconds
        jobs0 = sum(tree_cpu(w.proc.pid).seconds for w in job_workers)
        with (tmp / "locust.log").open("wb") as out:
            locust = subprocess.Popen(
                command,
                cwd=ROOT,
                env=locust_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            stack.callback(lambda: locust.poll() is None and locust.terminate())
            prioritise(locust.pid, options.nice)
            locust_cpu = 0.0
            loads = []
            while locust.poll() is None:
                time.sleep(5)
                loads.append(os.getloadavg()[0])
                with contextlib.suppress(BenchError):
                    locust_cpu = tree_cpu(locust.pid).seconds
        wall = time.monotonic() - wall0
        busy = machine_busy() - busy0
        tool_cpu = tree_cpu(tool.proc.pid).seconds - tool0
        lms_cpu = tree_cpu(lms_server.proc.pid).seconds - lms0
        jobs_cpu = sum(tree_cpu(w.proc.pid).seconds for w in job_workers) - jobs0
        stats = read_stats(prefix)
        failures = read_failures(prefix)
        crashes = crashes_in(tool.log, *(w.log for w in job_workers))
        rows = stats_rows(stats)
        others = busy - tool_cpu - lms_cpu - jobs_cpu - locust_cpu
        machine = {
            "wall s": f"{wall:.0f}",
            "machine busy (of 2 CPUs)": f"{busy / wall:.2f}",
            "tool (gunicorn)": f"{tool_cpu / wall:.2f}",
            "job worker": f"{jobs_cpu / wall:.2f}",
            "test LMS": f"{lms_cpu / wall:.2f}",
            "locust": f"{locust_cpu / wall:.2f}",
            "PostgreSQL, Redis and other sessions": f"{others / wall:.2f}",
            "load average (1 min) before / mean / max": (
                f"{load0[0]:.1f} / {sum(loads) / max(1, len(loads)):.1f} / {max(loads or [0]):.1f}"
            ),
        }
        print()
        print(markdown_table(rows))
        print()
        print("CPUs used during the run:")
        print(markdown_table([machine]))
        if failures:
            print("\nErrors:")
            print(
                markdown_table(
                    [
                        {
                            "endpoint": f["Name"],
                            "error": f["Error"][:160],
                            "count": f["Occurrences"],
                        }
                        for f in failures
                    ]
                )
            )
        total_errors = sum(int(r["Failure Count"]) for r in stats if r["Name"] == "Aggregated")
        print(
            f"\n{total_errors} failed requests; {crashes} tracebacks or worker timeouts in the "
            f"tool's and job workers' logs; locust exit status {locust.returncode}"
        )
        if crashes:
            print("\nlast lines of the tool's log:\n" + tool.log_tail(40))
        if locust.returncode not in (0, 1):
            print((tmp / "locust.log").read_text(errors="replace")[-3000:])
        if options.logs is not None:
            options.logs.mkdir(parents=True, exist_ok=True)
            for log in (
                tool.log,
                lms_server.log,
                tmp / "locust.log",
                *(w.log for w in job_workers),
            ):
                with contextlib.suppress(OSError):
                    (options.logs / log.name).write_bytes(log.read_bytes())
        if options.json_out is not None:
            options.json_out.write_text(
                json.dumps(
                    {
                        "options": {k: str(v) for k, v in vars(options).items()},
                        "rows": rows,
                        "machine": machine,
                        "failures": failures,
                        "tracebacks": crashes,
                    },
                    indent=2,
                )
            )
        return 0 if total_errors == 0 and crashes == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        return run(options)
    except BenchError as exc:
        print(f"load test failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("load test interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
