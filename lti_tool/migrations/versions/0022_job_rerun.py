"""jobs: remember a request made while the same key's job is running

Revision ID: 0022_job_rerun
Revises: 0021_qa_search_gin_no_pending
Create Date: 2026-11-26 11:40:00

A push or roster sync asked for while the same placement's or course's job was running used to
be dropped (enqueue returned the running job's id): the instructor's "Send grades now" after a
rubric change waited for the next scheduled run. job_outbox.rerun (with the request's payload in
rerun_payload) marks such a row; when its attempt ends it is queued again at once, under the
same key, so the two never run side by side. Existing rows are not asked for again.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0022_job_rerun"
down_revision = "0021_qa_search_gin_no_pending"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("job_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rerun", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("rerun_payload", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("job_outbox", schema=None) as batch_op:
        batch_op.drop_column("rerun_payload")
        batch_op.drop_column("rerun")
