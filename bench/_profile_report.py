"""Summaries of what bench/_profiled_wsgi.py recorded: CPU per route and section, hot functions."""

from __future__ import annotations

import json
import pstats
from pathlib import Path
from typing import Any

# pstats keys are (file, line, function); these prefixes are cut to keep labels short.
_PATH_MARKERS = ("site-packages/", "lib/python3.11/", "/lti_tool/")


def _workers(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("worker-*.json"))]


def cpu_by(folder: Path, kind: str, mode: str) -> dict[str, tuple[int, float]]:
    """Calls and CPU seconds per route or section (``kind``) in ``mode``, over all workers."""
    totals: dict[str, tuple[int, float]] = {}
    for worker in _workers(folder):
        for name, (count, seconds) in worker[kind].get(mode, {}).items():
            old_count, old_seconds = totals.get(name, (0, 0.0))
            totals[name] = (old_count + int(count), old_seconds + float(seconds))
    return totals


def load_stats(folder: Path) -> pstats.Stats | None:
    """Every worker's cProfile data merged, or None when there is none."""
    files = sorted(str(p) for p in folder.glob("worker-*.prof"))
    return pstats.Stats(*files) if files else None


def label(key: tuple[str, int, str]) -> str:
    """``package/module.py:line function`` for a pstats key."""
    filename, line, function = key
    if filename == "~":
        return function  # a built-in, e.g. <method 'execute' of 'sqlite3.Cursor' objects>
    for marker in _PATH_MARKERS:
        if marker in filename:
            prefix = "lti_tool/" if marker == "/lti_tool/" else ""
            filename = prefix + filename.split(marker, 1)[1]
            break
    return f"{filename}:{line} {function}"


def top_functions(stats: pstats.Stats, launches: int, count: int) -> tuple[list[str], list[str]]:
    """The ``count`` functions with most cumulative and most own CPU, in ms per launch."""
    # Stats.stats is the table pstats itself prints from: key -> (cc, nc, tt, ct, callers).
    table: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    table = stats.stats  # type: ignore[attr-defined]
    rows = [(label(k), tt, ct, nc) for k, (_cc, nc, tt, ct, _callers) in table.items()]

    def fmt(name: str, seconds: float, calls: int) -> str:
        return f"{seconds * 1000 / launches:7.2f} ms  {calls / launches:6.1f} calls  {name}"

    cumulative = sorted(rows, key=lambda r: r[2], reverse=True)[:count]
    own = sorted(rows, key=lambda r: r[1], reverse=True)[:count]
    return (
        [fmt(n, ct, nc) for n, _tt, ct, nc in cumulative],
        [fmt(n, tt, nc) for n, tt, _ct, nc in own],
    )


def _line(name: str, ms: float, note: str) -> str:
    return f"  {name:<34} {ms:7.2f} ms  {note}"


def report(folder: Path, launches: int, tool_ms_per_launch: float, profiled: int) -> str:
    """CPU per route and section of the plain phase, and the cProfile hotspots of the other."""
    lines = [f"CPU per launch by route ({launches} launches, thread CPU inside the app):"]
    inside = 0.0
    for name, (count, seconds) in sorted(cpu_by(folder, "routes", "cpu").items()):
        inside += seconds * 1000 / launches
        lines.append(_line(name, seconds * 1000 / launches, f"({count / launches:.1f} per launch)"))
    lines.append(_line("inside the app", inside, ""))
    outside = tool_ms_per_launch - inside
    lines.append(_line("gunicorn, sockets, the rest", outside, "(process CPU minus the above)"))

    lines += ["", "CPU per launch by section (inclusive; an indented one is part of the above):"]
    sections = cpu_by(folder, "sections", "cpu")
    workers = _workers(folder)
    order = workers[0].get("section_order", []) if workers else []
    for name in [n for n in order if n in sections]:
        count, seconds = sections[name]
        ms = seconds * 1000 / launches
        lines.append(_line(name, ms, f"({count / launches:.1f} calls per launch)"))
    missing = sorted({m for w in workers for m in w.get("missing_sections", [])})
    if missing:
        lines.append(f"  (not found in this checkout: {', '.join(m.strip() for m in missing)})")

    stats = load_stats(folder)
    if stats is None or not profiled:
        return "\n".join(lines)
    under_profiler = sum(s for _c, s in cpu_by(folder, "routes", "cprofile").values())
    cumulative, own = top_functions(stats, profiled, 40)
    lines += [
        "",
        f"cProfile with a thread-CPU clock, {profiled} more launches: "
        f"{under_profiler * 1000 / profiled:.1f} ms per launch in the app under the profiler "
        "(its overhead inflates pure-Python code most: compare shares, not absolute times)",
        "by cumulative CPU:",
        *("  " + line for line in cumulative),
        "by own CPU:",
        *("  " + line for line in own[:25]),
    ]
    return "\n".join(lines)
