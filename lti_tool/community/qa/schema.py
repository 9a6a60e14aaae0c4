"""Search objects the ORM cannot describe, and an Alembic hook that leaves them alone.

Migrations make them by hand: on SQLite the FTS5 table ``qa_question_fts`` (with its shadow
tables and sync triggers, 0004); on PostgreSQL the table ``qa_question_search`` (a tsvector per
question, with its indexes) and the trigger on ``qa_question`` that fills it (0019; since 0020 it
takes the course prefixes off the stored forms, see search.py). Alembic's
autogenerate compares the database with the models and would otherwise propose to drop them in
every future migration (and ``compare_metadata`` would never be empty), so they are filtered out
of its proposals here.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate.compare import comparators
from alembic.operations import ops
from alembic.util import DispatchPriority, PriorityDispatchResult

FTS_TABLE = "qa_question_fts"
SEARCH_TABLE = "qa_question_search"
# FTS5 keeps its index in these shadow tables (https://sqlite.org/fts5.html#shadow_tables).
HAND_MADE_TABLES = frozenset(
    {FTS_TABLE, SEARCH_TABLE}
    | {f"{FTS_TABLE}_{suffix}" for suffix in ("data", "idx", "docsize", "config")}
)
HAND_MADE_INDEXES = frozenset({"ix_qa_question_search_gin", "ix_qa_question_search_course_created"})


def _is_hand_made(op: Any) -> bool:
    if isinstance(op, ops.DropTableOp | ops.CreateTableOp):
        return op.table_name in HAND_MADE_TABLES
    if isinstance(op, ops.DropIndexOp | ops.CreateIndexOp):
        return op.index_name in HAND_MADE_INDEXES
    return False


def _without_hand_made(container: Any) -> None:
    kept = []
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            _without_hand_made(op)
            if op.ops:
                kept.append(op)
        elif not _is_hand_made(op):
            kept.append(op)
    container.ops = kept


@comparators.dispatch_for("autogenerate", priority=DispatchPriority.LAST)
def _leave_search_objects_alone(
    autogen_context: Any, upgrade_ops: ops.UpgradeOps
) -> PriorityDispatchResult:
    # Runs after Alembic's own comparison of tables and indexes (priority LAST).
    _without_hand_made(upgrade_ops)
    return PriorityDispatchResult.CONTINUE
