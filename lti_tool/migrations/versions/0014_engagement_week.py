"""engagement_week: finished weeks' event counts per course, read by the dashboard

Revision ID: 0014_engagement_week
Revises: 0013_enrolment_activity
Create Date: 2026-11-25 20:20:00

Filled lazily on the first read of a past week; engagement.record() deletes a week's rows
when an event is recorded into it after the fact.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_engagement_week'
down_revision = '0013_enrolment_activity'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('engagement_week',
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_engagement_week_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('course_id', 'week_start', 'kind', name=op.f('pk_engagement_week'))
    )


def downgrade():
    op.drop_table('engagement_week')
