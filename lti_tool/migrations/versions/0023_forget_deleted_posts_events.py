"""engagement: deleted posts earn their authors nothing, in data written before that rule too

Revision ID: 0023_forget_deleted_posts_events
Revises: 0022_job_rerun
Create Date: 2026-11-26 12:45:00

Deleting a question, answer, comment or group post now takes back its author's participation
events on it (writing it, the votes and endorsements it received), so that asking and deleting
earns no grade points. Posts deleted before that change still held theirs: this removes them
(what others did on such a post stays theirs) and drops the stored figures of finished weeks,
which the dashboard computes again when asked. Data only: nothing to undo on downgrade.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0023_forget_deleted_posts_events"
down_revision = "0022_job_rerun"
branch_labels = None
depends_on = None

# subject_type of the events -> the table of the posts it names
POSTS = {
    "qa_question": "qa_question",
    "qa_answer": "qa_answer",
    "qa_comment": "qa_comment",
    "groups_post": "groups_post",
}


def upgrade():
    for subject_type, table in POSTS.items():
        op.execute(
            f"""
            DELETE FROM engagement_event
            WHERE subject_type = '{subject_type}'
              AND EXISTS (
                SELECT 1 FROM {table} AS post
                WHERE post.id = engagement_event.subject_id
                  AND post.author_id = engagement_event.member_id
                  AND post.deleted_at IS NOT NULL
              )
            """
        )
    op.execute("DELETE FROM engagement_week")


def downgrade():
    pass
