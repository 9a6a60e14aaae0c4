"""``score(text, language)``: one post's sentiment, computed offline in English or Italian."""

from __future__ import annotations

import re

from lti_tool.community.content import prose_text
from lti_tool.community.sentiment.english import analyzer, score_english
from lti_tool.community.sentiment.italian import lexicon as italian_lexicon
from lti_tool.community.sentiment.italian import score_italian
from lti_tool.community.sentiment.signals import Sentiment, label_for, words

LANGUAGES = ("en", "it")
MAX_TRIGGERS = 5
MAX_CHARS = 5_000  # a post's first characters say enough about its mood

_STOPWORDS = {
    "en": words(
        "the a an and or but is are was were be been to of in on for with at by from this that"
        " it its i you he she we they my your our their me not no do does did have has had can"
        " could would should will what which who how why where when there here so if just very"
        " thanks thank please any some all about as"
    ),
    "it": words(
        "il lo la i gli le un una uno e ed o ma però è sono era erano essere di del della dei"
        " delle da dal dalla in nel nella su sul sulla per con tra fra che chi come perché dove"
        " quando non mi ti si ci vi ho hai ha abbiamo avete hanno questo questa quello quella"
        " anche molto più grazie qualcuno cosa sto sei siamo"
        " c l dell all nell sull po"
    ),
}
# Common words of languages Bottega cannot score, none of them an English or Italian one: a post
# they clearly lead is left unscored ("die", "pain" or "no" would read as English sentiment).
_OTHER_STOPWORDS = {
    "de": words(
        "der die das den dem des und ist sind nicht ich du er wir ihr ein eine einen einer zu"
        " mit auf für von bei aus auch sich war wie aber oder wenn noch nur schon kein keine"
        " mein dein sehr habe haben bin bitte danke alles gut ja nein"
    ),
    "fr": words(
        "les des du une et est sont je nous vous ils elles pas qui pour dans avec mais ce cette"
        " au aux mon suis très merci bonjour rien comprends"
    ),
    "es": words(
        "el los las y es está están que por para muy gracias pero yo tengo tiene hay esto esta"
        " ese eso nada también hola entiendo"
    ),
    "pt": words("os não em um uns é isso você muito obrigado obrigada eu mas dos das está olá"),
}
_WORDS = re.compile(r"[^\W\d_]+")


def language_of(locale: str | None) -> str | None:
    """``"it"`` for ``it``, ``it-IT``, ``it_CH``...; None for a language Bottega cannot score."""
    if not locale:
        return None
    code = locale.replace("_", "-").split("-")[0].casefold()
    return code if code in LANGUAGES else None


def detect_language(text: str, hint: str | None = None) -> str:
    """The post's language: its common words and sentiment words of each language counted, the
    hint breaking ties.

    A member's or course's locale is a hint, not a fact (an Italian student may run an English
    LMS): the text wins when it clearly leans the other way.
    """
    hint = language_of(hint)
    words = [w.casefold() for w in _WORDS.findall(text)]
    italian_forms, italian_lemmas = italian_lexicon()
    english = analyzer().lexicon
    hits = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    for word in words:  # a sentiment word only one of the lexicons knows
        in_italian = word in italian_forms or word in italian_lemmas
        if in_italian != (word in english):
            hits["it" if in_italian else "en"] += 1
    best = max(LANGUAGES, key=lambda lang: hits[lang])
    other = "it" if best == "en" else "en"
    if hits[best] == hits[other]:
        return hint or "en"
    if hint and hint != best and hits[best] < max(2, 2 * hits[hint]):
        return hint
    return best


def other_language(text: str) -> bool:
    """Whether a text is clearly in a language Bottega cannot score (German, French, Spanish,
    Portuguese...): at least two of its common words, more than of English or Italian."""
    counted = [w.casefold() for w in _WORDS.findall(text)]
    known = max(sum(w in stop for w in counted) for stop in _STOPWORDS.values())
    other = max(sum(w in stop for w in counted) for stop in _OTHER_STOPWORDS.values())
    return other >= 2 and other > known


def score(text: str, language: str | None = None) -> Sentiment:
    """The sentiment of a Markdown post; ``language`` is ``"en"``, ``"it"`` or a locale hint.

    Markdown syntax, code and formulas are left out first: they are not the writer's voice.
    A post in another language is not scored: neutral, with ``language`` empty.
    """
    prose = prose_text(text[: MAX_CHARS * 2])[:MAX_CHARS]
    if other_language(prose):
        return Sentiment(score=0.0, label=label_for(0.0), language="")
    lang = detect_language(prose, language)
    value, words = score_italian(prose) if lang == "it" else score_english(prose)
    value = round(value, 4)
    label = label_for(value)
    sign = 1 if value > 0 else -1
    driving = sorted(
        (w for w in words if w[1] * sign > 0 and label != "neutral"), key=lambda w: -abs(w[1])
    )
    triggers: list[str] = []
    for shown, _valence in driving:
        if shown not in triggers:
            triggers.append(shown)
        if len(triggers) == MAX_TRIGGERS:
            break
    return Sentiment(score=value, label=label, language=lang, triggers=tuple(triggers))
