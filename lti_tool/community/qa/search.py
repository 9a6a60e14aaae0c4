"""Full-text search of a course's questions, in Italian and English, on SQLite and PostgreSQL.

Both databases index the same prepared text, and queries go through the same steps:

1. words are lower-cased and stripped of accents ("Perché" -> "perche");
2. each word is indexed under up to two forms: a light Italian stem of the word itself (final
   vowels off: "domande", "domanda" -> "domand"; "derivate", "derivata" -> "derivat") and the
   same stem of its dictionary form from simplemma, Italian first then English ("calcolato",
   "calcola" -> "calcolare" -> "calcolar"; "running", "runs" -> "run");
3. a query word matches when any of its forms does.

simplemma ships its dictionaries inside the package (no download at run time); they load on
first use (about a second and some 70 MB per process).

The prepared text (``qa_question.search_title`` and ``search_body``, from ``index_text``) holds
every form with its course in front: ``c12xderivat`` is the form ``derivat`` in course 12
(``course_prefix``; the ``x`` ends the number, so one course's prefix and form never spell
another's: ``c1x2x`` is course 1's ``2x``, ``c12xx`` course 12's ``x``). A form the tokenizers
split at ``_`` gets the prefix on each piece (``my_var`` -> ``c12xmy c12xvar``), so that no
indexed token is without a course.

* SQLite: FTS5 table ``qa_question_fts`` (porter on top of unicode61, remove_diacritics 2),
  ranked with bm25, the title weighted above the text. The index keeps courses apart: a query
  asks for the course's own terms only (``"c12xderivat"``), so a search never reads another
  course's rows, and each term's document frequency (bm25's IDF) is counted within its course.
  (A course word in every title and ``"qacourseN" AND (...)`` did the same until migration
  0020, but bm25 then walked that word's posting list, every question of the course, for its
  IDF and the AND walked it again: 42% of the FTS5 statement's instructions, 27% for common
  words, on a 20,000-question course.) The prefix is consonants and digits, so porter stems a
  prefixed form like the form itself, but for 43 of 131,659 forms tried (two-letter stems such
  as "ace", "abe": porter's consonant-vowel-consonant rule then sees the prefix's last letter);
  index and queries go through the same tokenizer, so those still match each other.
* PostgreSQL: the table ``qa_question_search`` (a tsvector per question, 'simple' configuration,
  title weight A, text weight B, filled by a trigger on ``qa_question``) with a GIN index, ranked
  with ts_rank; the course is its ``course_id`` column. The trigger takes the course prefixes
  off before building the vector (migration 0020), so its lexemes and ``_tsquery`` are the bare
  forms: prefixed lexemes would make the vectors 15% larger (1.60 kB against 1.39 compressed in
  ``bench.qa``'s course), and the pool is read from this narrow table along the course's index
  (for common words) or its GIN index, not from the question rows (2.8 kB each on average).

Ranking reads every match it ranks, so it is limited to the newest ``RANK_POOL`` matches of a
query (``SUGGEST_POOL`` for duplicate suggestions): a search for the course's commonest words
costs a few milliseconds, not a hundred.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import simplemma
from sqlalchemy import Float, Integer, String, Subquery, bindparam, select, text
from sqlalchemy.orm import Session, undefer

from lti_tool.community.moderation.services import not_hidden
from lti_tool.community.qa.models import Question

LANGUAGES = ("it", "en")
WORD_RE = re.compile(r"\w+", re.UNICODE)
MAX_WORD = 40
MAX_QUERY_TERMS = 12
# Words too common to say anything about a question (compared after accent stripping).
_STOP_WORDS = """
    a ad al alla alle allo ai agli all che chi ci come con cosa da dal dalla dalle dei degli del
    della delle dello di e ed era gli ha ho i il in io la le lo ma mi ne nel nella nelle non o
    per perche piu quale quando questo questa se si sia sono su sul sulla ti tra tu un una uno
    va vi essere avere fare
    an and are as at be but by can do does for from has have how i if in into is it its me my
    no not of on or so that the their there this to was what when where which who why will with
    you your
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


