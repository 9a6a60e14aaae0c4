"""qa_answer.endorsed_by_mentor: an answer's badge tells a peer mentor's endorsement from staff's

Revision ID: 0018_mentor_endorsement
Revises: 0017_erasure_subject
Create Date: 2026-11-26 03:20:00

Earlier endorsements are marked as a peer mentor's when the endorser is, in that course, a peer
mentor who is neither a community manager nor staff by a context role the enrolment lists
(Instructor, TeachingAssistant, ContentDeveloper, Administrator, Manager); the rest stay staff's.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_mentor_endorsement'
down_revision = '0017_erasure_subject'
branch_labels = None
depends_on = None

_STAFF_ROLES = ('Instructor', 'TeachingAssistant', 'ContentDeveloper', 'Administrator', 'Manager')


def upgrade():
    # Plain ALTER TABLE on both databases (SQLite adds and drops a column in place: no table copy,
    # which with foreign keys on would cascade into votes and comments).
    op.add_column(
        'qa_answer',
        sa.Column('endorsed_by_mentor', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    roles = "CAST(e.roles AS TEXT)"
    not_staff = " AND ".join(f"{roles} NOT LIKE '%{role}%'" for role in _STAFF_ROLES)
    op.execute(
        "UPDATE qa_answer SET endorsed_by_mentor = true WHERE endorsed AND EXISTS ("
        "SELECT 1 FROM enrolment e WHERE e.member_id = qa_answer.endorsed_by "
        "AND e.course_id = qa_answer.course_id AND e.peer_mentor AND NOT e.community_manager "
        f"AND {not_staff})"
    )


def downgrade():
    op.drop_column('qa_answer', 'endorsed_by_mentor')
