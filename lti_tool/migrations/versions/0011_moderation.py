"""moderation: flag queue states, hidden posts, warnings, audit trail, code of conduct

Revision ID: 0011_moderation
Revises: 0010_sentiment
Create Date: 2026-11-25 18:15:00

Placeholder reserved so parallel work keeps one linear history; filled in by its feature.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_moderation'
down_revision = '0010_sentiment'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
