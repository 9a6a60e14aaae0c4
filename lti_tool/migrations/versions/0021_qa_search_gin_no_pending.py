"""qa search: PostgreSQL's search index without a pending list (fastupdate off)

Revision ID: 0021_qa_search_gin_no_pending
Revises: 0020_qa_search_course_terms
Create Date: 2026-11-26 07:30:00

A GIN index with ``fastupdate`` (PostgreSQL's default) collects new entries in an unsorted
pending list, up to 4 MB, and every search scans that list from end to end until a vacuum or
a full list moves it into the index. Questions and answers are written at the pace people type
and searched far more often, so the index of qa_question_search is kept without one: each write
updates the index at once (a millisecond or so), and a search never pays for the list. On a
20,000-question course just loaded, the planner found the index with a full pending list too
costly and read the whole table instead: 12.5 ms of CPU for a search that takes 2.8 once the
list is merged. The list that exists is merged here. SQLite: nothing to do.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0021_qa_search_gin_no_pending"
down_revision = "0020_qa_search_course_terms"
branch_labels = None
depends_on = None

INDEX = "ix_qa_question_search_gin"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER INDEX {INDEX} SET (fastupdate = off)")
    op.execute(f"SELECT gin_clean_pending_list('{INDEX}'::regclass)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER INDEX {INDEX} RESET (fastupdate)")
