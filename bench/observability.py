"""In-process cost of the observability hooks per request (request id, log context, metrics).

Builds the app on a throw-away SQLite file and measures the thread CPU of requests through
werkzeug's test client to a light page (the JWKS), with the hooks installed and with them
removed, alternating rounds so both see the same machine load; then the hooks alone, called
directly in a request context. Run with PROMETHEUS_MULTIPROC_DIR set to measure the
multiprocess (memory-mapped file) counters production uses.

    .venv/bin/python -m bench.observability -n 5000
    PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) .venv/bin/python -m bench.observability -n 5000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _cpu_per_call(fn: Any, n: int) -> float:
    started = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--path", default="/.well-known/jwks.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        from lti_tool import create_app
        from lti_tool.core import observability

        app = create_app(
            {
                "BOTTEGA_ENV": "test",
                "SECRET_KEY": "bench",
                "INSTANCE_PATH": str(Path(folder) / "instance"),
                "DATABASE_URL": f"sqlite:///{Path(folder) / 'bench.sqlite3'}",
                "KEYS_DIR": str(Path(folder) / "keys"),
                "LOG_LEVEL": "WARNING",
            }
        )
        client = app.test_client()
        before = app.before_request_funcs[None]
        after = app.after_request_funcs[None]

        def hooks(on: bool) -> None:
            for funcs, fn in ((before, observability._start), (after, observability._finish)):
                if on and fn not in funcs:
                    funcs.insert(0, fn)
                elif not on and fn in funcs:
                    funcs.remove(fn)

        def one() -> None:
            response = client.get(args.path)
            assert response.status_code == 200

        _cpu_per_call(one, 200)  # warm up
        with_hooks: list[float] = []
        without: list[float] = []
        for _ in range(args.rounds):
            hooks(True)
            with_hooks.append(_cpu_per_call(one, args.n))
            hooks(False)
            without.append(_cpu_per_call(one, args.n))
        hooks(True)

        def direct() -> None:
            observability._start()
            observability._finish(response)

        with app.test_request_context(args.path, headers={"X-Request-ID": "bench-1"}):
            response = app.response_class("ok")
            alone = min(_cpu_per_call(direct, args.n) for _ in range(args.rounds))

    multiproc = "on" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "off"
    on, off = statistics.median(with_hooks), statistics.median(without)
    print(f"GET {args.path}, {args.n} requests x {args.rounds} rounds, multiprocess {multiproc}")
    print(f"{'':28}{'median µs CPU':>14}")
    print(f"{'with observability hooks':28}{on * 1e6:14.1f}")
    print(f"{'without them':28}{off * 1e6:14.1f}")
    print(f"{'difference':28}{(on - off) * 1e6:14.1f}")
    print(f"{'hooks alone (best round)':28}{alone * 1e6:14.1f}")


if __name__ == "__main__":
    main()
