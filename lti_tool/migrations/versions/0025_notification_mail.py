"""notifications by e-mail: when each was mailed, and who wants them

Revision ID: 0025_notification_mail
Revises: 0024_welcome_names_the_reply
Create Date: 2026-11-26 14:30:00

notification.emailed_at: when the notification went out in an e-mail (or was passed over for
one); the notifications already there count as mailed, so that turning the feature on sends no
history. member_preference: a member's choices (no row: the defaults; notification e-mails on
until they turn them off on My profile or with the link in an e-mail). A partial index keeps the sweep for what is due to the
notifications neither read nor mailed.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0025_notification_mail"
down_revision = "0024_welcome_names_the_reply"
branch_labels = None
depends_on = None

_DUE = sa.text("emailed_at IS NULL AND read_at IS NULL")


def upgrade():
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE notification SET emailed_at = created_at")
    op.create_index(
        "ix_notification_mail_due",
        "notification",
        ["created_at"],
        unique=False,
        sqlite_where=_DUE,
        postgresql_where=_DUE,
    )
    op.create_table(
        "member_preference",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "mail_notifications", sa.Boolean(), server_default=sa.true(), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_member_preference_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_preference")),
    )


def downgrade():
    op.drop_table("member_preference")
    op.drop_index("ix_notification_mail_due", table_name="notification")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("emailed_at")
