"""qa_question_search: PostgreSQL ranks searches from a narrow side table, not qa_question

Revision ID: 0019_qa_search_table
Revises: 0018_mentor_endorsement
Create Date: 2026-11-26 06:00:00

A search reads its pool (the newest 1,000 matches of a course) and ranks it with ts_rank. With
the tsvector a column of qa_question, that pool read whole question rows (2.8 kB on average, a
1.4 kB vector each). The vector now lives in qa_question_search (question id, course, creation
time, vector) with the same GIN index and a (course, newest first) index for the pool, and the
same trigger function fills it after every write of a question's indexed text (so bulk inserts,
edits, deletions and privacy erasure keep it in step). A deleted question's indexed text is
empty: its row leaves the table. qa_question.search_vector goes, on both databases (on SQLite it
was always empty; the column is dropped in place, no table copy).

The table is hand-made (lti_tool/community/qa/schema.py tells autogenerate to leave it alone).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0019_qa_search_table'
down_revision = '0018_mentor_endorsement'
branch_labels = None
depends_on = None

_VECTOR = (
    "setweight(to_tsvector('simple', coalesce(NEW.search_title, '')), 'A') "
    "|| setweight(to_tsvector('simple', coalesce(NEW.search_body, '')), 'B')"
)
UPGRADE = [
    """
    CREATE TABLE qa_question_search (
        question_id integer NOT NULL,
        course_id integer NOT NULL,
        created_at timestamp with time zone NOT NULL,
        search_vector tsvector NOT NULL,
        CONSTRAINT pk_qa_question_search PRIMARY KEY (question_id),
        CONSTRAINT fk_qa_question_search_question_id_qa_question FOREIGN KEY (question_id)
            REFERENCES qa_question (id) ON DELETE CASCADE
    )
    """,
    # Compressed in the row rather than out of line (TOAST): a quarter of the vectors are over
    # 2 kB even compressed, each out-of-line read costs two more page reads, and a search reads
    # them twice (the match, then ts_rank): 2,800 buffers per common-words search against 1,000.
    "ALTER TABLE qa_question_search ALTER COLUMN search_vector SET STORAGE MAIN",
    """
    INSERT INTO qa_question_search (question_id, course_id, created_at, search_vector)
    SELECT id, course_id, created_at, search_vector FROM qa_question
    WHERE search_vector IS NOT NULL AND search_vector <> ''::tsvector
    """,
    "CREATE INDEX ix_qa_question_search_gin ON qa_question_search USING gin (search_vector)",
    """
    CREATE INDEX ix_qa_question_search_course_created
    ON qa_question_search (course_id, created_at DESC, question_id DESC)
    """,
    "DROP TRIGGER qa_question_search_vector ON qa_question",
    f"""
    CREATE OR REPLACE FUNCTION qa_question_search_vector() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        vector tsvector := {_VECTOR};
    BEGIN
        IF vector = ''::tsvector THEN
            DELETE FROM qa_question_search WHERE question_id = NEW.id;
        ELSE
            INSERT INTO qa_question_search (question_id, course_id, created_at, search_vector)
            VALUES (NEW.id, NEW.course_id, NEW.created_at, vector)
            ON CONFLICT (question_id) DO UPDATE SET course_id = EXCLUDED.course_id,
                created_at = EXCLUDED.created_at, search_vector = EXCLUDED.search_vector;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER qa_question_search_vector
    AFTER INSERT OR UPDATE OF search_title, search_body, course_id, created_at ON qa_question
    FOR EACH ROW EXECUTE FUNCTION qa_question_search_vector()
    """,
    "DROP INDEX ix_qa_question_search_vector",
]
# Migration 0004's objects, refilled from the side table (the same vectors).
DOWNGRADE = [
    "DROP TRIGGER qa_question_search_vector ON qa_question",
    f"""
    CREATE OR REPLACE FUNCTION qa_question_search_vector() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := {_VECTOR};
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER qa_question_search_vector
    BEFORE INSERT OR UPDATE OF search_title, search_body ON qa_question
    FOR EACH ROW EXECUTE FUNCTION qa_question_search_vector()
    """,
    """
    UPDATE qa_question SET search_vector = coalesce((
        SELECT s.search_vector FROM qa_question_search AS s WHERE s.question_id = qa_question.id
    ), ''::tsvector)
    """,
    "CREATE INDEX ix_qa_question_search_vector ON qa_question USING gin (search_vector)",
    "DROP TABLE qa_question_search",
]


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for statement in UPGRADE:
            op.execute(statement)
    op.drop_column('qa_question', 'search_vector')


def downgrade():
    op.add_column(
        'qa_question',
        sa.Column(
            'search_vector',
            sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql'),
            nullable=True,
        ),
    )
    if op.get_bind().dialect.name == 'postgresql':
        for statement in DOWNGRADE:
            op.execute(statement)
