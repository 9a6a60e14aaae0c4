"""The test LMS in its own process, plus a JSON control API for the benchmark (loopback only)."""

# python bench/_platform.py --port PORT. Besides lti_tool.demo.platform's routes it serves:
#   POST /bench/register  Platform.register_tool keyword arguments, with client_id
#   POST /bench/prepare   {"client_id": ..., "launches": [prepare_launch kwargs, ...]}
#                         -> {"login_urls": [...]}
#   GET  /bench/stats     {"jwks_requests": N, "hits": {path: N}}

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections import Counter
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.serving import make_server

from lti_tool.demo.platform import create_platform_app, get_platform

# Only these prepare_launch arguments may come over the control API (plain JSON values).
LAUNCH_FIELDS = frozenset(
    {
        "deployment_id",
        "user",
        "roles",
        "context",
        "resource_link",
        "custom",
        "launch_presentation",
    }
)


def build_app(issuer: str) -> Flask:
    """The demo platform app plus the /bench control routes and a per-route hit counter."""
    app = create_platform_app(issuer)
    platform = get_platform(app)
    hits: Counter[str] = Counter()
    lock = threading.Lock()

    @app.before_request
    def _count() -> None:
        with lock:
            hits[request.path] += 1

    @app.post("/bench/register", endpoint="bench_register")
    def register() -> ResponseReturnValue:
        """Register the tool, as an LMS admin would."""
        body: dict[str, Any] = request.get_json(force=True)
        client_id = body.pop("client_id")
        platform.register_tool(client_id, **body)
        return jsonify(client_id=client_id)

    @app.post("/bench/prepare", endpoint="bench_prepare")
    def prepare() -> ResponseReturnValue:
        """Prepare launches and answer their login URLs, in order."""
        body: dict[str, Any] = request.get_json(force=True)
        client_id = str(body["client_id"])
        urls = []
        for spec in body["launches"]:
            unknown = set(spec) - LAUNCH_FIELDS
            if unknown:
                return jsonify(error=f"unknown launch fields {sorted(unknown)}"), 400
            urls.append(platform.prepare_launch(client_id, **spec).login_url)
        return jsonify(login_urls=urls)

    @app.get("/bench/stats", endpoint="bench_stats")
    def stats() -> ResponseReturnValue:
        """Request counters: /jwks fetches and hits per path."""
        with lock:
            counts = dict(hits)
        with platform.lock:
            jwks = platform.jwks_requests
        return jsonify(jwks_requests=jwks, hits=counts)

    return app


def main() -> None:
    """Serve the platform threaded on 127.0.0.1:PORT until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # One log line per request would cost more CPU than the platform's own work.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    issuer = f"http://127.0.0.1:{args.port}"
    server = make_server("127.0.0.1", args.port, build_app(issuer), threaded=True)
    # serve_forever blocks the main thread; a signal handler must stop it from another thread.
    signal.signal(
        signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
    )
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
