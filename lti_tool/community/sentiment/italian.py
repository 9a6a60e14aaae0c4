"""Italian sentiment: Bottega's own lexicon, simplemma lemmas and rules for the words around.

How a text is scored (the rules follow VADER's published design, written anew for Italian):

1. emoji and emoticons are taken out and scored from ``signals.EMOJI``/``EMOTICONS``;
2. the rest is split into words; a few idioms are read as one unit ("non vedo l'ora");
3. each word is looked up as written, then as its simplemma lemma, then without an absolute
   superlative ending ("utilissimo" -> "utile", a stronger valence);
4. the valence grows with an intensifier just before it ("molto", "davvero", "troppo") and
   shrinks with a softener ("un po'", "abbastanza"); a word in capitals in a mixed-case text
   is stronger;
5. a negation up to three words before, in the same clause, flips and dampens it: "non è utile"
   is negative, "non male" mildly positive. Italian doubles negations ("non ... mai",
   "non ... per niente") without cancelling them, so several count once. "poco" without "un"
   negates too ("poco chiaro");
6. before "ma" / "però" a clause counts half, after it one and a half times;
7. exclamation marks push the total further from zero; the sum is squashed into [-1, 1].
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import simplemma

from lti_tool.community.sentiment.signals import normalise, pictographs, words

NEGATORS = frozenset(
    words("non né mai nessuno nessuna nessun niente nulla neanche nemmeno neppure senza mica")
    | {"affatto", "manco", "per niente", "per nulla"}
)
INTENSIFIERS = {
    "molto": 0.3,
    "tanto": 0.3,
    "davvero": 0.3,
    "veramente": 0.3,
    "proprio": 0.25,
    "troppo": 0.3,
    "super": 0.3,
    "estremamente": 0.35,
    "incredibilmente": 0.35,
    "assolutamente": 0.35,
    "completamente": 0.3,
    "totalmente": 0.3,
    "decisamente": 0.3,
    "particolarmente": 0.25,
    "parecchio": 0.25,
    "talmente": 0.3,
    "così": 0.2,
    "sempre": 0.15,
    "più": 0.15,
    "sacco": 0.3,  # "un sacco"
    "tantissimo": 0.4,
    "moltissimo": 0.4,
}
SOFTENERS = {
    "po": -0.3,  # "un po'"
    "abbastanza": -0.2,
    "piuttosto": -0.1,
    "quasi": -0.2,
    "leggermente": -0.3,
    "appena": -0.2,
    "relativamente": -0.2,
}
CONTRAST = frozenset({"ma", "però", "tuttavia", "eppure"})
CLAUSE_END = frozenset(".;:,!?()")
# Several words read as one: (words, valence).
IDIOMS: tuple[tuple[tuple[str, ...], float | None], ...] = (
    (("non", "vedo", "l", "ora"), 2.2),
    (("non", "vediamo", "l", "ora"), 2.2),
    (("non", "ce", "la", "faccio"), -2.2),
    (("non", "ce", "la", "faccio", "più"), -2.6),
    (("nessuna", "risposta"), -1.5),
    (("di", "niente"), 0.0),
    (("di", "nulla"), 0.0),
    (("niente", "di", "che"), -0.8),
    (("tutto", "a", "posto"), 1.4),
    (("per", "fortuna"), 1.2),
    (("per", "favore"), 0.0),
    (("mi", "dispiace"), -0.6),
    (
        ("grazie", "a"),
        0.0,
    ),  # "grazie a te" is thanks, "grazie al ritardo" is not: let context speak
)
# Several words read as one word with no valence of its own (negators above).
PHRASES: tuple[tuple[tuple[str, ...], float | None], ...] = (
    (("per", "niente"), None),
    (("per", "nulla"), None),
)
NEGATION_SCALAR = -0.74  # VADER's: a negated word keeps three quarters of its strength, flipped
POCO_SCALAR = -0.6
CAPS_BOOST = 0.733
EXCLAMATION_BOOST = 0.292
WINDOW = 3
_SUPERLATIVE = re.compile(r"^(\w{3,}?)issim[oaie]$")
_WORD = re.compile(r"[^\W\d_]+|[.;:,!?()]")


@dataclass(frozen=True)
class _Token:
    text: str  # as written
    word: str  # lower case
    valence: float | None = None  # an idiom's own valence (None: look the word up)


def _lexicon_path() -> str:
    return str(resources.files("lti_tool.community.sentiment") / "data" / "lexicon_it.tsv")


@lru_cache(maxsize=1)
def lexicon() -> tuple[dict[str, float], dict[str, float]]:
    """(forms, lemmas): exact forms, and valences by lemma (read once per process)."""
    forms: dict[str, float] = {}
    lemmas: dict[str, float] = {}
    with open(_lexicon_path(), encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            word, value = line.split("\t")
            valence = float(value)
            if word.startswith("="):
                forms[word[1:]] = valence
                continue
            forms[word] = valence
            lemmas[word] = valence
    # Then the lemmas of the entries, where no entry of its own says otherwise.
    for word, valence in list(lemmas.items()):
        lemmas.setdefault(_lemma(word), valence)
    return forms, lemmas


@lru_cache(maxsize=20_000)
def _lemma(word: str) -> str:
    return str(simplemma.lemmatize(word, lang="it")).casefold()


def _unaccent(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def valence_of(word: str) -> tuple[float, bool] | None:
    """A word's valence and whether it is an absolute superlative, or None if it carries none."""
    forms, lemmas = lexicon()
    for candidate in (word, _lemma(word)):
        if candidate in forms:
            return forms[candidate], False
        if candidate in lemmas:
            return lemmas[candidate], False
    match = _SUPERLATIVE.match(word)
    if match:
        stem = match.group(1)
        for base in (stem + "o", stem + "e", stem + "a", _lemma(stem + "o")):
            if base in lemmas:
                return lemmas[base], True
    plain = _unaccent(word)
    if plain != word and plain in lemmas:  # "perchè" typed for "perché" and the like
        return lemmas[plain], False
    return None


