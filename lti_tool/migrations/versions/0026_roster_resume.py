"""roster sync: where a full sync stopped midway goes on

Revision ID: 0026_roster_resume
Revises: 0025_notification_mail
Create Date: 2026-11-26 15:00:00

A full roster sync longer than one job attempt (JOBS_TIMEOUT) started again from page 1 on
every attempt and never completed. roster_sync now keeps, page by page, the LMS's link to the
next page, when the run began (enrolments confirmed since then count as listed) and how far it
got; the next attempt goes on from there.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0026_roster_resume"
down_revision = "0025_notification_mail"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("roster_sync", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resume_url", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("resume_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("resume_pages", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("resume_members", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("roster_sync", schema=None) as batch_op:
        batch_op.drop_column("resume_members")
        batch_op.drop_column("resume_pages")
        batch_op.drop_column("resume_since")
        batch_op.drop_column("resume_url")
