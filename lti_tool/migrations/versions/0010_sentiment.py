"""sentiment: per-post scores and weekly course mood

Revision ID: 0010_sentiment
Revises: 0009_qa_more
Create Date: 2026-11-25 18:15:00

One row per scored Q&A post (question, answer, comment) with its ISO week, see
lti_tool/community/sentiment/models.py. Existing posts are scored by
``lti_tool.community.sentiment.services.rescore``, not here (a migration stays schema-only).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_sentiment'
down_revision = '0009_qa_more'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sentiment_post',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('triggers', sa.JSON(), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['member.id'], name=op.f('fk_sentiment_post_author_id_member'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_sentiment_post_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['qa_question.id'], name=op.f('fk_sentiment_post_question_id_qa_question'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sentiment_post')),
    sa.UniqueConstraint('subject_type', 'subject_id', name=op.f('uq_sentiment_post_subject_type_subject_id'))
    )
    with op.batch_alter_table('sentiment_post', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sentiment_post_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_sentiment_post_course_posted', ['course_id', 'posted_at'], unique=False)
        batch_op.create_index('ix_sentiment_post_course_week', ['course_id', 'week_start', 'score'], unique=False)
        batch_op.create_index(batch_op.f('ix_sentiment_post_question_id'), ['question_id'], unique=False)


def downgrade():
    with op.batch_alter_table('sentiment_post', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sentiment_post_question_id'))
        batch_op.drop_index('ix_sentiment_post_course_week')
        batch_op.drop_index('ix_sentiment_post_course_posted')
        batch_op.drop_index(batch_op.f('ix_sentiment_post_author_id'))

    op.drop_table('sentiment_post')
