"""qa: comment history, search tuning

Revision ID: 0009_qa_more
Revises: 0008_grades
Create Date: 2026-11-25 18:15:00

Comments are edited with history: ``qa_comment.edited_at``, and ``qa_revision.comment_id`` (a
revision is now of exactly one question, answer or comment).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_qa_more'
down_revision = '0008_grades'
branch_labels = None
depends_on = None

ONE_OF_TWO = '(question_id IS NULL) <> (answer_id IS NULL)'
ONE_OF_THREE = (
    'CASE WHEN question_id IS NULL THEN 0 ELSE 1 END + '
    'CASE WHEN answer_id IS NULL THEN 0 ELSE 1 END + '
    'CASE WHEN comment_id IS NULL THEN 0 ELSE 1 END = 1'
)


def upgrade():
    with op.batch_alter_table('qa_comment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('qa_revision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('comment_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_qa_revision_comment_id'), ['comment_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_qa_revision_comment_id_qa_comment'),
            'qa_comment', ['comment_id'], ['id'], ondelete='CASCADE',
        )
        batch_op.drop_constraint(op.f('ck_qa_revision_one_subject'), type_='check')
        batch_op.create_check_constraint(op.f('ck_qa_revision_one_subject'), sa.text(ONE_OF_THREE))


def downgrade():
    op.execute('DELETE FROM qa_revision WHERE comment_id IS NOT NULL')
    with op.batch_alter_table('qa_revision', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_qa_revision_one_subject'), type_='check')
        batch_op.create_check_constraint(op.f('ck_qa_revision_one_subject'), sa.text(ONE_OF_TWO))
        batch_op.drop_constraint(
            batch_op.f('fk_qa_revision_comment_id_qa_comment'), type_='foreignkey'
        )
        batch_op.drop_index(batch_op.f('ix_qa_revision_comment_id'))
        batch_op.drop_column('comment_id')

    with op.batch_alter_table('qa_comment', schema=None) as batch_op:
        batch_op.drop_column('edited_at')
