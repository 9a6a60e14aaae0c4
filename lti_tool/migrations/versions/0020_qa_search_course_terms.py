"""qa search: every indexed form carries its course (c12xderivat) instead of a course word

Revision ID: 0020_qa_search_course_terms
Revises: 0019_qa_search_table
Create Date: 2026-11-26 07:00:00

Until now a question's indexed title began with a course word (``qacourse12``) and every FTS5
query was ``"qacourse12" AND (...)``: bm25 walked that word's posting list (every question of the
course) to count its document frequency, and the AND walked it again, about half of what a
search cost SQLite on a 20,000-question course. Now each form is stored with its course in
front (``c12xderivat``, see lti_tool/community/qa/search.py), so queries need no course word.

The stored text (qa_question.search_title, search_body) is rewritten from what is stored, in
batches, by the frozen functions below rather than recomputed with the app's search.py: the
forms do not change, only how the index spells them, so this needs neither simplemma (a second
and 70 MB to load, then lemmatising every question, answer by answer) nor today's search code
(a later change to the stemming would otherwise change what this migration writes). The
downgrade is the inverse (a form split at "_" comes back as two tokens, "my var" for "my_var":
both tokenizers split it there anyway).

* SQLite: the update trigger of 0004 is dropped while the rows are rewritten, then made again,
  and the FTS5 index is rebuilt from the new text (and merged into one segment).
* PostgreSQL: the trigger function of 0019 now takes the prefixes off before building the
  vector (the course is qa_question_search.course_id; see search.py), and rewriting the text
  refreshes each vector through it: the same lexemes as before, less the course word.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_qa_search_course_terms'
down_revision = '0019_qa_search_table'
branch_labels = None
depends_on = None

BATCH = 1000

_VECTOR_0019 = (
    "setweight(to_tsvector('simple', coalesce(NEW.search_title, '')), 'A') "
    "|| setweight(to_tsvector('simple', coalesce(NEW.search_body, '')), 'B')"
)
# Each token is "c<course>x<piece>": the course prefix goes, whatever the course.
_UNPREFIXED = r"regexp_replace(coalesce(NEW.{}, ''), '(^| )c[0-9]+x', '\1', 'g')"
_VECTOR_0020 = (
    f"setweight(to_tsvector('simple', {_UNPREFIXED.format('search_title')}), 'A') "
    f"|| setweight(to_tsvector('simple', {_UNPREFIXED.format('search_body')}), 'B')"
)
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION qa_question_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    vector tsvector := {vector};
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
"""
# Migration 0004's trigger, unchanged.
_SQLITE_UPDATE_TRIGGER = """
CREATE TRIGGER qa_question_fts_update AFTER UPDATE OF search_title, search_body
ON qa_question BEGIN
    INSERT INTO qa_question_fts(qa_question_fts, rowid, search_title, search_body)
    VALUES ('delete', old.id, old.search_title, old.search_body);
    INSERT INTO qa_question_fts(rowid, search_title, search_body)
    VALUES (new.id, new.search_title, new.search_body);
END
"""


def _course_terms(course_id, stored, title, live):
    """0019's stored text -> 0020's: the course word goes, each token gets the prefix."""
    tokens = stored.split()
    if title and tokens[:1] == [f"qacourse{course_id}"]:
        tokens = tokens[1:]
    prefix = f"c{course_id}x"
    return " ".join(prefix + piece for t in tokens for piece in t.split("_") if piece)


def _course_word(course_id, stored, title, live):
    """0020's stored text -> 0019's: prefixes off, and a live question's title starts with the
    course word again."""
    prefix = f"c{course_id}x"
    tokens = [t[len(prefix):] if t.startswith(prefix) else t for t in stored.split()]
    if title and live:
        return " ".join([f"qacourse{course_id}", *tokens])
    return " ".join(tokens)


def _rewrite(convert):
    """Every question's stored text through ``convert``, BATCH rows at a time."""
    connection = op.get_bind()
    read = sa.text(
        "SELECT id, course_id, search_title, search_body, deleted_at IS NULL FROM qa_question "
        "WHERE id > :last ORDER BY id LIMIT :batch"
    )
    write = sa.text("UPDATE qa_question SET search_title = :t, search_body = :b WHERE id = :id")
    last = 0
    while rows := connection.execute(read, {"last": last, "batch": BATCH}).all():
        changed = []
        for id_, course_id, title, body, live in rows:
            new_title = convert(course_id, title or "", True, bool(live))
            new_body = convert(course_id, body or "", False, bool(live))
            if (new_title, new_body) != (title, body):
                changed.append({"id": id_, "t": new_title, "b": new_body})
        if changed:
            connection.execute(write, changed)
        last = rows[-1][0]


def _migrate(convert, vector):
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:  # first, so that the rewrite below refreshes every vector through it
        op.execute(_PG_FUNCTION.format(vector=vector))
    else:
        op.execute("DROP TRIGGER qa_question_fts_update")
    _rewrite(convert)
    if not postgres:
        op.execute(_SQLITE_UPDATE_TRIGGER)
        op.execute("INSERT INTO qa_question_fts(qa_question_fts) VALUES ('rebuild')")
        op.execute("INSERT INTO qa_question_fts(qa_question_fts) VALUES ('optimize')")


def upgrade():
    _migrate(_course_terms, _VECTOR_0020)


def downgrade():
    _migrate(_course_word, _VECTOR_0019)
