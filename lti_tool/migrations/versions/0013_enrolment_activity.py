"""enrolment activity: last participation and first recognition per enrolment

Revision ID: 0013_enrolment_activity
Revises: 0012_dashboard
Create Date: 2026-11-25 19:55:00

Kept from now on by engagement.record(); filled here from the events already recorded, so the
dashboard never needs to scan every event for "last active" or "recognised yet".
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_enrolment_activity'
down_revision = '0012_dashboard'
branch_labels = None
depends_on = None

RECOGNITION = ("answer_accepted", "endorsement_received", "upvote_received", "kudos_received")


def upgrade():
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_active_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('recognised_at', sa.DateTime(timezone=True), nullable=True))
    kinds = ", ".join(f"'{k}'" for k in RECOGNITION)
    op.execute(
        "UPDATE enrolment SET "
        "last_active_at = (SELECT max(e.created_at) FROM engagement_event e "
        "WHERE e.course_id = enrolment.course_id AND e.member_id = enrolment.member_id "
        f"AND e.kind NOT IN ({kinds})), "
        "recognised_at = (SELECT min(e.created_at) FROM engagement_event e "
        "WHERE e.course_id = enrolment.course_id AND e.member_id = enrolment.member_id "
        f"AND e.kind IN ({kinds}))"
    )


def downgrade():
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.drop_column('recognised_at')
        batch_op.drop_column('last_active_at')
