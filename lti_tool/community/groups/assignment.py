"""Forming groups: a pure function of the people, their survey answers and a seed.

No database here, so that the rules are property-tested on their own (tests use hypothesis):

* every person is placed exactly once;
* there are ``ceil(n / size)`` groups, so none is larger than ``size``, and sizes differ by at
  most one;
* the same input and seed give the same groups.

Balanced forming reads each survey question as "mix" (spread its answers across groups) or
"match" (put people who gave the same answer together). People are first ordered by their
"match" answers, so that each answer's people fill consecutive seats and span as few groups as
possible; within each such run, people sorted by their "mix" answers are dealt round-robin over
the groups the run covers, so that each answer is spread evenly. O(n log n): 10,000 people take
milliseconds.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NO_ANSWER = -1


class Strategy(enum.StrEnum):
    """What a survey question does to the groups."""

    MIX = "mix"
    MATCH = "match"


@dataclass(frozen=True)
class Question:
    """A joining-survey question, as the algorithm needs it."""

    id: int
    strategy: Strategy


def group_sizes(people: int, size: int) -> list[int]:
    """Seats per group: ``ceil(people / size)`` groups whose sizes differ by at most one."""
    if size < 1:
        raise ValueError("group size must be at least 1")
    if people <= 0:
        return []
    count = math.ceil(people / size)
    base, extra = divmod(people, count)
    return [base + 1 if i < extra else base for i in range(count)]


def random_groups(people: Sequence[int], size: int, seed: int) -> list[list[int]]:
    """People shuffled by ``seed`` and dealt into groups of at most ``size``."""
    return balanced_groups(people, size, seed, questions=(), answers={})


def balanced_groups(
    people: Sequence[int],
    size: int,
    seed: int,
    questions: Sequence[Question],
    answers: Mapping[int, Mapping[int, int]],
) -> list[list[int]]:
    """Groups of at most ``size`` that spread "mix" answers and gather "match" answers.

    ``answers`` maps a person to ``{question id: chosen option}``; a missing answer counts as
    an answer of its own. Returns one list of people per group, each sorted.
    """
    unique = sorted(set(people))
    sizes = group_sizes(len(unique), size)
    if not sizes:
        return []
    rng = random.Random(seed)  # noqa: S311 -- reproducible on purpose, not a secret
    rng.shuffle(unique)  # ties below are broken by this seeded order
    match_ids = [q.id for q in questions if q.strategy == Strategy.MATCH]
    mix_ids = [q.id for q in questions if q.strategy == Strategy.MIX]

    def profile(person: int, ids: list[int]) -> tuple[int, ...]:
        given = answers.get(person, {})
        return tuple(given.get(qid, NO_ANSWER) for qid in ids)

    runs: dict[tuple[int, ...], list[int]] = {}
    for person in unique:
        runs.setdefault(profile(person, match_ids), []).append(person)
    # Largest runs first: they fill whole groups; small ones share the last seats.
    ordered_runs = sorted(runs.items(), key=lambda kv: (-len(kv[1]), kv[0]))

    # Seat i of the flat sequence belongs to group seat_group[i].
    seat_group = [g for g, seats in enumerate(sizes) for _ in range(seats)]
    groups: list[list[int]] = [[] for _ in sizes]
    start = 0
    for _key, members in ordered_runs:
        span = range(start, start + len(members))
        start += len(members)
        # Round-robin over the groups this run covers: first seat of each, then the second...
        rank: dict[int, int] = {}
        order = []
        for seat in span:
            group = seat_group[seat]
            order.append((rank.get(group, 0), group))
            rank[group] = rank.get(group, 0) + 1
        order.sort()
        # Python's sort is stable: equal mix answers keep the seeded order.
        members = sorted(members, key=lambda p: profile(p, mix_ids))
        for person, (_round, group) in zip(members, order, strict=True):
            groups[group].append(person)
    return [sorted(group) for group in groups]


def smallest_group(
    counts: Mapping[int, int],
    fit: Mapping[int, int] | None = None,
) -> int:
    """The group a late joiner goes to: the emptiest, then the best ``fit`` (higher is better),
    then the lowest id. ``counts`` maps group id to its current size."""
    if not counts:
        raise ValueError("no group to choose from")
    fit = fit or {}
    return min(counts, key=lambda g: (counts[g], -fit.get(g, 0), g))
