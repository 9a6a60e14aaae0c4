"""Sentiment benchmark: accuracy and macro-F1 of the scorer on the labelled forum posts.

Run from the repository root: .venv/bin/python -m bench.sentiment [--errors]

For each language it scores tests/community/sentiment/data/<lang>.csv (gold labels written by
hand, see README.md there) and prints, per part of the set (dev: looked at while tuning the
lexicon and rules; test: only measured), accuracy and macro-F1 of the scorer, and in the same run
the baseline that always answers the most frequent label of the dev part. It also prints the
scorer's speed (posts per second, the language given and detected).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lti_tool.community.sentiment.evaluation import load, majority_baseline, measure
from lti_tool.community.sentiment.scoring import score

DATA = Path(__file__).resolve().parent.parent / "tests" / "community" / "sentiment" / "data"
LANGUAGES = ("en", "it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list the misclassified posts")
    args = parser.parse_args()

    print(
        f"{'lang':4} {'part':5} {'n':>4}  {'accuracy':>8} {'macro-F1':>8}  "
        f"{'baseline acc':>12} {'baseline F1':>11}  {'lang detected':>13}"
    )
    for lang in LANGUAGES:
        examples = load(DATA / f"{lang}.csv")
        dev = [e for e in examples if e.split == "dev"]
        for part, chosen in (
            ("dev", dev),
            ("test", [e for e in examples if e.split == "test"]),
            ("all", examples),
        ):
            result = measure(chosen, lambda text, lang=lang: score(text, lang).label.value)
            base = majority_baseline(chosen, dev)
            detected = sum(score(e.text).language == lang for e in chosen) / len(chosen)
            print(
                f"{lang:4} {part:5} {result.n:4}  {result.accuracy:8.3f} {result.macro_f1:8.3f}"
                f"  {base.accuracy:12.3f} {base.macro_f1:11.3f}  {detected:13.3f}"
            )
            if args.errors and part != "all":
                for example, predicted in result.errors:
                    text = " ".join(example.text.split())
                    print(f"     {example.gold:>8} -> {predicted:8} {text}")
    texts = [e.text for lang in LANGUAGES for e in load(DATA / f"{lang}.csv")]
    for _ in range(2):  # warm: lexicons and lemmatiser dictionaries load once per process
        start = time.perf_counter()
        for text in texts:
            score(text)
        elapsed = time.perf_counter() - start
    print(
        f"\nspeed: {len(texts) / elapsed:,.0f} posts/s ({elapsed / len(texts) * 1e3:.2f} ms/post,"
        " language detected)"
    )


if __name__ == "__main__":
    main()
