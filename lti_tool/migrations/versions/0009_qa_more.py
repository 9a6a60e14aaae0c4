"""qa: comment history, search tuning

Revision ID: 0009_qa_more
Revises: 0008_grades
Create Date: 2026-11-25 18:15:00

Placeholder reserved so parallel work keeps one linear history; filled in by its feature.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_qa_more'
down_revision = '0008_grades'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
