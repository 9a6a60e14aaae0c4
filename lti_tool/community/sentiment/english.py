"""English sentiment: VADER (vaderSentiment, MIT), whose lexicon ships inside its package.

VADER already handles negation ("not useful"), intensifiers ("really"), "but", capitals,
exclamation marks, emoticons and emoji. Bottega adjusts a few words for a course forum: a plea
for "help" or a "please" is how a neutral question is asked, not a positive feeling, and some
forum words (an "unanswered" question, a "buggy" grader) are missing from the general lexicon.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from vaderSentiment.vaderSentiment import NEGATE, SentimentIntensityAnalyzer, SentiText

from lti_tool.community.sentiment.signals import normalise

FORUM_LEXICON = {
    "help": 0.0,
    "helps": 0.8,
    "please": 0.0,
    "question": 0.0,
    "unanswered": -1.5,
    "understand": 1.0,
    "understood": 1.0,
    "buggy": -1.6,
    "bug": -1.0,
    "outdated": -1.2,
    "overwhelming": -1.8,
    "pointless": -2.0,
    "buffering": -1.0,
    "crashed": -1.6,
    "stressed": -2.0,
    "demotivated": -2.2,
    "unclear": -1.5,
    "lost": -1.5,
    "struggling": -1.8,
    "ignored": -1.9,
    "insane": -1.6,
    "kudos": 2.2,
}


class _Analyzer(SentimentIntensityAnalyzer):
    """VADER that also returns each word's final valence (for the triggers)."""

    def score_valence(self, sentiments: list[float], text: str) -> dict[str, Any]:
        result: dict[str, Any] = super().score_valence(sentiments, text)
        result["words"] = list(zip(SentiText(text).words_and_emoticons, sentiments, strict=False))
        return result


@lru_cache(maxsize=1)
def analyzer() -> SentimentIntensityAnalyzer:
    """VADER with the forum adjustments; its lexicon loads once per process."""
    vader = _Analyzer()
    vader.lexicon.update(FORUM_LEXICON)
    return vader


def score_english(text: str) -> tuple[float, list[tuple[str, float]]]:
    """The score in [-1, 1] and each scored word with its contribution."""
    scores = analyzer().polarity_scores(text)
    words: list[tuple[str, float]] = []
    pairs: list[tuple[str, float]] = scores.get("words", [])
    lexicon = analyzer().lexicon
    for i, (word, valence) in enumerate(pairs):
        if not valence:
            continue
        shown = word
        own = lexicon.get(word.lower())
        if own is not None and own * valence < 0:  # flipped by a negation just before
            before = [w for w, _ in pairs[max(0, i - 3) : i] if w.lower() in NEGATE or "n't" in w]
            if before:
                shown = f"{before[-1]} {word}"
        words.append((shown, float(valence)))
    compound = float(scores["compound"])
    return (compound if words else normalise(0.0)), words
