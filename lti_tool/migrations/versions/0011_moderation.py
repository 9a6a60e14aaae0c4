"""moderation: flag queue states, hidden posts, warnings, audit trail, code of conduct

Revision ID: 0011_moderation
Revises: 0010_sentiment
Create Date: 2026-11-25 18:15:00

Flags get the moderator's reason; hidden posts, the audit trail (warnings included) and the
versioned code of conduct with its acceptances get their tables. Flags stored as "actioned"
(the earlier name) become "resolved".
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_moderation'
down_revision = '0010_sentiment'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('moderation_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('target_member_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('flag_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['member.id'], name=op.f('fk_moderation_action_actor_id_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_moderation_action_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_member_id'], ['member.id'], name=op.f('fk_moderation_action_target_member_id_member'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_action'))
    )
    with op.batch_alter_table('moderation_action', schema=None) as batch_op:
        batch_op.create_index('ix_moderation_action_course_created', ['course_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_moderation_action_target_member_id'), ['target_member_id'], unique=False)

    op.create_table('moderation_conduct',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_moderation_conduct_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['member.id'], name=op.f('fk_moderation_conduct_created_by_member'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_conduct')),
    sa.UniqueConstraint('course_id', 'version', name=op.f('uq_moderation_conduct_course_id_version'))
    )
    op.create_table('moderation_conduct_acceptance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_moderation_conduct_acceptance_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_moderation_conduct_acceptance_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_conduct_acceptance')),
    sa.UniqueConstraint('course_id', 'member_id', 'version', name=op.f('uq_moderation_conduct_acceptance_course_id_member_id_version'))
    )
    with op.batch_alter_table('moderation_conduct_acceptance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderation_conduct_acceptance_member_id'), ['member_id'], unique=False)

    op.create_table('moderation_hidden',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('hidden_by', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('hidden_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_moderation_hidden_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hidden_by'], ['member.id'], name=op.f('fk_moderation_hidden_hidden_by_member'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_hidden')),
    sa.UniqueConstraint('subject_type', 'subject_id', name=op.f('uq_moderation_hidden_subject_type_subject_id'))
    )
    with op.batch_alter_table('moderation_hidden', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderation_hidden_course_id'), ['course_id'], unique=False)

    with op.batch_alter_table('moderation_flag', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolution_note', sa.Text(), server_default='', nullable=False))
    op.execute("UPDATE moderation_flag SET status = 'resolved' WHERE status = 'actioned'")



def downgrade():
    with op.batch_alter_table('moderation_flag', schema=None) as batch_op:
        batch_op.drop_column('resolution_note')

    with op.batch_alter_table('moderation_hidden', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_hidden_course_id'))

    op.drop_table('moderation_hidden')
    with op.batch_alter_table('moderation_conduct_acceptance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_conduct_acceptance_member_id'))

    op.drop_table('moderation_conduct_acceptance')
    op.drop_table('moderation_conduct')
    with op.batch_alter_table('moderation_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_action_target_member_id'))
        batch_op.drop_index('ix_moderation_action_course_created')

    op.drop_table('moderation_action')
