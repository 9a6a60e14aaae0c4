"""The Q&A course world serves the welcome loop too."""

from __future__ import annotations

from ..qa.conftest import site  # noqa: F401
