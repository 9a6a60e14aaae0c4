"""Sentiment fixtures: the Q&A course world (members of each role, actors for them)."""

from __future__ import annotations

from ..qa.conftest import site, world  # noqa: F401  (shared fixtures)
