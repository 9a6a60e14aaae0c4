"""pulse: quick course surveys staff open, and the students' anonymous answers

Revision ID: 0027_pulse
Revises: 0026_roster_resume
Create Date: 2026-11-26 15:00:00

Two new tables: ``pulse_survey`` (one question on a 1-5 scale, open for some days) and
``pulse_answer`` (one per student and pulse; staff read figures only, never who answered).
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0027_pulse"
down_revision = "0026_roster_resume"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pulse_survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=200), nullable=False),
        sa.Column("allow_comments", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("opened_by", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"], ["course.id"],
            name=op.f("fk_pulse_survey_course_id_course"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"], ["member.id"],
            name=op.f("fk_pulse_survey_opened_by_member"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulse_survey")),
    )
    op.create_index(
        "ix_pulse_survey_course_opened", "pulse_survey", ["course_id", "opened_at"], unique=False
    )
    op.create_table(
        "pulse_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pulse_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["course.id"],
            name=op.f("fk_pulse_answer_course_id_course"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"],
            name=op.f("fk_pulse_answer_member_id_member"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pulse_id"], ["pulse_survey.id"],
            name=op.f("fk_pulse_answer_pulse_id_pulse_survey"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulse_answer")),
        sa.UniqueConstraint(
            "pulse_id", "member_id", name=op.f("uq_pulse_answer_pulse_id_member_id")
        ),
    )
    op.create_index("ix_pulse_answer_member", "pulse_answer", ["member_id"], unique=False)


def downgrade():
    op.drop_index("ix_pulse_answer_member", table_name="pulse_answer")
    op.drop_table("pulse_answer")
    op.drop_index("ix_pulse_survey_course_opened", table_name="pulse_survey")
    op.drop_table("pulse_survey")
