"""Dashboard fixtures: the Q&A course world, plus helpers to age enrolments and add events."""

from __future__ import annotations

from ..qa.conftest import site, world  # noqa: F401  (same course world)
