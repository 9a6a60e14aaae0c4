"""Accuracy and macro-F1 of the scorer on a labelled set (used by bench/sentiment.py and tests)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lti_tool.community.sentiment.signals import Label

LABELS = tuple(label.value for label in Label)


@dataclass(frozen=True)
class Example:
    text: str
    gold: str
    split: str


@dataclass(frozen=True)
class Result:
    n: int
    accuracy: float
    macro_f1: float
    errors: tuple[tuple[Example, str], ...]


def load(path: Path) -> list[Example]:
    """A CSV with the columns label, split, text."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    examples = [Example(r["text"], r["label"], r["split"]) for r in rows]
    unknown = {e.gold for e in examples} - set(LABELS)
    if unknown:
        raise ValueError(f"{path}: unknown labels {sorted(unknown)}")
    return examples


def measure(examples: Sequence[Example], predict: Callable[[str], str]) -> Result:
    predicted = [predict(e.text) for e in examples]
    return _result(examples, predicted)


def majority_baseline(examples: Sequence[Example], reference: Sequence[Example]) -> Result:
    """Always the most frequent label of ``reference`` (the tuning part of the set)."""
    majority = Counter(e.gold for e in reference).most_common(1)[0][0]
    return _result(examples, [majority] * len(examples))


def _result(examples: Sequence[Example], predicted: Sequence[str]) -> Result:
    n = len(examples)
    correct = sum(e.gold == p for e, p in zip(examples, predicted, strict=True))
    f1s = []
    for label in LABELS:
        tp = sum(e.gold == label and p == label for e, p in zip(examples, predicted, strict=True))
        fp = sum(e.gold != label and p == label for e, p in zip(examples, predicted, strict=True))
        fn = sum(e.gold == label and p != label for e, p in zip(examples, predicted, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    errors = tuple((e, p) for e, p in zip(examples, predicted, strict=True) if e.gold != p)
    return Result(n, correct / n if n else 0.0, sum(f1s) / len(f1s), errors)