def _tokens(text: str) -> list[_Token]:
    text = text.replace("\u2019", "'").replace("`", "'")
    raw = [_Token(w, w.casefold()) for w in _WORD.findall(text)]
    tokens: list[_Token] = []
    i = 0
    while i < len(raw):
        for idiom, valence in IDIOMS + PHRASES:
            n = len(idiom)
            if tuple(t.word for t in raw[i : i + n]) == idiom:
                joined = " ".join(t.text for t in raw[i : i + n])
                tokens.append(_Token(joined, " ".join(idiom), valence))
                i += n
                break
        else:
            tokens.append(raw[i])
            i += 1
    return tokens


def _modifier(tokens: list[_Token], i: int, valence: float) -> tuple[float, str | None]:
    """The intensity added by the words before ``tokens[i]``, and the negator found, if any."""
    added = 0.0
    negator: str | None = None
    for distance in range(1, WINDOW + 1):
        j = i - distance
        if j < 0:
            break
        word = tokens[j].word
        if word in CLAUSE_END or word in CONTRAST:
            break
        damping = 1.0 - 0.05 * (distance - 1)
        if word in INTENSIFIERS:
            added += INTENSIFIERS[word] * damping
        elif word in SOFTENERS:
            if word == "po" and (j == 0 or tokens[j - 1].word != "un"):
                continue
            added += SOFTENERS[word] * damping
        elif word == "poco" and (j == 0 or tokens[j - 1].word != "un"):
            negator = negator or word
        elif word in NEGATORS:
            negator = word  # the farthest negator of the clause is shown ("non ... per niente")
    direction = 1.0 if valence > 0 else -1.0
    return added * direction, negator


def score_italian(text: str) -> tuple[float, list[tuple[str, float]]]:
    """The score in [-1, 1] and each scored word or symbol with its contribution."""
    found, rest = pictographs(text)
    tokens = _tokens(rest)
    letters = [t.text for t in tokens if t.text.isalpha()]
    mixed_case = any(not w.isupper() for w in letters)
    contributions: list[tuple[str, float, int]] = []  # (shown as, valence, token index)
    for i, token in enumerate(tokens):
        word = token.word
        if token.valence is not None:
            if token.valence:
                contributions.append((token.text, token.valence, i))
            continue
        if (
            word in NEGATORS
            or word in INTENSIFIERS
            or word in SOFTENERS
            or word == "poco"
            or word in CLAUSE_END
        ):
            continue
        found_valence = valence_of(word)
        if found_valence is None or found_valence[0] == 0:
            continue
        valence, superlative = found_valence
        direction = 1.0 if valence > 0 else -1.0
        if superlative and word not in lexicon()[0]:
            valence += 0.6 * direction
        if mixed_case and token.text.isupper() and len(token.text) > 1:
            valence += CAPS_BOOST * direction
        added, negator = _modifier(tokens, i, valence)
        valence += added
        shown = token.text
        if negator is not None:
            valence *= POCO_SCALAR if negator == "poco" else NEGATION_SCALAR
            shown = f"{negator} {token.text}"
        contributions.append((shown, valence, i))
    # "ma" / "però": the clause after the last one weighs more than the one before.
    contrast_at = max((i for i, t in enumerate(tokens) if t.word in CONTRAST), default=None)
    weighted: list[tuple[str, float]] = []
    for shown, valence, i in contributions:
        if contrast_at is not None:
            valence *= 0.5 if i < contrast_at else 1.5
        weighted.append((shown, valence))
    weighted.extend(found)
    total = sum(v for _, v in weighted)
    if total:
        bangs = min(rest.count("!"), 4)
        total += bangs * EXCLAMATION_BOOST * (1 if total > 0 else -1)
    return normalise(total), weighted