def _unaccent(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def light_stem(word: str) -> str:
    """Italian inflection off an unaccented word: final vowels, and the h of -che/-ghe."""
    for _ in range(2):  # esercizio -> esercizi -> eserciz
        if len(word) < 5 or word[-1] not in "aeiou":
            break
        word = word[:-1]
        if word[-1] != "i":
            break
    if len(word) >= 5 and word.endswith(("ch", "gh")):  # amiche -> amic, like amica
        word = word[:-1]
    return word


@lru_cache(maxsize=200_000)
def forms(word: str) -> tuple[str, ...]:
    """The indexed forms of one word (one or two)."""
    word = word.casefold()
    if not (word.isalpha() and len(word) > 2):
        return (_unaccent(word),)
    own = light_stem(_unaccent(word))
    lemma = light_stem(_unaccent(simplemma.lemmatize(word, lang=LANGUAGES).casefold()))
    return (own,) if lemma == own else (own, lemma)


def _words(text_: str) -> list[str]:
    return [w for w in WORD_RE.findall(text_ or "") if len(w) <= MAX_WORD]


def terms(text_: str) -> list[str]:
    """The indexed forms of a text's words, in order."""
    return [f for w in _words(text_) for f in forms(w)]


def course_prefix(course_id: int) -> str:
    """What every indexed form of a course starts with (``c12x`` for course 12)."""
    return f"c{course_id}x"


def _in_course(prefix: str, form: str) -> list[str]:
    """A form as a course's index stores it: one token per piece the tokenizers see."""
    return [prefix + piece for piece in form.split("_") if piece]


def index_text(course_id: int, *texts: str) -> str:
    """What the search index stores for some texts of a course's question (its title, or its
    text and answers)."""
    prefix = course_prefix(course_id)
    return " ".join(t for part in texts for f in terms(part) for t in _in_course(prefix, f))


def query_terms(query: str) -> list[tuple[str, ...]]:
    """The distinct, meaningful words of what someone typed, each as its forms (stop words
    dropped unless nothing else is left)."""
    seen: dict[tuple[str, ...], None] = {}
    meaningful: dict[tuple[str, ...], None] = {}
    for word in _words(query):
        group = forms(word)
        seen.setdefault(group, None)
        if _unaccent(word.casefold()) not in STOP_WORDS:
            meaningful.setdefault(group, None)
    chosen = list(meaningful or seen)
    return chosen[:MAX_QUERY_TERMS]


def _fts5_query(
    course_id: int, groups: list[tuple[str, ...]], any_term: bool, prefix_last: bool
) -> str:
    prefix = course_prefix(course_id)
    parts = []
    for i, group in enumerate(groups):
        star = "*" if prefix_last and i == len(groups) - 1 else ""
        # Forms are \w+ only: no quote can appear inside. A form with no token ("___") is an
        # empty phrase, which matches nothing (and takes no star).
        phrases = (" ".join(_in_course(prefix, f)) for f in group)
        parts.append("(" + " OR ".join(f'"{p}"{star if p else ""}' for p in phrases) + ")")
    return (" OR " if any_term else " AND ").join(parts)


def _tsquery(groups: list[tuple[str, ...]], any_term: bool, prefix_last: bool) -> str:
    parts = []
    for i, group in enumerate(groups):
        star = ":*" if prefix_last and i == len(groups) - 1 else ""
        parts.append("(" + " | ".join(f + star for f in group) + ")")
    return (" | " if any_term else " & ").join(parts)


# Relevance is computed among at most this many matches, the newest: a query that matches
# more questions than this says little about any one of them, and ranking every match of a
# common word (bm25 or ts_rank over thousands of rows) costs tens of milliseconds. 300 is 15
# pages of results. Every word of a search must match, so this many matches means common words;
# on PostgreSQL the pool is most of what a search costs the database (the bench's 16 searches
# of a 20,000-question course: 39.5 ms with 1,000 against 19.0 with 300, EXPLAIN ANALYZE).
RANK_POOL = 300
# Duplicate suggestions match any word of a title being typed, so many more questions match:
# they rank among more of the newest ones (a title is typed once per question asked; the list's
# search is what students run over and over).
SUGGEST_POOL = 1000
_TSQUERY_RE = re.compile(r"[\w:*|&() ]+")


# SQLite: the same statement for every query (the words are a parameter), built once. bm25 is
# negative, better matches lower; the title counts four times the text. FTS5 reads matches in
# rowid (= id) order, newest first here, and stops at the pool's size: bm25 scores only those.
_FTS5_RANKED = (
    text(
        "SELECT id, rank FROM (SELECT rowid AS id, bm25(qa_question_fts, 4.0, 1.0) AS rank "
        "FROM qa_question_fts WHERE qa_question_fts MATCH :fts_match "
        "ORDER BY rowid DESC LIMIT :fts_pool) ORDER BY rank, id DESC LIMIT :fts_limit"
    )
    .columns(id=Integer, rank=Float)
    .subquery("ranked")
)


# PostgreSQL: the pool is read newest first along the course's index when the words are common,
# or from the GIN index when they are rare. The planner can tell only when it sees the words,
# so the tsquery is rendered into the SQL text at execution (``literal_execute``: a prepared
# statement's generic plan would guess), while the statement itself, like SQLite's, is one
# object for every search: built and compiled once, not per query. Forms are \w+ only, and
# ``ranking`` checks the tsquery before it is rendered.
#
# The course, the pool and the limit are rendered the same way. Since a read-only request ends
# with COMMIT (core/transactions.py), psycopg prepares a statement it has run five times on a
# connection, and PostgreSQL may then plan it once for any parameters: a generic plan for
# "some course, some pool size" read the index the wrong way and cost twice the database CPU
# of a search (9 ms instead of 4 on a 20,000-question course). With nothing left to bind,
# a repeated search keeps its own plan.
_FTS_QUERY = bindparam("fts_query", type_=String(), literal_execute=True)
_FTS_COURSE = bindparam("fts_course", type_=Integer(), literal_execute=True)
_FTS_POOL = bindparam("fts_pool", type_=Integer(), literal_execute=True)
_FTS_LIMIT = bindparam("fts_limit", type_=Integer(), literal_execute=True)
#
# The pool is chosen by row address (ctid) before any vector is ranked: sorting the matches by
# date then carries 6 bytes per row, not the vector. When PostgreSQL gathers the matches from the
# GIN index (words in a tenth of a course, say), carrying the vectors through that sort spilled
# 2,000 decompressed vectors to disk: 12 ms of the database's CPU per search against 3.5 ms
# this way, the same rows in the same order. The ranking then reads the pool's rows by
# address. Both scans run in one statement, under one snapshot, so the addresses hold.
_PG_RANKED = (
    text(
        "SELECT s.question_id AS id, -ts_rank(s.search_vector, to_tsquery('simple', :fts_query)) "
        "AS rank FROM qa_question_search AS s WHERE s.ctid = ANY (ARRAY("
        "SELECT ctid FROM qa_question_search "
        "WHERE course_id = :fts_course AND search_vector @@ to_tsquery('simple', :fts_query) "
        "ORDER BY created_at DESC, question_id DESC LIMIT :fts_pool)) "
        "ORDER BY rank, id DESC LIMIT :fts_limit"
    )
    .bindparams(_FTS_QUERY, _FTS_COURSE, _FTS_POOL, _FTS_LIMIT)
    .columns(id=Integer, rank=Float)
    .subquery("ranked")
)


def shared(subquery: Subquery) -> bool:
    """Whether ``subquery`` (from ``ranking``) is the same for every query (it is, on both
    databases: the words are parameters)."""
    return subquery is _FTS5_RANKED or subquery is _PG_RANKED


def ranking(
    session: Session,
    course_id: int,
    query: str,
    *,
    limit: int,
    any_term: bool = False,
    prefix_last: bool = False,
    pool: int | None = None,
) -> tuple[Subquery, dict[str, Any]] | None:
    """A subquery of (id, rank) for the ``limit`` best matches in a course, lower rank first,
    ranked among the course's ``pool`` (default ``RANK_POOL``) newest matches, and the parameters
    to run it with.

    The subquery is the same object for every query (per database), so that a statement built
    around it can be built once. None when the query has no searchable word. Only the index is read:
    deleted questions are not in it (services.delete_question empties their indexed text).
    """
    groups = query_terms(query)
    if not groups:
        return None
    pool = max(pool or RANK_POOL, limit)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _FTS5_RANKED, {
            "fts_match": _fts5_query(course_id, groups, any_term, prefix_last),
            "fts_pool": pool,
            "fts_limit": limit,
        }
    if dialect == "postgresql":
        tsquery = _tsquery(groups, any_term, prefix_last)
        if not _TSQUERY_RE.fullmatch(tsquery):  # pragma: no cover - forms are \w+
            raise ValueError(f"unexpected search query {tsquery!r}")
        return _PG_RANKED, {
            "fts_query": tsquery,
            "fts_course": course_id,
            "fts_pool": pool,
            "fts_limit": limit,
        }
    raise NotImplementedError(f"search is not written for {dialect}")  # pragma: no cover


def ranked(
    session: Session,
    course_id: int,
    query: str,
    *,
    limit: int,
    any_term: bool = False,
    prefix_last: bool = False,
    pool: int | None = None,
) -> Subquery | None:
    """``ranking`` with its parameters bound into a subquery of its own."""
    found = ranking(
        session,
        course_id,
        query,
        limit=limit,
        any_term=any_term,
        prefix_last=prefix_last,
        pool=pool,
    )
    if found is None:
        return None
    subquery, params = found
    element = subquery.element
    return element.bindparams(**params).subquery("ranked")  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Similar:
    """A question that may already ask what someone is typing."""

    id: int
    title: str
    state: str
    answer_count: int


def _overlap(course_id: int, groups: list[tuple[str, ...]], indexed: Iterable[str]) -> float:
    """The share of query words found among a course's indexed tokens (the last one may be a
    prefix)."""
    if not groups:
        return 0.0
    have, prefix = set(indexed), course_prefix(course_id)

    def found(form: str, last: bool) -> bool:
        tokens = _in_course(prefix, form)
        if not tokens or not all(t in have for t in tokens[:-1]):
            return False
        end = tokens[-1]
        return end in have or (last and any(h.startswith(end) for h in have))

    hits = 0
    for i, group in enumerate(groups):
        if any(found(f, i == len(groups) - 1) for f in group):
            hits += 1
    return hits / len(groups)


def similar_questions(
    session: Session, course_id: int, title: str, *, limit: int = 5, exclude_id: int | None = None
) -> list[Similar]:
    """Likely duplicates of a title being typed: any word matches, ranked, then kept when
    at least half the title's meaningful words appear in the candidate's title (or most of
    them in its text)."""
    groups = query_terms(title)
    if len(groups) < 2 and (not groups or len(groups[0][0]) < 4):
        return []
    sub = ranked(
        session,
        course_id,
        title,
        limit=limit * 3,
        any_term=True,
        prefix_last=True,
        pool=SUGGEST_POOL,
    )
    if sub is None:
        return []
    rows = session.scalars(
        select(Question)
        .join(sub, sub.c.id == Question.id)
        .where(Question.course_id == course_id, Question.deleted_at.is_(None))
        .where(not_hidden("qa_question", Question.id))
        .order_by(sub.c.rank, Question.id.desc())
        .options(undefer(Question.search_title), undefer(Question.search_body))
    ).all()
    found = []
    for question in rows:
        if question.id == exclude_id:
            continue
        score = max(
            _overlap(course_id, groups, question.search_title.split()),
            0.75 * _overlap(course_id, groups, question.search_body.split()),
        )
        if score >= 0.5:
            found.append(
                Similar(question.id, question.title, question.state.value, question.answer_count)
            )
    return found[:limit]
