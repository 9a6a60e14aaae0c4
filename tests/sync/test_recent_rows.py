"""The launch's memory of rows it upserted lately: when an upsert may be skipped."""

from __future__ import annotations

from lti_tool.sync.launch import RecentRows


def test_a_row_is_reused_only_while_fresh_and_unchanged() -> None:
    clock = [0.0]
    rows = RecentRows(ttl=300, clock=lambda: clock[0])
    key = ("course", 1, "ctx-1")
    assert rows.get(key, ("Algebra",)) is None  # never written
    rows.put(key, ("Algebra",), 42)
    assert rows.get(key, ("Algebra",)) == 42
    assert rows.get(key, ("Algebra II",)) is None  # the LMS sent a new title: write it
    clock[0] = 299
    assert rows.get(key, ("Algebra",)) == 42
    assert rows.get(key, ("Algebra",), max_age=60) is None  # a caller that wants fresher
    clock[0] = 300
    assert rows.get(key, ("Algebra",)) is None  # too old for anyone


def test_the_least_recently_used_rows_leave_first() -> None:
    rows = RecentRows(size=2)
    rows.put(("a",), 1, 1)
    rows.put(("b",), 1, 2)
    assert rows.get(("a",), 1) == 1  # "a" used again: "b" is now the oldest
    rows.put(("c",), 1, 3)
    assert [rows.get((k,), 1) for k in "abc"] == [1, None, 3]
    rows.clear()
    assert rows.get(("a",), 1) is None
