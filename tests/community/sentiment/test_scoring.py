"""The scorer: negation, intensifiers, Italian forms and lemmas, emoji, code left out."""

from __future__ import annotations

import pytest

from lti_tool.community.sentiment.scoring import detect_language, language_of, score
from lti_tool.community.sentiment.signals import Label, Sentiment


@pytest.mark.parametrize(
    ("text", "language", "label"),
    [
        ("Questa lezione è utile.", "it", Label.POSITIVE),
        ("Questa lezione non è utile.", "it", Label.NEGATIVE),
        ("Non è stata per niente utile.", "it", Label.NEGATIVE),
        ("Non male!", "it", Label.POSITIVE),
        ("Niente male, davvero.", "it", Label.POSITIVE),
        ("Male, molto male.", "it", Label.NEGATIVE),
        ("Nessun problema, tutto chiaro.", "it", Label.POSITIVE),
        ("La spiegazione è poco chiara.", "it", Label.NEGATIVE),
        ("Non vedo l'ora di iniziare!", "it", Label.POSITIVE),
        ("Non ce la faccio più.", "it", Label.NEGATIVE),
        ("This lecture is useful.", "en", Label.POSITIVE),
        ("This lecture is not useful.", "en", Label.NEGATIVE),
        ("Not bad at all.", "en", Label.POSITIVE),
        ("How do I submit the assignment?", "en", Label.NEUTRAL),
        ("Dove trovo le slide?", "it", Label.NEUTRAL),
    ],
)
def test_negation_flips_the_label(text: str, language: str, label: Label) -> None:
    assert score(text, language).label == label


def test_negated_words_are_shown_with_their_negation() -> None:
    assert score("Questa lezione non è utile.", "it").triggers == ("non utile",)
    assert score("This lecture is not useful.", "en").triggers == ("not useful",)


def test_italian_double_negation_counts_once() -> None:
    once = score("Non funziona.", "it").score
    assert once < 0
    assert score("Non funziona mai.", "it").score == pytest.approx(once)


@pytest.mark.parametrize(
    ("plain", "stronger", "language"),
    [
        ("La lezione è chiara.", "La lezione è molto chiara.", "it"),
        ("La lezione è chiara.", "La lezione è chiarissima.", "it"),
        ("Esercizio difficile.", "Esercizio davvero difficile.", "it"),
        ("Esercizio difficile.", "Esercizio DIFFICILE.", "it"),
        ("Grazie", "Grazie!!!", "it"),
        ("The notes are clear.", "The notes are extremely clear.", "en"),
    ],
)
def test_intensifiers_strengthen(plain: str, stronger: str, language: str) -> None:
    weak, strong = score(plain, language), score(stronger, language)
    assert weak.label == strong.label != Label.NEUTRAL
    assert abs(strong.score) > abs(weak.score)


def test_softeners_weaken() -> None:
    assert 0 > score("Un po' confuso.", "it").score > score("Confuso.", "it").score


@pytest.mark.parametrize(
    ("text", "trigger"),
    [
        ("Sono delusa.", "delusa"),  # feminine form of the entry "deluso"
        ("Mi è piaciuto tanto!", "piaciuto"),  # participle of "piacere"
        ("Le dispense sono utilissime", "utilissime"),  # superlative of "utile"
        ("I tutor sono gentilissimi", "gentilissimi"),
        ("Perché è cosí difficile", "difficile"),  # accents typed either way
    ],
)
def test_italian_forms_reach_their_lemma(text: str, trigger: str) -> None:
    assert trigger in score(text, "it").triggers


def test_after_but_counts_more() -> None:
    assert score("Il corso è bello ma troppo difficile.", "it").label == Label.NEGATIVE
    assert score("Il corso è difficile ma bellissimo.", "it").label == Label.POSITIVE


@pytest.mark.parametrize(
    ("text", "label"),
    [("Fatto 😊", Label.POSITIVE), ("Fatto :(", Label.NEGATIVE), ("Ok 👍🎉", Label.POSITIVE)],
)
def test_emoji_and_emoticons_count(text: str, label: Label) -> None:
    assert score(text, "it").label == label


def test_code_and_formulas_are_not_scored() -> None:
    post = (
        "Ecco il mio codice:\n\n```python\nraise ValueError('terribile, pessimo, odio')\n```\n\n"
        "e la riga `errore_orribile = True` con $\\text{disastro}$. Cosa fa?"
    )
    result = score(post, "it")
    assert result.label == Label.NEUTRAL and result.triggers == ()
    english = "My code:\n\n    print('awful terrible hate')\n\nWhat does it print?"
    assert score(english, "en").label == Label.NEUTRAL


def test_markdown_emphasis_and_link_text_are_scored() -> None:
    assert "pessimo" in score("Il video è **pessimo**, vedi [qui](https://x.org)", "it").triggers


def test_neutral_posts_have_no_triggers() -> None:
    assert score("A che ora inizia il ricevimento?", "it").triggers == ()


def test_score_stays_in_range() -> None:
    text = "ottimo " * 400 + "!!!!!"
    assert score(text, "it").score <= 1
    assert score("terrible " * 400, "en").score >= -1


@pytest.mark.parametrize(
    ("locale", "language"),
    [("it", "it"), ("it-IT", "it"), ("it_CH", "it"), ("en-GB", "en"), ("fr", None), (None, None)],
)
def test_language_of_a_locale(locale: str | None, language: str | None) -> None:
    assert language_of(locale) == language


def test_the_text_wins_over_a_wrong_locale() -> None:
    italian = "Non riesco a capire come si fa l'esercizio della settimana"
    assert detect_language(italian, "en-US") == "it"
    assert detect_language("I can't understand how to do this exercise", "it") == "en"
    assert score(italian, "en-US").language == "it"


@pytest.mark.parametrize(
    "text",
    [
        "Die Lösung ist falsch, die Aufgabe ist ein Witz",  # "die" is no English word here
        "Kein Problem, alles gut",
        "Je mange du pain avec mon ami",  # nor is "pain"
        "Hola, no entiendo nada",
        "Não entendo nada, isso é difícil",
    ],
)
def test_a_post_in_another_language_is_not_scored(text: str) -> None:
    assert score(text, "it") == Sentiment(score=0.0, label=Label.NEUTRAL, language="")


def test_english_and_italian_keep_their_words_that_look_foreign() -> None:
    assert score("I will die if this exam is so hard").label == Label.NEGATIVE
    assert score("This is a pain, the course is terrible").language == "en"
    assert score("Non ho capito niente, è un corso pessimo", "it").label == Label.NEGATIVE


def test_the_locale_breaks_ties() -> None:
    assert detect_language("Ok", "it") == "it"
    assert detect_language("Ok", "en") == "en"
    assert detect_language("Ok") == "en"
