"""lti login state, key set cache, community manager flag, placement services

Revision ID: 0002_lti_state
Revises: 0001_tenancy
Create Date: 2026-11-25 15:39:08.339611

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0002_lti_state"
down_revision = "0001_tenancy"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lti_key_set_cache',
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('keys', sa.JSON(), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_lti_key_set_cache_platform_id_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('platform_id', name=op.f('pk_lti_key_set_cache'))
    )
    op.create_table('lti_login_state',
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('binding', sa.String(length=64), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('target_link_uri', sa.Text(), nullable=False),
    sa.Column('storage_target', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_lti_login_state_platform_id_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('state', name=op.f('pk_lti_login_state')),
    sa.UniqueConstraint('nonce', name=op.f('uq_lti_login_state_nonce'))
    )
    with op.batch_alter_table('lti_login_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_login_state_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('community_manager', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('placement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('services', sa.JSON(), server_default='{}', nullable=False))



def downgrade():
    with op.batch_alter_table('placement', schema=None) as batch_op:
        batch_op.drop_column('services')

    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.drop_column('community_manager')

    with op.batch_alter_table('lti_login_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_login_state_expires_at'))

    op.drop_table('lti_login_state')
    op.drop_table('lti_key_set_cache')
