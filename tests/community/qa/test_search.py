"""Search finds Italian and English questions whatever the word form and accents, ranked."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from lti_tool.community.qa import queries, search, services
from lti_tool.community.qa.models import Question
from lti_tool.courses.models import Platform
from lti_tool.extensions import db

from .conftest import PEOPLE, CourseWorld, make_course


def ask(world: CourseWorld, title: str, body: str = "", who: str = "giulia") -> Question:
    return services.ask(db.session(), world[who], services.QuestionInput(title=title, body=body))


def found(world: CourseWorld, query: str, who: str = "marco") -> list[int]:
    page = queries.list_questions(db.session(), world[who], queries.ListFilters(query=query))
    return [item.id for item in page.items]


def test_prepared_text_is_lemmatised_and_unaccented() -> None:
    assert search.terms("Perché le Domande?") == search.terms("perche le domanda")
    assert search.forms("running") == ("running", "run") and search.forms("runs")[-1] == "run"
    assert search.forms("derivate")[0] == search.forms("derivata")[0] == "derivat"
    assert search.query_terms("come si calcola la derivata") == [
        ("calcol", "calcolar"),
        ("derivat",),
    ]


@pytest.mark.parametrize(
    ("title", "query"),
    [
        ("Perché la derivata di x^2 è 2x?", "perche derivata"),
        ("Perche la derivata di x^2 e 2x?", "perché"),
        ("Ho tante domande sugli esercizi", "domanda esercizio"),
        ("Una domanda sull'esercizio 3", "domande"),
        ("Running the tests fails on my laptop", "run test"),
        ("How to run a simulation", "running simulations"),
        ("Equazioni differenziali del secondo ordine", "equazione differenziale"),
        ("Come si calcolano le derivate parziali?", "calcolare la derivata parziale"),
        ("Esercizio sulle matrici", "esercizi matrice"),
        ("Città e università: accenti nei titoli", "citta universita"),
    ],
)
def test_search_handles_word_forms_and_accents(world: CourseWorld, title: str, query: str) -> None:
    target = ask(world, title)
    ask(world, "Something unrelated entirely", "nothing to see here")
    assert found(world, query) == [target.id]


def test_search_covers_the_text_and_answers(world: CourseWorld) -> None:
    q = ask(world, "Help with exercise", "Il teorema di Rolle non mi è chiaro")
    assert found(world, "teorema rolle") == [q.id]
    services.answer(db.session(), world["prof"], q.id, "Guarda il lemma di Fermat")
    assert found(world, "fermat") == [q.id]


def test_title_matches_rank_above_text_matches(world: CourseWorld) -> None:
    in_text = ask(world, "A question about limits", "see the integrale definito chapter")
    in_title = ask(world, "Integrale definito: come si calcola?", "")
    assert found(world, "integrale definito") == [in_title.id, in_text.id]


def test_ranking_reads_only_the_newest_matches(
    world: CourseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "RANK_POOL", 2)
    ask(world, "Integrale improprio", "")  # the best match, but older than the pool
    ask(world, "Una domanda", "un integrale")
    ask(world, "Aiuto", "che integrale?")
    in_title = ask(world, "Integrale per parti", "")
    newest = ask(world, "Ancora una", "integrale doppio")
    ask(world, "Niente a che vedere", "orari")
    ranked = search.ranked(db.session(), world.course_id, "integrale", limit=2)
    assert ranked is not None
    best = db.session.scalars(select(ranked.c.id).order_by(ranked.c.rank)).all()
    assert best == [in_title.id, newest.id]


def test_duplicate_suggestions_rank_among_their_own_pool(
    world: CourseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Suggestions match any word of a title, so they look further back than a search."""
    dup = ask(world, "Integrale improprio convergente", "")
    newer = [ask(world, f"Domanda {n}", "un integrale qualsiasi") for n in range(18)]
    monkeypatch.setattr(search, "RANK_POOL", 2)
    session = db.session()
    ranked = search.ranked(session, world.course_id, "integrale", limit=2)
    assert ranked is not None
    assert set(session.scalars(select(ranked.c.id))) <= {q.id for q in newer[-2:]}
    typed = "integrale improprio conv"
    monkeypatch.setattr(search, "SUGGEST_POOL", 20)
    assert [s.id for s in search.similar_questions(session, world.course_id, typed)] == [dup.id]
    monkeypatch.setattr(search, "SUGGEST_POOL", 2)  # 15 newest matches (3 x 5 suggestions)
    assert search.similar_questions(session, world.course_id, typed) == []


def test_search_ignores_deleted_questions_and_odd_input(world: CourseWorld) -> None:
    q = ask(world, "Serie di Taylor e resto")
    assert found(world, 'taylor" OR "resto') == [q.id]  # quotes and operators are just words
    assert found(world, "NEAR(taylor) * ^ -") == []  # no such words: nothing, not an error
    assert found(world, "!!!") == []
    services.delete_question(db.session(), world["giulia"], q.id)
    assert found(world, "taylor") == []


def test_duplicates_are_suggested_from_a_title_being_typed(world: CourseWorld) -> None:
    dup = ask(world, "Come si calcola la derivata di una funzione composta?")
    ask(world, "Orari del ricevimento", "quando è il ricevimento?")
    session = db.session()
    similar = search.similar_questions(session, world.course_id, "calcolo derivate funzioni comp")
    assert [s.id for s in similar] == [dup.id]
    assert search.similar_questions(session, world.course_id, "ricevimento orario")[0].title == (
        "Orari del ricevimento"
    )
    assert search.similar_questions(session, world.course_id, "la") == []
    assert search.similar_questions(session, world.course_id, "pizza margherita napoli") == []


