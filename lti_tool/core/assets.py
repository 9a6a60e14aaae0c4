"""``static_url`` for templates: the address of a file under static/, built once per process.

Every page links five or six style sheets and scripts; ``url_for('static', ...)`` rebuilds each
address through the URL map on every render. The address depends only on the file and the
application root (``SCRIPT_NAME``, which a proxy may set per request), so it is kept per pair.
"""

from __future__ import annotations

from flask import Flask, has_request_context, request, url_for

_MAX_KEPT = 256  # a proxy-set root comes from a header: never let the table grow without bound
_kept: dict[tuple[str, str], str] = {}


def static_url(filename: str) -> str:
    """``url_for("static", filename=filename)``, remembered."""
    if not has_request_context():  # url_for's own answer (or error) outside a request
        return url_for("static", filename=filename)
    key = (request.script_root, filename)
    found = _kept.get(key)
    if found is None:
        if len(_kept) >= _MAX_KEPT:
            _kept.clear()
        found = _kept[key] = url_for("static", filename=filename)
    return found


def install_static_url(app: Flask) -> None:
    app.add_template_global(static_url)
