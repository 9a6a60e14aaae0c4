"""Markdown of a post parsed once (``content.render``) against the old three parses.

Run from the repository root: .venv/bin/python -m bench.content [--repeat 5]

Writing a post used to parse its Markdown three times: ``render_markdown`` for the stored HTML,
``mentioned_handles`` for the notifications and ``plain_text`` for their excerpt. ``render``
parses once and returns the three. For each body (an ordinary post, a long one, and the
slowest 20,000 characters known to markdown-it-py: a run of ``[``) this prints the best time of
``--repeat`` runs of each path and the ratio old/new, measured in the same run, after checking
that both paths give the same results.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from lti_tool.community.content import (
    MAX_BODY,
    mentioned_handles,
    plain_text,
    render,
    render_markdown,
)

ORDINARY = """## Recursion and the stack

Thanks @giulia.rossi! I tried the *iterative* version:

```python
def fact(n):
    return 1 if n < 2 else n * fact(n - 1)
```

It still overflows for $n > 1000$; see [the docs](https://docs.python.org/3/) and ask @marco.

- one
- two
"""

BODIES: dict[str, str] = {
    "ordinary post": ORDINARY,
    "long post (20k chars)": (ORDINARY * (MAX_BODY // len(ORDINARY)))[:MAX_BODY],
    "20k '['": "[" * MAX_BODY,
    "20k '*a'": "*a" * (MAX_BODY // 2),
}


def _old(text: str) -> tuple[str, set[str], str]:
    return str(render_markdown(text)), mentioned_handles(text), plain_text(text, 200)


def _new(text: str) -> tuple[str, set[str], str]:
    rendered = render(text)
    return str(rendered.html), set(rendered.mentions), rendered.excerpt(200)


def _best(func: Callable[[str], object], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func(text)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each path (best kept)")
    args = parser.parse_args()

    _old(ORDINARY)  # warm: the parser is built once per process
    print(f"{'body':24} {'three parses ms':>16} {'one parse ms':>13} {'old/new':>8}")
    for name, text in BODIES.items():
        assert _old(text) == _new(text), f"the two paths differ on {name!r}"
        old = _best(_old, text, args.repeat)
        new = _best(_new, text, args.repeat)
        print(f"{name:24} {old * 1e3:16.2f} {new * 1e3:13.2f} {old / new:8.2f}")


if __name__ == "__main__":
    main()
