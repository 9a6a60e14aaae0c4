"""privacy_erasure_log.subject_hash: erased people are not brought back by roster syncs

Revision ID: 0017_erasure_subject
Revises: 0016_frame_origins
Create Date: 2026-11-26 00:30:00

A one-way hash of the registration and LMS user id of each erased person (a suppression list):
a roster sync skips them; a launch of their own makes a new member.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_erasure_subject'
down_revision = '0016_frame_origins'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('privacy_erasure_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_privacy_erasure_log_subject_hash'), ['subject_hash'], unique=False
        )


def downgrade():
    with op.batch_alter_table('privacy_erasure_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_erasure_log_subject_hash'))
        batch_op.drop_column('subject_hash')
