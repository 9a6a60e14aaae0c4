"""sentiment: per-post scores and weekly course mood

Revision ID: 0010_sentiment
Revises: 0009_qa_more
Create Date: 2026-11-25 18:15:00

Placeholder reserved so parallel work keeps one linear history; filled in by its feature.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_sentiment'
down_revision = '0009_qa_more'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
