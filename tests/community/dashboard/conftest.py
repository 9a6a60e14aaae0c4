"""Dashboard fixtures: the Q&A course world and the real-HTTP LMS."""

from __future__ import annotations

from ..qa.conftest import lms, site, tool_server, world  # noqa: F401  (shared fixtures)
