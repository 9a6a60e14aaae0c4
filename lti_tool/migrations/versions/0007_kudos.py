"""kudos: categories, kudos, badge rules, badges earned, celebration feed

Revision ID: 0007_kudos
Revises: 0006_groups
Create Date: 2026-11-25 18:15:00

Placeholder reserved so parallel work keeps one linear history; filled in by its feature.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_kudos'
down_revision = '0006_groups'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
