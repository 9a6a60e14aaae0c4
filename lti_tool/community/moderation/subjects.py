"""What moderation knows about a flagged post, from the capability that owns it.

Moderation never imports Q&A or groups: each capability registers a resolver for its subject
types (``register("qa_answer", ...)``), and the queue asks it for the posts it shows. A type
nobody registered still works (flags, hiding, audit); it just shows no text.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Subject:
    """A post as the moderation pages show it."""

    subject_type: str
    subject_id: int
    author_id: int | None
    anonymous: bool
    title: str  # plain text: the question's title, the group's name...
    excerpt: str  # plain text
    endpoint: str | None = None  # where to see it in context: url_for(endpoint, lid=..., **values)
    values: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


# (session, course_id, subject ids) -> the subjects of that course among those ids
Resolver = Callable[[Session, int, Collection[int]], dict[int, Subject]]

_resolvers: dict[str, Resolver] = {}


def register(subject_type: str, resolver: Resolver) -> None:
    """Let moderation show posts of ``subject_type`` (idempotent)."""
    _resolvers[subject_type] = resolver


def registered(subject_type: str) -> bool:
    """Whether a capability told moderation how to show posts of this type."""
    return subject_type in _resolvers


def resolve(
    session: Session, course_id: int, keys: Collection[tuple[str, int]]
) -> dict[tuple[str, int], Subject]:
    """The subjects of a course for (type, id) keys; one query per registered type at most."""
    by_type: dict[str, set[int]] = {}
    for subject_type, subject_id in keys:
        by_type.setdefault(subject_type, set()).add(subject_id)
    found: dict[tuple[str, int], Subject] = {}
    for subject_type, ids in by_type.items():
        resolver = _resolvers.get(subject_type)
        if resolver is None:
            continue
        for subject_id, subject in resolver(session, course_id, ids).items():
            found[(subject_type, subject_id)] = subject
    return found
