"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi ...``."""

import sys

from lti_tool import create_app
from lti_tool.config import ConfigError

# gunicorn stops ("App failed to load") when a worker exits with this status, instead of
# starting new workers that fail the same way forever; any other caller sees a non-zero exit.
APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigError as exc:
    # A setting to fix, not a bug: one line the operator can act on, no traceback.
    print(f"Bottega cannot start: {exc}", file=sys.stderr)
    raise SystemExit(APP_LOAD_ERROR) from None
