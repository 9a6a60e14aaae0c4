"""groups: group sets, groups, memberships, joining surveys, group space

Revision ID: 0006_groups
Revises: 0005_jobs
Create Date: 2026-11-25 18:15:00

Placeholder reserved so parallel work keeps one linear history; filled in by its feature.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_groups'
down_revision = '0005_jobs'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
