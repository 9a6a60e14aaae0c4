"""Prometheus metrics, shared by every process through PROMETHEUS_MULTIPROC_DIR.

prometheus_client chooses its storage when it is imported: with PROMETHEUS_MULTIPROC_DIR set,
each process writes its counters to its own memory-mapped files in that folder and a scrape
adds them up, so several gunicorn workers and `jobs work` processes report as one. The folder
must exist and be emptied when the service starts (not when one worker restarts). Bottega keeps
no gauges in these files, so gunicorn's ``child_exit`` needs no ``mark_process_dead``.

Labels stay bounded: Flask endpoint names (not paths), HTTP status codes, job kinds, and four
LMS services. Queue depth is read from the outbox table at scrape time (``lti_tool.core``).
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

__all__ = ["CONTENT_TYPE_LATEST", "exposition", "job_done", "lms_call_failed", "request_done"]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "bottega_http_requests",
    "HTTP requests answered, by Flask endpoint, method and status code.",
    ["endpoint", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "bottega_http_request_duration_seconds",
    "Time from the request reaching the app to its response, by Flask endpoint and method.",
    ["endpoint", "method"],
    buckets=LATENCY_BUCKETS,
)
JOB_ATTEMPTS = Counter(
    "bottega_job_attempts",
    "Job attempts finished, by kind and outcome (done, retry, dead, lost).",
    ["kind", "outcome"],
)
JOB_FAILURES = Counter(
    "bottega_job_failures",
    "Job attempts that failed (to be retried, or dead), by kind.",
    ["kind"],
)
JOB_SECONDS = Histogram(
    "bottega_job_duration_seconds",
    "Time one job attempt ran, by kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
)
LMS_ERRORS = Counter(
    "bottega_lms_call_errors",
    "Failed calls to LMSs, by service (jwks, token, nrps, ags, registration) and HTTP status "
    "(or timeout, unreachable, bad_response).",
    ["service", "status"],
)


def request_done(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    name = endpoint or "unmatched"
    verb = method if method in METHODS else "OTHER"
    REQUESTS.labels(name, verb, str(status)).inc()
    REQUEST_SECONDS.labels(name, verb).observe(seconds)


def job_done(kind: str, outcome: str, seconds: float) -> None:
    """Count one finished job attempt."""
    JOB_ATTEMPTS.labels(kind, outcome).inc()
    if outcome in ("retry", "dead"):
        JOB_FAILURES.labels(kind).inc()
    JOB_SECONDS.labels(kind).observe(seconds)


def lms_call_failed(service: str, status: int | str) -> None:
    """Count one failed LMS call: an HTTP status code, or what went wrong without one."""
    LMS_ERRORS.labels(service, str(status)).inc()


def exposition(multiproc_dir: Path | None, *extra: CollectorRegistry) -> bytes:
    """The text a scrape receives: every process's metrics, then ``extra`` registries.

    ``multiproc_dir`` is PROMETHEUS_MULTIPROC_DIR from the settings; it counts only when
    prometheus_client saw the variable at import (otherwise this process keeps its own values).
    """
    if multiproc_dir is not None and values.ValueClass is not values.MutexValue:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiproc_dir))
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return body + b"".join(generate_latest(r) for r in extra)
