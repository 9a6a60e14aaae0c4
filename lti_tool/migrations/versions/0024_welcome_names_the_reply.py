"""welcome: a welcome's event and notification name the reply, in data written before too

Revision ID: 0024_welcome_names_the_reply
Revises: 0023_forget_deleted_posts_events
Create Date: 2026-11-26 13:10:00

A welcome's participation event and the notification it sends now name the reply (so that a
reply moderators hide leaves the notification and earns nothing) instead of the introduction.
This re-keys those written before: the event to the reply its author wrote at that very moment,
the notification to the author's latest reply on that introduction made by then. Rows with no
such reply are left as they were. Nothing to undo on downgrade: both forms are read.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0024_welcome_names_the_reply"
down_revision = "0023_forget_deleted_posts_events"
branch_labels = None
depends_on = None

_EVENT_REPLY = """
    SELECT reply.id FROM welcome_reply AS reply
    WHERE reply.introduction_id = engagement_event.subject_id
      AND reply.course_id = engagement_event.course_id
      AND reply.author_id = engagement_event.member_id
      AND reply.created_at = engagement_event.created_at
"""
_NOTIFICATION_REPLY = """
    SELECT reply.id FROM welcome_reply AS reply
    WHERE reply.introduction_id = notification.subject_id
      AND reply.course_id = notification.course_id
      AND reply.author_id = notification.actor_id
      AND reply.created_at <= notification.created_at
"""


def upgrade():
    op.execute(
        f"""
        UPDATE engagement_event
        SET subject_type = 'welcome_reply',
            subject_id = ({_EVENT_REPLY} ORDER BY reply.id LIMIT 1)
        WHERE kind = 'welcome' AND subject_type = 'welcome_introduction'
          AND EXISTS ({_EVENT_REPLY})
        """
    )
    op.execute(
        f"""
        UPDATE notification
        SET subject_type = 'welcome_reply',
            subject_id = ({_NOTIFICATION_REPLY} ORDER BY reply.created_at DESC, reply.id DESC LIMIT 1)
        WHERE kind = 'welcome' AND subject_type = 'welcome_introduction'
          AND EXISTS ({_NOTIFICATION_REPLY})
        """
    )


def downgrade():
    pass
