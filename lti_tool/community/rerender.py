"""Stored HTML rendered again from its Markdown, after a change to the renderer or its allowlist.

Posts keep the HTML ``content.render_markdown`` made when they were written (pages do not parse
Markdown on every view), so a renderer change reaches old posts only through this backfill. It
writes the HTML column alone, with a plain UPDATE: no edit time moves, nobody is notified, and
a post whose HTML is already current is not written at all (running it twice changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, bindparam, select, update
from sqlalchemy.orm import Session

from lti_tool.community.content import render_markdown
from lti_tool.community.dashboard.models import Playbook
from lti_tool.community.groups.models import Group, GroupPost
from lti_tool.community.moderation.models import ConductVersion
from lti_tool.community.qa.models import Answer, Comment, Question
from lti_tool.community.welcome.models import Introduction, Welcome

BATCH = 500  # rows read, rendered and committed together: bounded memory on big installs


@dataclass(frozen=True)
class StoredText:
    """A column of Markdown and the column holding its rendered HTML."""

    kind: str  # what an operator reads in the counts
    model: Any
    source: str
    target: str

    @property
    def table(self) -> Table:
        table: Table = self.model.__table__
        return table


# Every stored rendering (grep ``render_markdown`` when adding one).
STORED: tuple[StoredText, ...] = (
    StoredText("questions", Question, "body", "body_html"),
    StoredText("answers", Answer, "body", "body_html"),
    StoredText("comments", Comment, "body", "body_html"),
    StoredText("group posts", GroupPost, "body", "body_html"),
    StoredText("group meeting notes", Group, "meeting_note", "meeting_note_html"),
    StoredText("introductions", Introduction, "body", "body_html"),
    StoredText("introduction replies", Welcome, "body", "body_html"),
    StoredText("codes of conduct", ConductVersion, "body", "body_html"),
    StoredText("staff playbooks", Playbook, "body", "body_html"),
)


@dataclass(frozen=True)
class RerenderCount:
    """How many rows of one kind were read, and how many had stale HTML (rendered anew)."""

    kind: str
    rendered: int
    changed: int


def rerender_all(
    session: Session,
    course_id: int | None = None,
    *,
    batch: int = BATCH,
    on_kind: Callable[[RerenderCount], None] | None = None,
) -> list[RerenderCount]:
    """Render every stored text of every kind again (of one course, or all); commits each batch.

    ``on_kind`` hears each kind's count as soon as it is done (a long run shows progress).
    """
    counts = []
    for stored in STORED:
        count = rerender_kind(session, stored, course_id, batch=batch)
        counts.append(count)
        if on_kind is not None:
            on_kind(count)
    return counts


def rerender_kind(
    session: Session, stored: StoredText, course_id: int | None = None, *, batch: int = BATCH
) -> RerenderCount:
    """Render one kind's stored texts again, ``batch`` rows at a time, a commit per batch."""
    rendered = changed = 0
    for rows in _batches(session, stored, course_id, batch):
        fresh = [
            {"_key": key, "_body": body, "_html": html}
            for key, body, old in rows
            if (html := _html(body)) != old
        ]
        if fresh:
            session.execute(_update(stored), fresh)
        session.commit()
        rendered += len(rows)
        changed += len(fresh)
    return RerenderCount(stored.kind, rendered, changed)


def _html(body: str | None) -> str:
    return str(render_markdown(body)) if body else ""


def _key(table: Table) -> Column[Any]:
    (key,) = table.primary_key.columns  # every stored kind has a one-column key
    return key


def _batches(
    session: Session, stored: StoredText, course_id: int | None, size: int
) -> Iterator[list[tuple[Any, str, str]]]:
    """Rows by key order, resumed after the last key seen (keyset paging: no OFFSET scans, and
    rows written meanwhile are neither skipped nor read twice)."""
    table = stored.table
    key = _key(table)
    query = select(key, table.c[stored.source], table.c[stored.target]).order_by(key).limit(size)
    if course_id is not None:
        query = query.where(table.c.course_id == course_id)
    last = None
    while True:
        page = query if last is None else query.where(key > last)
        rows = [(row[0], row[1], row[2]) for row in session.execute(page)]
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        last = rows[-1][0]


def _update(stored: StoredText) -> Any:
    """An UPDATE of the HTML column only; a column with an ``onupdate`` default keeps its value
    (a re-rendering is no edit). Only while the Markdown is the one rendered: a member's edit
    made meanwhile keeps the HTML of what they wrote."""
    table = stored.table
    kept = {c.name: c for c in table.columns if c.onupdate is not None}
    return (
        update(table)
        .where(_key(table) == bindparam("_key"), table.c[stored.source] == bindparam("_body"))
        .values({stored.target: bindparam("_html"), **kept})
    )
