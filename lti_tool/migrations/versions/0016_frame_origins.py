"""lti_frame_origin: origins allowed to frame the tool, per registration (CSP frame-ancestors)

Revision ID: 0016_frame_origins
Revises: 0015_privacy
Create Date: 2026-11-25 21:00:00

A registration's own URLs give its default origins (computed); rows add origins learnt from
validated launches and origins an administrator added.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_frame_origins'
down_revision = '0015_privacy'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lti_frame_origin',
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('origin', sa.String(length=255), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_lti_frame_origin_platform_id_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('platform_id', 'origin', name=op.f('pk_lti_frame_origin'))
    )


def downgrade():
    op.drop_table('lti_frame_origin')
