"""What every language shares: emoji and emoticons, the score's scale and its labels."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field

# Valence of emoji and emoticons, on the lexicons' -4..+4 scale. English text is scored by VADER,
# which reads emoji and emoticons itself; this table serves the Italian scorer.
EMOTICONS: dict[str, float] = {
    ":)": 1.8,
    ":-)": 1.8,
    ":]": 1.6,
    "=)": 1.6,
    ":D": 2.2,
    ":-D": 2.2,
    "xD": 2.0,
    "XD": 2.0,
    ";)": 1.4,
    ";-)": 1.4,
    ":P": 1.2,
    "<3": 2.5,
    ":(": -1.9,
    ":-(": -1.9,
    ":'(": -2.4,
    ">:(": -2.6,
    ":/": -1.1,
    ":-/": -1.1,
    ":|": -0.6,
    "</3": -2.4,
}
EMOJI: dict[str, float] = {
    "😀": 2.0,
    "😃": 2.1,
    "😄": 2.2,
    "😁": 2.1,
    "😊": 2.0,
    "🙂": 1.5,
    "😉": 1.4,
    "😍": 2.8,
    "🥰": 2.8,
    "🤩": 2.7,
    "😎": 1.6,
    "🥳": 2.6,
    "🎉": 2.4,
    "👏": 2.2,
    "👍": 1.8,
    "🙌": 2.2,
    "🙏": 1.4,
    "💪": 1.6,
    "✅": 1.0,
    "❤": 2.5,
    "💙": 2.3,
    "😂": 1.6,
    "🤣": 1.6,
    "😅": 0.3,
    "😞": -2.1,
    "😔": -1.9,
    "😟": -1.8,
    "🙁": -1.6,
    "☹": -1.9,
    "😕": -1.3,
    "😢": -2.2,
    "😭": -2.5,
    "😩": -2.2,
    "😫": -2.2,
    "😤": -2.0,
    "😠": -2.5,
    "😡": -2.8,
    "🤬": -3.0,
    "😱": -1.8,
    "😰": -2.0,
    "😓": -1.5,
    "🙄": -1.8,
    "🤦": -1.8,
    "👎": -1.9,
    "💩": -2.3,
}
_EMOTICON_RE = re.compile(
    r"(?<!\S)(?:"
    + "|".join(re.escape(e) for e in sorted(EMOTICONS, key=len, reverse=True))
    + r")(?!\S)"
)

NORMALISER = 15.0  # VADER's: a sum of valences s becomes s / sqrt(s^2 + 15)
NEUTRAL_BAND = 0.05  # |score| below this is neutral


class Label(enum.StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True)
class Sentiment:
    """A post's mood: ``score`` in [-1, 1], its label, and the words that drove it."""

    score: float
    label: Label
    language: str
    triggers: tuple[str, ...] = field(default_factory=tuple)


def words(text: str) -> frozenset[str]:
    """A set of words written as one string."""
    return frozenset(text.split())


def label_for(score: float) -> Label:
    if score >= NEUTRAL_BAND:
        return Label.POSITIVE
    if score <= -NEUTRAL_BAND:
        return Label.NEGATIVE
    return Label.NEUTRAL


def normalise(total: float) -> float:
    """A sum of valences squashed into [-1, 1]."""
    if total == 0:
        return 0.0
    return max(-1.0, min(1.0, total / math.sqrt(total * total + NORMALISER)))


def pictographs(text: str) -> tuple[list[tuple[str, float]], str]:
    """The emoji and emoticons of a text with their valences, and the text without them."""
    found: list[tuple[str, float]] = []

    def emoticon(match: re.Match[str]) -> str:
        found.append((match.group(0), EMOTICONS[match.group(0)]))
        return " "

    text = _EMOTICON_RE.sub(emoticon, text)
    rest: list[str] = []
    for char in text:
        if char in EMOJI:
            found.append((char, EMOJI[char]))
            rest.append(" ")
        else:
            rest.append(char)
    return found, "".join(rest)
