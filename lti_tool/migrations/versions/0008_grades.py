"""grades: AGS line items, rubrics, score ledger

Revision ID: 0008_grades
Revises: 0007_kudos
Create Date: 2026-11-25 18:15:00

Written by hand after the models and checked against autogenerate: the rubric per graded
placement, the grade push state (line item URL, last result) and the score ledger.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_grades'
down_revision = '0007_kudos'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('grades_rubric',
    sa.Column('placement_id', sa.Integer(), nullable=False),
    sa.Column('question', sa.Double(), nullable=False),
    sa.Column('answer', sa.Double(), nullable=False),
    sa.Column('accepted_answer', sa.Double(), nullable=False),
    sa.Column('endorsement', sa.Double(), nullable=False),
    sa.Column('kudos_received', sa.Double(), nullable=False),
    sa.Column('group_post', sa.Double(), nullable=False),
    sa.Column('weekly_cap', sa.Double(), nullable=True),
    sa.Column('score_maximum', sa.Double(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['placement_id'], ['placement.id'], name=op.f('fk_grades_rubric_placement_id_placement'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['member.id'], name=op.f('fk_grades_rubric_updated_by_member'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('placement_id', name=op.f('pk_grades_rubric'))
    )
    op.create_table('grades_push',
    sa.Column('placement_id', sa.Integer(), nullable=False),
    sa.Column('lineitem_url', sa.Text(), nullable=True),
    sa.Column('lineitem_created', sa.Boolean(), nullable=False),
    sa.Column('lineitem_maximum', sa.Double(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('trigger', sa.String(length=16), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('error_detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['placement_id'], ['placement.id'], name=op.f('fk_grades_push_placement_id_placement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('placement_id', name=op.f('pk_grades_push'))
    )
    op.create_table('grades_score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('placement_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('score_maximum', sa.Double(), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sent_score', sa.Double(), nullable=True),
    sa.Column('sent_maximum', sa.Double(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_grades_score_member_id_member'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['placement_id'], ['placement.id'], name=op.f('fk_grades_score_placement_id_placement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grades_score')),
    sa.UniqueConstraint('placement_id', 'member_id', name=op.f('uq_grades_score_placement_id_member_id'))
    )
    with op.batch_alter_table('grades_score', schema=None) as batch_op:
        batch_op.create_index('ix_grades_score_placement_status', ['placement_id', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('grades_score', schema=None) as batch_op:
        batch_op.drop_index('ix_grades_score_placement_status')

    op.drop_table('grades_score')
    op.drop_table('grades_push')
    op.drop_table('grades_rubric')
