"""The tool's WSGI app, wrapped to measure the CPU time of each request and section (bench only)."""

# gunicorn bench._profiled_wsgi:app, with BENCH_PROFILE_DIR set. The file $BENCH_PROFILE_DIR/mode,
# written by the benchmark between phases, says what to do with each request:
#   missing or empty  nothing (the tool's app as it is);
#   cpu               add the request's thread CPU time to its route, and that of each function
#                     in SECTIONS (wrapped at import) to its section;
#   cprofile          the route's CPU, and cProfile with a thread-CPU clock, so that time spent
#                     waiting (database, network, locks) does not count as work.
# Each worker writes worker-PID.json and worker-PID.prof when it exits. Python 3.11: one cProfile
# per thread works; from 3.12 on only one may be active in a process.

from __future__ import annotations

import atexit
import cProfile
import functools
import importlib
import json
import os
import pstats
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# (label, module that looks the name up at call time, attribute path). A name the tool imported
# with "from x import f" must be patched in the importing module. Missing ones are skipped, so
# the list may name functions an older or newer checkout does not have.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("login: start_login", "lti_tool.web.lti", "start_login"),
    ("launch: validate_launch", "lti_tool.web.lti", "validate_launch"),
    ("  pylti1p3 MessageLaunch()", "lti_tool.lti.launch", "StrictMessageLaunch.__init__"),
    ("  id_token format (pylti1p3)", "lti_tool.lti.launch", "StrictMessageLaunch.header_and_body"),
    ("  platform key lookup", "lti_tool.lti.jwks", "PlatformKeys.key_for"),
    ("  jwt.decode (RS256 + claims)", "jwt", "decode"),
    ("  PyJWT.decode (RS256 + claims)", "jwt.api_jwt", "PyJWT.decode"),
    ("  consume the login (INSERT)", "lti_tool.lti.launch", "consume_login"),
    ("launch: handle_launch (upserts)", "lti_tool.web.lti", "handle_launch"),
    ("launch: remember_launch", "lti_tool.web.lti", "remember_launch"),
    ("launch: open_widget (the page)", "lti_tool.web.lti", "open_widget"),
    ("widget: viewer_for", "lti_tool.courses.access", "viewer_for"),
    ("render_template (widget)", "lti_tool.community.home.views", "render_template"),
    ("render_template (lti pages)", "lti_tool.web.lti", "render_template"),
    ("session cookie: open", "flask.sessions", "SecureCookieSessionInterface.open_session"),
    ("session cookie: save", "flask.sessions", "SecureCookieSessionInterface.save_session"),
    ("SQL: Session.execute (ORM)", "sqlalchemy.orm.session", "Session.execute"),
    ("  Connection.execute (Core)", "sqlalchemy.engine.base", "Connection.execute"),
    ("    DB driver: cursor.execute", "sqlalchemy.engine.default", "DefaultDialect.do_execute"),
    ("SQL: Session.commit", "sqlalchemy.orm.session", "Session.commit"),
    ("SQL: pool checkout (+ pre-ping)", "sqlalchemy.pool.base", "Pool.connect"),
    ("SQL: session teardown (reset)", "sqlalchemy.orm.scoping", "scoped_session.remove"),
)

OUT = Path(os.environ["BENCH_PROFILE_DIR"])
MODE_FILE = OUT / "mode"
_lock = threading.Lock()
_local = threading.local()
_profilers: list[cProfile.Profile] = []
_cpu: dict[str, dict[str, list[float]]] = {}  # mode -> route -> [requests, CPU seconds]
_sections: dict[str, dict[str, list[float]]] = {}  # mode -> label -> [calls, CPU seconds]


def route(path: str) -> str:
    """Group per-launch URLs (``/w/<lid>/``) under one name."""
    if path.startswith("/w/"):
        return "/w/<lid>/"
    return path


def _mode() -> str:
    try:
        return MODE_FILE.read_text().strip()
    except OSError:
        return ""


def _profiler() -> cProfile.Profile:
    profiler: cProfile.Profile | None = getattr(_local, "profiler", None)
    if profiler is None:
        profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
        _local.profiler = profiler
        with _lock:
            _profilers.append(profiler)
    return profiler


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        mode: str = getattr(_local, "mode", "")
        active: set[str] = getattr(_local, "active", set())
        # Only in "cpu" mode (cProfile has its own view), and not again in a recursive call.
        if mode != "cpu" or label in active:
            return function(*args, **kwargs)
        active.add(label)
        begin = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent = time.thread_time() - begin
            active.discard(label)
            with _lock:
                entry = _sections.setdefault(mode, {}).setdefault(label, [0, 0.0])
                entry[0] += 1
                entry[1] += spent

    return timed


def _patch_sections() -> list[str]:
    """Wrap every function of SECTIONS that exists; returns the labels not found."""
    missing = []
    for label, module_name, path in SECTIONS:
        try:
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            # Read through __dict__ for classes so that a plain function is found, not a method.
            found = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        except (ImportError, AttributeError, KeyError):
            missing.append(label)
            continue
        if not callable(found):
            missing.append(label)
            continue
        setattr(owner, name, _timed(label, found))
    return missing


MISSING_SECTIONS = _patch_sections()

from wsgi import app as tool_app  # noqa: E402  (after patching, so create_app sees the wrappers)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The tool's app, measured according to the current mode."""
    mode = _mode()
    if mode not in ("cpu", "cprofile"):
        return tool_app(environ, start_response)
    profiler = _profiler() if mode == "cprofile" else None
    _local.mode, _local.active = mode, set()
    begin = time.thread_time()
    if profiler is not None:
        profiler.enable()
    try:
        return tool_app(environ, start_response)
    finally:
        if profiler is not None:
            profiler.disable()
        spent = time.thread_time() - begin
        _local.mode = ""
        with _lock:
            entry = _cpu.setdefault(mode, {}).setdefault(route(environ["PATH_INFO"]), [0, 0.0])
            entry[0] += 1
            entry[1] += spent


@atexit.register
def _dump() -> None:
    """Write what this worker measured (gunicorn workers exit through sys.exit)."""
    pid = os.getpid()
    with _lock:
        data = {
            "routes": _cpu,
            "sections": _sections,
            "section_order": [label for label, _module, _path in SECTIONS],
            "missing_sections": MISSING_SECTIONS,
        }
        (OUT / f"worker-{pid}.json").write_text(json.dumps(data))
        used = [p for p in _profilers if p.getstats()]
    if used:
        stats = pstats.Stats(used[0])
        for profiler in used[1:]:
            stats.add(profiler)
        stats.dump_stats(OUT / f"worker-{pid}.prof")
