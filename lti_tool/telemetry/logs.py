"""Log lines: readable text in development, JSON lines in production; never a secret in either.

Every line, whoever logs it (Bottega, a library, gunicorn), goes through one handler on the root
logger (named ``bottega``). Its filter redacts tokens and e-mail addresses from the message and
any traceback; its formatter adds the request id, the tenant and the job from
``lti_tool.telemetry.context``. Gunicorn's access lines are written after the app returned, so
they take the request id and tenant the app left in the WSGI environ instead.

``gunicorn_logconfig_dict()`` and ``ACCESS_LOG_FORMAT`` are for deploy/gunicorn.conf.py.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from lti_tool.telemetry import context

HANDLER_NAME = "bottega"
# Where the app leaves the request's fields for gunicorn's access line (``%({key}e)s``).
ENVIRON_REQUEST_ID = "bottega.request_id"
ENVIRON_TENANT = "bottega.tenant"
ACCESS_LOG_FORMAT = (
    '%(h)s "%(r)s" %(s)s %(b)s %(M)sms '
    "request_id=%({bottega.request_id}e)s tenant=%({bottega.tenant}e)s"
)

# -- redaction ----------------------------------------------------------------------------------

# Names of secrets (not secrets): their values are hidden wherever they appear.
_SECRET_NAMES = "|".join(
    [
        "id_token",
        "access_token",
        "refresh_token",
        "registration_token",
        "client_assertion",
        "client_secret",
        "password",
        "jwt",
        "token",
    ]
)
# Every pattern starts only where a run of its characters starts (a lookbehind) and the e-mail
# parts have RFC sizes: the scan stays linear in the text's length. Without that, a long run of
# letters (a fuzzed or hostile id_token in a refused launch's log line) cost quadratic time:
# 2 s for 20,000 characters, minutes for a few hundred thousand.
_REDACT = re.compile(
    # A JWT (or JWS/JWE): base64url JSON header, payload, signature.
    r"(?P<jwt>(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"
    # An Authorization header value (capitalised: "basic settings" is not a credential).
    r"|(?P<bearer>\b(?-i:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{6,}"
    # name=value in query strings and forms, "name": "value" in JSON and dict reprs.
    rf"|(?P<param>\b(?:{_SECRET_NAMES})(?:[\"']?\s*[:=]\s*[\"']?))[^\s&\"',;\\}}]+"
    r"|(?P<email>(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@"
    r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z]))",
    re.IGNORECASE,
)


def _replace(match: re.Match[str]) -> str:
    if match.group("jwt"):
        return "[jwt]"
    if match.group("bearer"):
        return match.group("bearer") + "[redacted]"
    if match.group("param"):
        return match.group("param") + "[redacted]"
    return "[email]"


def redact(text: str) -> str:
    """``text`` without JWTs, bearer tokens, secret parameters and e-mail addresses."""
    return _REDACT.sub(_replace, text)


class RedactFilter(logging.Filter):
    """Rewrites a record's message and traceback without secrets or e-mail addresses."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            _take_access_fields(record)
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _take_access_fields(record: logging.LogRecord) -> None:
    """Gunicorn's access line: the app's request id and tenant from the environ atoms."""
    atoms: Any = record.args
    fields = {
        "request_id": atoms.get(f"{{{ENVIRON_REQUEST_ID}}}e"),
        "tenant": atoms.get(f"{{{ENVIRON_TENANT}}}e"),
    }
    record.bottega_fields = {k: v for k, v in fields.items() if v and v != "-"}


# -- formatting ---------------------------------------------------------------------------------


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] | None = getattr(record, "bottega_fields", None)
    if fields is not None:
        return fields
    ctx = context.current()
    if not ctx:
        return ctx
    found = dict(ctx)
    if "platform_id" in found or "course_id" in found:
        found["tenant"] = tenant_label(found.get("platform_id"), found.get("course_id"))
    return found


def tenant_label(platform_id: int | None, course_id: int | None) -> str:
    """``p3/c17``: registration 3, course 17 (``p3`` before a course is known)."""
    label = f"p{platform_id}" if platform_id is not None else "p?"
    return f"{label}/c{course_id}" if course_id is not None else label


class TextFormatter(logging.Formatter):
    """``2026-11-25 20:41:07,120 INFO lti_tool.web.lti [rid=ab12 p3/c17 job=9] message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(bottega_context)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        parts = []
        if "request_id" in fields:
            parts.append(f"rid={fields['request_id']}")
        if "tenant" in fields:
            parts.append(str(fields["tenant"]))
        if "job_id" in fields:
            parts.append(f"job={fields['job_id']}:{fields.get('job_kind', '')}")
        record.bottega_context = f"[{' '.join(parts)}] " if parts else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        fields = _fields(record)
        data.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, default=str, ensure_ascii=False)


def _iso(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _stderr() -> Any:
    # The process's own standard error, not whatever sys.stderr is at the moment: a command's
    # captured output (click's test runner, a redirect in a CLI) must not receive log lines.
    return sys.__stderr__ or sys.stderr


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str = "text", level: str = "INFO") -> logging.Handler:
    """Install (once per process) or update the root handler; returns it.

    Other handlers on the root logger (pytest's, a developer's) are left alone. Under gunicorn
    with ``gunicorn_logconfig_dict()``, the handler already exists and keeps its stream.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.name == HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(_stderr())
        handler.name = HANDLER_NAME
        root.addHandler(handler)
    if not any(isinstance(f, RedactFilter) for f in handler.filters):
        handler.addFilter(RedactFilter())
    handler.setFormatter(formatter_for(log_format))
    root.setLevel(level)
    return handler


def gunicorn_logconfig_dict(log_format: str = "json", level: str = "INFO") -> dict[str, Any]:
    """``logconfig_dict`` for gunicorn: its error and access lines through the same handler."""
    formatter = "lti_tool.telemetry.logs." + (
        "JsonFormatter" if log_format == "json" else "TextFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "lti_tool.telemetry.logs.RedactFilter"}},
        "formatters": {"bottega": {"()": formatter}},
        "handlers": {
            HANDLER_NAME: {
                "class": "logging.StreamHandler",
                "formatter": "bottega",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": [HANDLER_NAME]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }
