"""grades: AGS line items, rubrics, score ledger

Revision ID: 0008_grades
Revises: 0007_kudos
Create Date: 2026-11-25 18:15:00

Placeholder reserved so parallel work keeps one linear history; filled in by its feature.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_grades'
down_revision = '0007_kudos'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