def _other_course(world: CourseWorld) -> CourseWorld:
    return make_course(db.session.get(Platform, world.platform_id), "course-2", PEOPLE)


def test_a_course_never_finds_another_courses_questions(world: CourseWorld) -> None:
    """Whole words and prefixes (duplicate suggestions while typing) stay in their course."""
    other = _other_course(world)
    mine = ask(world, "Derivata di una funzione composta", "la regola della catena")
    theirs = ask(other, "Derivata parziale", "funzione di due variabili", who="marco")
    session = db.session()
    assert found(world, "derivata funzione") == [mine.id]
    assert found(other, "derivata funzione") == [theirs.id]
    assert found(other, "catena") == [] and found(world, "variabili") == []

    def prefixed(course: CourseWorld, query: str) -> list[int]:
        ranked = search.ranked(session, course.course_id, query, limit=5, prefix_last=True)
        assert ranked is not None
        return list(session.scalars(select(ranked.c.id)))

    assert prefixed(world, "regola cat") == [mine.id] and prefixed(other, "regola cat") == []
    assert prefixed(other, "deriv") == [theirs.id] and prefixed(world, "var") == []
    typed = "derivata funzione comp"
    assert [s.id for s in search.similar_questions(session, world.course_id, typed)] == [mine.id]
    assert search.similar_questions(session, other.course_id, "regola della cat") == []


def test_a_course_prefix_never_spells_another_courses_word() -> None:
    """Course 1's "2x" and course 12's "x" are different tokens, and no token of one course
    starts with another's prefix."""
    assert search.index_text(1, "2x") != search.index_text(12, "x")
    one, twelve = search.course_prefix(1), search.course_prefix(12)
    assert not twelve.startswith(one) and not one.startswith(twelve)
    assert search.index_text(3, "my_var è") == "c3xmy c3xvar c3xe"  # a token per piece


def test_ranking_in_a_course_ignores_other_courses(world: CourseWorld) -> None:
    """How common a word is elsewhere does not rank a course's questions (bm25's IDF is counted
    per course on SQLite; PostgreSQL's ts_rank has none)."""
    other = _other_course(world)
    for n in range(8):
        ask(other, f"Limite notevole {n}", who="marco")
    serie, limite = ask(world, "Serie"), ask(world, "Limite")  # alike: the newest first
    ranked = search.ranked(db.session(), world.course_id, "serie limite", limit=5, any_term=True)
    assert ranked is not None
    best = db.session.scalars(select(ranked.c.id).order_by(ranked.c.rank, ranked.c.id.desc()))
    assert best.all() == [limite.id, serie.id]


def test_underscored_words_are_found_by_their_pieces(world: CourseWorld) -> None:
    q = ask(world, "Errore in my_function", "")
    assert found(world, "function") == [q.id] and found(world, "my_function") == [q.id]
    session = db.session()
    assert [s.id for s in search.similar_questions(session, world.course_id, "errore my_func")] == [
        q.id
    ]


def test_search_results_go_on_over_pages_and_filters(world: CourseWorld) -> None:
    """The second page of results continues the first; a filter keeps ranking among matches."""
    asked = [ask(world, f"Derivata numero {n}", "la derivata di una funzione") for n in range(5)]
    ask(world, "Something unrelated entirely", "nothing to see here")
    session, marco = db.session(), world["marco"]
    filters = queries.ListFilters(query="derivata")
    first = queries.list_questions(session, marco, filters, page=1, per_page=2)
    second = queries.list_questions(session, marco, filters, page=2, per_page=2)
    last = queries.list_questions(session, marco, filters, page=3, per_page=2)
    shown = [i.id for p in (first, second, last) for i in p.items]
    assert sorted(shown) == sorted(q.id for q in asked)
    assert first.has_next and second.has_next and not last.has_next
    newest = queries.ListFilters(query="derivata", sort=queries.Sort.NEWEST)
    assert [i.id for i in queries.list_questions(session, marco, newest, 2, 2).items] == [
        asked[2].id,
        asked[1].id,
    ]


def _pg_index(world: CourseWorld) -> dict[int, tuple[int, str]]:
    """PostgreSQL's search table: question id -> (course, vector) ({} on SQLite)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return {}
    rows = db.session.execute(
        text("SELECT question_id, course_id, search_vector::text FROM qa_question_search")
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def test_the_index_follows_edits_answers_and_deletions(world: CourseWorld) -> None:
    session, giulia = db.session(), world["giulia"]
    q = ask(world, "Limite notevole del seno", "non capisco il passaggio")
    other = ask(world, "Serie armonica", "diverge?")
    assert found(world, "seno") == [q.id]
    pg = _pg_index(world)
    assert not pg or (set(pg) == {q.id, other.id} and pg[q.id][0] == world.course_id)

    services.edit_question(
        session, giulia, q.id, services.QuestionInput(title="Limite notevole del coseno", body="")
    )
    assert found(world, "seno") == [] and found(world, "coseno") == [q.id]
    assert found(world, "passaggio") == []  # the old text left the index
    services.answer(session, world["prof"], q.id, "Usa il confronto asintotico")
    assert found(world, "asintotico") == [q.id]
    pg = _pg_index(world)
    assert not pg or ("'asintotic'" in pg[q.id][1] and "'sen'" not in pg[q.id][1])

    services.delete_question(session, giulia, q.id)
    assert found(world, "coseno") == []
    assert set(_pg_index(world)) <= {other.id}  # a deleted question leaves PostgreSQL's table
    session.delete(session.get(Question, other.id))  # rows removed outright: theirs go too
    session.commit()
    assert found(world, "armonica") == [] and _pg_index(world) == {}
