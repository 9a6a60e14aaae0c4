"""privacy: members' erasure requests and the erasure log

Revision ID: 0015_privacy
Revises: 0014_engagement_week
Create Date: 2026-11-25 21:10:00

The log holds no personal data: the member id names a row that erasure made anonymous.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_privacy'
down_revision = '0014_engagement_week'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('privacy_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handled_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_privacy_request_course_id_course'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['handled_by'], ['member.id'], name=op.f('fk_privacy_request_handled_by_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_privacy_request_member_id_member'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_privacy_request_platform_id_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_request'))
    )
    with op.batch_alter_table('privacy_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_request_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_privacy_request_platform_id'), ['platform_id'], unique=False)

    op.create_table('privacy_erasure_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('route', sa.String(length=16), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_privacy_erasure_log_member_id_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_privacy_erasure_log_platform_id_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_erasure_log'))
    )
    with op.batch_alter_table('privacy_erasure_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_erasure_log_platform_id'), ['platform_id'], unique=False)


def downgrade():
    with op.batch_alter_table('privacy_erasure_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_erasure_log_platform_id'))
    op.drop_table('privacy_erasure_log')
    with op.batch_alter_table('privacy_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_request_platform_id'))
        batch_op.drop_index(batch_op.f('ix_privacy_request_member_id'))
    op.drop_table('privacy_request')
