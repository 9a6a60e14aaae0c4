"""The forming algorithm's promises, checked on generated inputs (hypothesis)."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from lti_tool.community.groups.assignment import (
    Question,
    Strategy,
    balanced_groups,
    group_sizes,
    random_groups,
    smallest_group,
)

people_lists = st.lists(st.integers(min_value=1, max_value=10_000), max_size=300, unique=True)
sizes = st.integers(min_value=2, max_value=12)
seeds = st.integers(min_value=0, max_value=2**31)


@st.composite
def surveys(draw: st.DrawFn) -> tuple[list[int], list[Question], dict[int, dict[int, int]]]:
    people = draw(people_lists)
    questions = [
        Question(qid, draw(st.sampled_from(list(Strategy))))
        for qid in range(1, draw(st.integers(0, 3)) + 1)
    ]
    answers: dict[int, dict[int, int]] = {}
    for person in people:
        given_answers = {}
        for q in questions:
            option = draw(st.integers(-1, 3))
            if option >= 0:  # -1: did not answer
                given_answers[q.id] = option
        answers[person] = given_answers
    return people, questions, answers


def _check_shape(groups: list[list[int]], people: list[int], size: int) -> None:
    placed = [p for group in groups for p in group]
    assert sorted(placed) == sorted(people)  # everyone, exactly once
    if not people:
        assert groups == []
        return
    assert len(groups) == math.ceil(len(people) / size)
    lengths = [len(g) for g in groups]
    assert max(lengths) - min(lengths) <= 1
    assert max(lengths) <= size


@settings(max_examples=200, deadline=None)
@given(people_lists, sizes, seeds)
def test_random_groups_place_everyone_once_in_even_groups(
    people: list[int], size: int, seed: int
) -> None:
    _check_shape(random_groups(people, size, seed), people, size)


@settings(max_examples=200, deadline=None)
@given(surveys(), sizes, seeds)
def test_balanced_groups_place_everyone_once_in_even_groups(
    survey: tuple[list[int], list[Question], dict[int, dict[int, int]]], size: int, seed: int
) -> None:
    people, questions, answers = survey
    groups = balanced_groups(people, size, seed, questions, answers)
    _check_shape(groups, people, size)
    assert groups == balanced_groups(list(reversed(people)), size, seed, questions, answers)


@settings(max_examples=100, deadline=None)
@given(people_lists, sizes, seeds)
def test_the_same_seed_gives_the_same_groups(people: list[int], size: int, seed: int) -> None:
    assert random_groups(people, size, seed) == random_groups(people[::-1], size, seed)


def test_another_seed_gives_other_groups() -> None:
    people = list(range(1, 101))
    assert random_groups(people, 5, 1) != random_groups(people, 5, 2)


@settings(max_examples=200, deadline=None)
@given(people_lists, sizes, seeds, st.integers(2, 5))
def test_a_mix_question_spreads_each_answer_evenly(
    people: list[int], size: int, seed: int, options: int
) -> None:
    answers = {p: {1: p % options} for p in people}
    groups = balanced_groups(people, size, seed, [Question(1, Strategy.MIX)], answers)
    for option in range(options):
        per_group = [sum(1 for p in g if answers[p][1] == option) for g in groups]
        if per_group:
            assert max(per_group) - min(per_group) <= 1


@settings(max_examples=200, deadline=None)
@given(people_lists, sizes, seeds, st.integers(2, 5))
def test_a_match_question_keeps_each_answer_in_as_few_groups_as_possible(
    people: list[int], size: int, seed: int, options: int
) -> None:
    answers = {p: {1: (p * 7) % options} for p in people}
    groups = balanced_groups(people, size, seed, [Question(1, Strategy.MATCH)], answers)
    if not groups:
        return
    smallest = min(len(g) for g in groups)
    counts = Counter(answers[p][1] for p in people)
    for option, count in counts.items():
        holding = sum(1 for g in groups if any(answers[p][1] == option for p in g))
        # A run of `count` consecutive seats spans at most this many groups.
        assert holding <= math.ceil(count / smallest) + 1


def test_balanced_beats_random_on_a_mix_question() -> None:
    people = list(range(100))
    answers = {p: {1: 0 if p < 20 else 1} for p in people}  # 20 experienced, 80 new
    groups = balanced_groups(people, 5, 3, [Question(1, Strategy.MIX)], answers)
    assert all(sum(1 for p in g if answers[p][1] == 0) == 1 for g in groups)


def test_group_sizes_never_exceed_the_size_and_differ_by_one() -> None:
    assert group_sizes(11, 5) == [4, 4, 3]
    assert group_sizes(10, 5) == [5, 5]
    assert group_sizes(0, 5) == []


def test_a_late_joiner_goes_to_the_smallest_then_best_fitting_group() -> None:
    assert smallest_group({10: 5, 11: 4, 12: 4}) == 11
    assert smallest_group({10: 5, 11: 4, 12: 4}, fit={12: 2}) == 12
